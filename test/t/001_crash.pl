
# Crash safety.  A storm of eight pgbench clients blocks, unblocks, deletes,
# generates, updates, rotates (with and without grace), ends the grace of,
# bulk-blocks and verifies keys; the server is cut down in the middle of it,
# first by an immediate shutdown, then by SIGKILL of the postmaster.  After
# each restart (crash recovery) every invariant of keys and audit_log holds:
# a change and its audit row exist together or not at all.
#
# fsync stays on (PostgreSQL::Test::Cluster turns it off) so that the run is
# the one a real server has.  Killing processes does not lose the kernel's
# page cache, so what is proven here is that recovery from the WAL gives
# back consistent tables, not that the disk keeps what fsync wrote.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StormCommon;
use Test::More;
use Time::HiRes qw(usleep);

my $NSLOTS = 10_000;

# reap the postmaster we kill ourselves (see StormCommon)
become_subreaper();

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
fsync = on
synchronous_commit = on
full_page_writes = on
track_commit_timestamp = on
log_statement = none
});
$node->start;

setup_storm($node, $NSLOTS);
my $checked = invariants_hold($node, "$NSLOTS new keys");

my $transactions = 0;
my $crashes = 0;

foreach my $crash ('immediate shutdown', 'SIGKILL of the postmaster')
{
	my $rows = $node->safe_psql('postgres',
		'SELECT count(*) FROM keymgmt.audit_log');
	my $storm = start_storm($node, nslots => $NSLOTS, time => 120);

	# let it run until it has made a thousand changes
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while ($node->safe_psql('postgres',
			'SELECT count(*) FROM keymgmt.audit_log') < $rows + 1000)
	{
		BAIL_OUT('the storm makes no changes') if time > $deadline;
		usleep(200_000);
	}

	# what has committed by now must survive
	my ($committed, $max_id) = split /\|/,
	  $node->safe_psql('postgres',
		'SELECT count(*), max(id) FROM keymgmt.audit_log');

	my $log_offset = -s $node->logfile;
	if ($crash eq 'immediate shutdown')
	{
		$node->stop('immediate');
	}
	else
	{
		kill9_and_wait($node);
	}
	$crashes++;

	my ($rc, $processed, $out, $err) = finish_storm($storm);
	isnt($rc, 0, "$crash: pgbench lost its server");
	# a wrapper re-raises what a caller need not expect: pgbench shows it
	# as an ERROR (the crash ends sessions with WARNING or FATAL)
	unlike($err, qr/\bERROR:/,
		"$crash: no transaction of the storm failed before the crash");
	$transactions += $processed;
	note "$crash: pgbench processed $processed transactions before it";

	start_after_crash($node);
	ok( $node->log_contains(
			qr/database system was not properly shut down; automatic recovery in progress/,
			$log_offset),
		"$crash: the restart ran crash recovery");

	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) >= $committed FROM keymgmt.audit_log WHERE id <= $max_id"
		),
		't',
		"$crash: the audit rows committed before the crash are all there");

	$checked += invariants_hold($node, "after $crash");
	storm_numbers($node, "after $crash");

	# what the wrappers caught: only what SPEC.md says a caller must expect
	my $errors = error_counts($node);
	is( join(',', grep { !/^(42704|23505)$/ } sort keys %$errors),
		'', "$crash: the storm saw only 42704 and 23505, no anomaly");
	is(messages_leak($node), '0',
		"$crash: no message shows a raw key or a whole token");
}

note "crashes injected: $crashes; transactions pgbench processed: $transactions; "
  . "invariant checks: $checked";

$node->stop;
done_testing();


# Load.  The storm of 001_crash.pl (see StormCommon) without a crash, for a
# fixed number of transactions: first in READ COMMITTED, then in REPEATABLE
# READ.  Every transaction must complete, the tables must satisfy every
# invariant, and the only errors a caller sees are those SPEC.md promises:
#	READ COMMITTED:  42704 for a key that is gone, also one deleted by a
#					 transaction that committed while we waited for its lock;
#					 23505 for a taken alias
#	REPEATABLE READ: also 40001 for a key that changed after our snapshot,
#					 and so never 42704 for a key our snapshot still saw

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StormCommon;
use Test::More;

my $NSLOTS = 10_000;
my $CLIENTS = 8;
my $PER_CLIENT = 1500;

my $node = PostgreSQL::Test::Cluster->new('load');
$node->init;
# no crash here: commits need not wait for the disk
$node->append_conf(
	'postgresql.conf', q{
synchronous_commit = off
track_commit_timestamp = on
log_statement = none
});
$node->start;

setup_storm($node, $NSLOTS);

my %expected = (
	'read committed' => [qw(23505 42704)],
	'repeatable read' => [qw(23505 40001 42704)],);
my $checked = 0;
my $transactions = 0;

foreach my $isolation ('read committed', 'repeatable read')
{
	$node->safe_psql('postgres', 'TRUNCATE storm.errors');
	my $audit = $node->safe_psql('postgres',
		'SELECT coalesce(max(id), 0) FROM keymgmt.audit_log');

	(my $value = $isolation) =~ s/ /\\ /g;
	my $storm = start_storm(
		$node,
		clients => $CLIENTS,
		nslots => $NSLOTS,
		transactions => $PER_CLIENT,
		env => { PGOPTIONS => "-c default_transaction_isolation=$value" });
	my ($rc, $processed, $out) = finish_storm($storm);
	is($rc, 0, "$isolation: pgbench ran to the end");
	is($processed, $CLIENTS * $PER_CLIENT,
		"$isolation: every transaction completed");
	like($out, qr/number of failed transactions: 0 /,
		"$isolation: no transaction failed");
	$transactions += $processed;

	# what the wrappers caught, by SQLSTATE
	my $errors = error_counts($node);
	note "$isolation: caught "
	  . join(', ', map { "$_ x $errors->{$_}" } sort keys %$errors);
	is(join(',', sort keys %$errors),
		join(',', @{ $expected{$isolation} }),
		"$isolation: the SQLSTATEs seen are exactly "
		  . join(', ', @{ $expected{$isolation} }));
	is(messages_leak($node), '0',
		"$isolation: no message shows a raw key or a whole token");
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) FROM storm.errors WHERE isolation <> '$isolation'"),
		'0',
		"$isolation: the storm ran in $isolation");

	my $raced = $node->safe_psql('postgres',
		"SELECT count(*) FROM storm.errors WHERE sqlstate = '42704' AND seen");
	if ($isolation eq 'read committed')
	{
		# the key was there when the transaction looked, and gone when it
		# got the lock: the race keymgmt exists to close, seen as 42704
		cmp_ok($raced, '>', 0,
			"$isolation: 42704 for keys deleted concurrently ($raced)");
	}
	else
	{
		is($raced, '0',
			"$isolation: never 42704 for a key the snapshot saw (40001 instead)"
		);
	}

	# plausible: the storm changed keys in every way
	my %changes = map { split /\|/ } split /\n/,
	  $node->safe_psql(
		'postgres', qq{
		SELECT action, count(*) FROM keymgmt.audit_log
		 WHERE object_type = 'key' AND id > $audit GROUP BY action});
	note "$isolation: changes "
	  . join(', ', map { "$_ $changes{$_}" } sort keys %changes);
	foreach my $action (qw(created blocked unblocked deleted))
	{
		cmp_ok($changes{$action} // 0, '>', 0, "$isolation: keys were $action");
	}

	$checked += invariants_hold($node, "after $isolation");
	storm_numbers($node, "after $isolation");
}

note "transactions: $transactions; invariant checks: $checked";

$node->stop;
done_testing();

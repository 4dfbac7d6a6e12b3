
# The change feed under fire.  The storm of StormCommon (8 writers:
# generate, block, unblock, delete, update, rotate, end_grace, bulk) runs on
# a primary with a streaming standby, while a follower (feed_follower.py)
# follows keymgmt.changes() from the cursor it saves and is:
#	- killed with SIGKILL and started again, several times,
#	- cut off by pg_terminate_backend of its connection,
#	- left running through an immediate stop and restart of the server;
# and while a long transaction that holds a transaction id delays the feed.
# Afterwards the set of changes the follower saw equals the audit log's
# rows after its first cursor: nothing missed (duplicates, which a kill
# between writing and saving its cursor causes, are counted and reported).
# On the standby, after replay, a follower from the same first cursor sees
# the same set, verify_key answers as on the primary, and a change is 25006.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StormCommon;
use Test::More;
use Time::HiRes qw(usleep);

my $NSLOTS = 2000;
my $python = '/usr/bin/python3';
my $follower_script = "$FindBin::RealBin/feed_follower.py";

my $primary = PostgreSQL::Test::Cluster->new('feed_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf(
	'postgresql.conf', q{
log_statement = none
restart_after_crash = on
max_connections = 40
track_commit_timestamp = on
});
$primary->start;
setup_storm($primary, $NSLOTS);
# a key the storm does not touch, for the long transaction
$primary->safe_psql('postgres',
	"SELECT 1 FROM keymgmt.generate_key(key_alias => 'long-tx', actor => 'storm')");

$primary->backup('feed');
my $standby = PostgreSQL::Test::Cluster->new('feed_standby');
$standby->init_from_backup($primary, 'feed', has_streaming => 1);
$standby->start;

my $start = $primary->safe_psql('postgres', 'SELECT keymgmt.current_cursor()');
my $start_txid = (split /:/, $start)[2];

# A follower with its state (cursor, seen) in a directory of its own.
sub follower_state
{
	my $dir = PostgreSQL::Test::Utils::tempdir;
	PostgreSQL::Test::Utils::append_to_file("$dir/cursor", $start);
	return $dir;
}

sub start_follower
{
	my ($node, $dir, @opts) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ $python, $follower_script, $node->connstr('postgres'), $dir, @opts ],
		'>', \$out, '2>', \$err);
	return { run => $h, out => \$out, err => \$err };
}

sub kill_follower
{
	my ($f) = @_;
	$f->{run}->signal('KILL');
	$f->{run}->finish;
	$f->{dead} = 1;
	return ${ $f->{err} };
}

# seen ids: (distinct, lines)
sub seen_ids
{
	my ($dir) = @_;
	my %seen;
	my $lines = 0;
	if (-e "$dir/seen")
	{
		foreach (split /\n/, slurp_file("$dir/seen"))
		{
			$seen{$_}++;
			$lines++;
		}
	}
	return (\%seen, $lines);
}

my $state = follower_state();
my $follower = start_follower($primary, $state);
my $kills = 0;
# a test that dies half-way must not leave the follower running
END
{
	local $?;
	eval { kill_follower($follower) } if $follower && !$follower->{dead};
}

# ------------------------------------------------------------ the storm
my $storm = start_storm($primary, clients => 8, nslots => $NSLOTS, time => 14);
for (1 .. 3)
{
	sleep 2;
	kill_follower($follower);
	$kills++;
	$follower = start_follower($primary, $state);
}
$primary->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'feed follower'");
is( $primary->safe_psql(
		'postgres',
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'feed follower'"
	),
	'1',
	'the follower\'s connection is terminated');

# a long transaction that holds an xid and changes a key
my $long = $primary->background_psql('postgres');
my $long_xid = $long->query_safe('BEGIN; SELECT pg_current_xact_id();');
$long->query_safe(
	"SELECT blocked FROM keymgmt.block_key((SELECT key_id::text FROM keymgmt.keys WHERE key_alias = 'long-tx'), 'storm')"
);
sleep 3;
# while it is open the feed holds back everything from its id on
my ($max_txid, $cursor, $rows) = (0, $start, 0);
for (;;)
{
	my @page = split /\n/,
	  $primary->safe_psql('postgres',
		"SELECT cursor FROM keymgmt.changes('$cursor')");
	last unless @page;
	$rows += @page;
	$cursor = $page[-1];
	my $t = (split /:/, $cursor)[2];
	$max_txid = $t if $t > $max_txid;
	last if @page < 1000;
}
cmp_ok($rows, '>', 0, 'the feed has the storm\'s earlier changes');
cmp_ok($max_txid, '<', $long_xid,
	'while the long transaction is open the feed stops before its id');
$long->query_safe('COMMIT;');
$long->quit;
# the storm's invariants know only the slots' keys
$primary->safe_psql('postgres',
	"SELECT 1 FROM keymgmt.delete_key((SELECT key_id::text FROM keymgmt.keys WHERE key_alias = 'long-tx'), 'storm')"
);

my ($rc, $processed) = finish_storm($storm);
is($rc, 0, 'the first storm ran through');
note "first storm: $processed transactions";

# ------------------------------------------- an immediate stop mid-storm
$storm = start_storm($primary, clients => 8, nslots => $NSLOTS, time => 30);
sleep 3;
$primary->stop('immediate');
($rc, $processed) = finish_storm($storm);
note "storm cut by an immediate stop after $processed transactions";
kill_follower($follower);	# and the follower dies with it
$kills++;
$primary->start;
$follower = start_follower($primary, $state);
$storm = start_storm($primary, clients => 8, nslots => $NSLOTS, time => 5);
sleep 2;
kill_follower($follower);
$kills++;
$follower = start_follower($primary, $state);
($rc, $processed) = finish_storm($storm);
is($rc, 0, 'the storm after the restart ran through');

# ----------------------------------------------------------- the result
my $expected = $primary->safe_psql('postgres',
	"SELECT string_agg(id::text, ',' ORDER BY id) FROM keymgmt.audit_log WHERE (txid, id) > ('$start_txid'::xid8, 0)"
);
my %expected = map { $_ => 1 } split /,/, $expected;
cmp_ok(scalar(keys %expected), '>', 1000, 'the storms changed enough');
ok( wait_until(
		sub {
			my ($s) = seen_ids($state);
			return !grep { !$s->{$_} } keys %expected;
		}),
	'the follower caught up');
my $err = kill_follower($follower);
is($err, '', 'the follower printed no error');

my ($seen, $lines) = seen_ids($state);
my @missed = grep { !$seen->{$_} } sort { $a <=> $b } keys %expected;
my @extra = grep { !$expected{$_} } keys %$seen;
is(scalar(@missed), 0, 'the follower missed no change')
  or diag("missed: @missed[0 .. ($#missed < 20 ? $#missed : 19)]");
is(scalar(@extra), 0, 'and saw none that is not in the audit log');
my $duplicates = $lines - scalar(keys %$seen);
note sprintf('primary: %d changes, %d seen, %d duplicates after %d kills',
	scalar(keys %expected), scalar(keys %$seen), $duplicates, $kills);
cmp_ok($duplicates, '>=', 0, "duplicates counted: $duplicates");

# ------------------------------------------------------------ the standby
$primary->wait_for_catchup($standby);
my $standby_state = follower_state();
my $once = start_follower($standby, $standby_state, '--once');
$once->{run}->finish;
is(${ $once->{err} }, '', 'the standby\'s follower printed no error');
my ($standby_seen) = seen_ids($standby_state);
is(join(',', sort { $a <=> $b } keys %$standby_seen),
	join(',', sort { $a <=> $b } keys %expected),
	'on the standby, after replay, the follower sees every change');

# verify_key on the standby answers as on the primary for every slot's
# secret (the query sends none: they are in the storm's tables).  Whether a
# key has expired depends on when it is asked, so valid and expired count
# as one answer here.
my $answers = q{
SELECT md5(string_agg(s.i || ':' || CASE WHEN v.status IN ('valid', 'expired') THEN 'exists' ELSE v.status END
                      || ':' || coalesce(v.key_id::text, '') || ':' || coalesce(v.user_id, ''), ',' ORDER BY s.i))
FROM storm.raw_keys s, LATERAL keymgmt.verify_key(s.raw) v};
is($standby->safe_psql('postgres', $answers),
	$primary->safe_psql('postgres', $answers),
	'verify_key on the standby answers as on the primary');

my ($src, $sout, $serr) = $standby->psql('postgres',
	"\\set VERBOSITY sqlstate\nSELECT keymgmt.block_key(key_id::text, 'storm') FROM storm.raw_keys LIMIT 1");
like($serr, qr/25006/, 'a change on the standby is 25006');
my $sysid = (split /:/, $start)[0];
is((split /:/, $standby->safe_psql('postgres', 'SELECT keymgmt.current_cursor()'))[0],
	$sysid, 'the standby\'s cursors name the primary\'s cluster');

invariants_hold($primary, 'after the feed storms');

$standby->stop;
$primary->stop;
done_testing();

# poll a condition for up to the default timeout
sub wait_until
{
	my ($cond) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		return 1 if $cond->();
		usleep(200_000);
	}
	return 0;
}


# keymgmt.notify = batched with its background worker, on a server of its
# own (keymgmt in shared_preload_libraries):
#
#  1. the worker shows in pg_stat_activity as "keymgmt notifier", one per
#     cluster, and while its database has no keymgmt it says so once in
#     the log and keeps looking;
#  2. a listener is woken within a second of a commit, with a payload that
#     is a cursor (never a token), and the changing transaction itself
#     sent nothing;
#  3. killed with SIGKILL, the worker is started again by the postmaster
#     and wakes listeners again;
#  4. key changes commit and roll back through PREPARE TRANSACTION in
#     batched and off modes (commit mode cannot: PostgreSQL refuses NOTIFY
#     there);
#  5. batched without the worker (keymgmt not preloaded): nothing is sent,
#     the feed still has every change, so clients that poll miss nothing.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $python = '/usr/bin/python3';

my $node = PostgreSQL::Test::Cluster->new('notifier');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'keymgmt'
keymgmt.notify = batched
keymgmt.notify_interval = 50ms
max_prepared_transactions = 4
restart_after_crash = on
});
$node->start;

# ---------------------------------------------------------------- 1
sub notifier_pids
{
	my ($n) = @_;
	return $n->safe_psql('postgres',
		"SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE backend_type = 'keymgmt notifier'"
	);
}

ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'keymgmt notifier' AND datname = 'postgres'"
	),
	'one keymgmt notifier runs, connected to keymgmt.database');
ok($node->wait_for_log(qr/keymgmt notifier: database "postgres" has no keymgmt 1\.1/),
	'without the extension it says so in the log and waits');

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION keymgmt;
INSERT INTO keymgmt.keys (token, key_name, user_id, created_at, updated_at)
SELECT encode(sha256(convert_to('sk-notifier-test-' || i, 'UTF8')), 'hex'), 'sk-...' || i,
       'user-' || i, now(), now()
FROM generate_series(1, 4) i;
});

# ---------------------------------------------------------------- 2
# A listener and a writer (psycopg from Debian): for each of n changes,
# the seconds from the writer's commit to the listener's wake-up, and the
# payloads, as lines "wake <seconds> <payload>" or "none".
my $listener = <<'PY';
import json, select, sys, time
import psycopg
dsn, n = sys.argv[1], int(sys.argv[2])
listen = psycopg.connect(dsn, autocommit=True)
listen.execute("LISTEN keymgmt")
write = psycopg.connect(dsn, autocommit=True)
time.sleep(0.3)
listen.pgconn.consume_input()
while listen.pgconn.notifies():
    pass
for i in range(n):
    fn = "block_key" if i % 2 == 0 else "unblock_key"
    write.execute(f"SELECT keymgmt.{fn}('sk-notifier-test-1')")
    committed = time.monotonic()
    got = None
    while got is None and time.monotonic() - committed < 3:
        select.select([listen.pgconn.socket], [], [], 0.05)
        listen.pgconn.consume_input()
        got = listen.pgconn.notifies()
    if got is None:
        print("none", flush=True)
    else:
        print("wake %.3f %s" % (time.monotonic() - committed, got.extra.decode()), flush=True)
        # one notification per interval: drain the rest of this one
        time.sleep(0.1)
        listen.pgconn.consume_input()
        while listen.pgconn.notifies():
            pass
PY

sub listen_for
{
	my ($n, $count) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $python, '-c', $listener, $n->connstr('postgres'), $count ],
		'>', \$out, '2>', \$err);
	is($err, '', 'the listener ran without errors');
	return split /\n/, $out;
}

my @wakes = listen_for($node, 6);
is(scalar(grep { /^wake / } @wakes), 6, 'every change woke the listener')
  or diag(join("\n", @wakes));
my ($system_id) = $node->safe_psql('postgres',
	'SELECT system_identifier FROM pg_control_system()');
my $slow = 0;
my $bad_payload = 0;
for (@wakes)
{
	next unless /^wake ([0-9.]+) (.*)$/;
	$slow++ if $1 >= 1.0;
	$bad_payload++
	  unless $2 =~ /^\{"cursor": "$system_id:[0-9]+:[0-9]+:[0-9]+"\}$/;
}
is($slow, 0, 'each within a second of its commit');
is($bad_payload, 0, 'the payload is a cursor of this cluster, nothing else');
note(join("\n", @wakes));

# the payload's cursor is one changes() accepts, and the changes are there
my ($cursor) = $wakes[0] =~ /"cursor": "([^"]+)"/;
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM keymgmt.changes('$cursor')"),
	'5',
	'the first wake-up\'s cursor stands after the first change: the five others follow');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'keymgmt notifier' AND wait_event_type = 'Lock'"
	),
	'0',
	'the notifier holds nobody up');

# ---------------------------------------------------------------- 3
my $before = notifier_pids($node);
kill 'KILL', $before;
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'keymgmt notifier' AND pid <> $before"
	),
	'after SIGKILL the postmaster starts the notifier again');
@wakes = listen_for($node, 2);
is(scalar(grep { /^wake / } @wakes), 2, 'and it wakes listeners again')
  or diag(join("\n", @wakes));

# ---------------------------------------------------------------- 4
for my $mode ('batched', 'off')
{
	$node->safe_psql(
		'postgres', qq{
SET keymgmt.notify = $mode;
BEGIN;
SELECT keymgmt.block_key('sk-notifier-test-2');
PREPARE TRANSACTION 'km_$mode';
COMMIT PREPARED 'km_$mode';
BEGIN;
SELECT keymgmt.unblock_key('sk-notifier-test-2');
PREPARE TRANSACTION 'km_${mode}_undone';
ROLLBACK PREPARED 'km_${mode}_undone';
});
	is( $node->safe_psql(
			'postgres',
			"SELECT blocked FROM keymgmt.key_info('sk-notifier-test-2')"),
		't',
		"$mode: a key change commits through PREPARE TRANSACTION, and its rollback undoes it");
	$node->safe_psql('postgres',
		"SELECT keymgmt.unblock_key('sk-notifier-test-2')");
}
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(action, ',' ORDER BY id) FROM keymgmt.audit_log a WHERE a.object_id = encode(sha256('sk-notifier-test-2'), 'hex')"
	),
	'blocked,unblocked,blocked,unblocked',
	'audited once per committed change, nothing for the rolled-back ones');
my ($rc, $out, $err) = $node->psql(
	'postgres', q{
SET keymgmt.notify = commit;
BEGIN;
SELECT keymgmt.block_key('sk-notifier-test-3');
PREPARE TRANSACTION 'km_commit';
});
like($err, qr/cannot PREPARE a transaction that has executed LISTEN, UNLISTEN, or NOTIFY/,
	'commit mode: PostgreSQL refuses to prepare a transaction that notified');

# ---------------------------------------------------------------- 5
my $plain = PostgreSQL::Test::Cluster->new('no_worker');
$plain->init;
$plain->append_conf('postgresql.conf', "keymgmt.notify = batched\n");
$plain->start;
$plain->safe_psql(
	'postgres', q{
CREATE EXTENSION keymgmt;
INSERT INTO keymgmt.keys (token, key_name, user_id, created_at, updated_at)
VALUES (encode(sha256('sk-notifier-test-1'), 'hex'), 'sk-...st-1', 'user-1', now(), now());
CREATE TABLE start AS SELECT keymgmt.current_cursor() AS cursor;
});
is(notifier_pids($plain), '', 'not preloaded: no notifier');
is($plain->safe_psql('postgres', 'SHOW keymgmt.notify'), 'batched', 'batched all the same');
@wakes = listen_for($plain, 2);
is(join(',', @wakes), 'none,none', 'nobody is woken');
is( $plain->safe_psql(
		'postgres',
		"SELECT string_agg(c.action, ',' ORDER BY c.id) FROM keymgmt.changes((SELECT cursor FROM start)) c"
	),
	'blocked,unblocked',
	'the feed has every change: a client that polls misses nothing');
$plain->stop;

$node->stop;
like(slurp_file($node->logfile), qr/keymgmt notifier started for database "postgres"/,
	'the notifier logged its start');
done_testing();

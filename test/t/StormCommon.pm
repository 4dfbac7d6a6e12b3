
# StormCommon: what the crash test (001_crash.pl) and the load test
# (002_load.pl) share: the storm's fixture and pgbench scripts, running
# pgbench, the invariants that keymgmt's tables must satisfy afterwards,
# and waiting for the backends of a killed postmaster.
#
# The storm: N keys in N slots (storm.raw_keys: slot i holds the raw key of
# the key whose alias is 'slot-i').  Eight pgbench clients pick slots with a
# Zipf distribution, so a few keys are very hot (lock waits, block racing
# delete) and the rest are touched now and then, and run one of these
# transactions, each a call of a small test-only plpgsql wrapper:
#
#	storm.change('block' | 'unblock' | 'delete', i)   block_key etc. on slot i
#	storm.generate(i)	a new key for slot i: alias 'slot-i', so it fails with
#						23505 while the slot's key is alive and wins the slot
#						once it was deleted
#	storm.verify(i)		verify_key(raw) must agree with the table
#
# pgbench aborts a client on any error, so the wrappers catch the SQLSTATEs
# that SPEC.md says a caller must expect, record them in storm.errors in the
# same transaction, and re-raise anything else.  What a wrapper finds wrong
# without an error (a success returning NULL, verify_key disagreeing with the
# table) is recorded as sqlstate 'ANOMALY'.

package StormCommon;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX qw(WNOHANG);
use Time::HiRes qw(usleep);

our @EXPORT = qw(
  setup_storm start_storm finish_storm invariants_hold
  storm_numbers error_counts messages_leak become_subreaper kill9_and_wait
  start_after_crash
);

# the transactions of the storm: pgbench script name => [weight, SQL]
my %SCRIPTS = (
	verify => [ 35, 'SELECT storm.verify(:i);' ],
	block => [ 22, q{SELECT storm.change('block', :i);} ],
	unblock => [ 22, q{SELECT storm.change('unblock', :i);} ],
	delete => [ 8, q{SELECT storm.change('delete', :i);} ],
	generate => [ 13, 'SELECT storm.generate(:i);' ],);

# Zipf's s: slot 1 gets ~15% of all picks, the first 10 slots ~45%
my $ZIPF = 1.1;

my $FIXTURE_SQL = <<'SQL';
CREATE EXTENSION keymgmt;
CREATE EXTENSION amcheck;

-- the storm acts as 'storm', a global admin
INSERT INTO keymgmt.admins (user_id) VALUES ('storm');

CREATE SCHEMA storm;

-- Test fixture only: keymgmt never stores a raw key, but the storm must be
-- able to call verify_key, which takes nothing else.
CREATE TABLE storm.raw_keys (
	i		int PRIMARY KEY,
	raw		text NOT NULL,
	token	text NOT NULL
);

-- the expected failures the wrappers caught, and the anomalies they saw
CREATE TABLE storm.errors (
	id			bigserial PRIMARY KEY,
	op			text NOT NULL,
	sqlstate	text NOT NULL,
	isolation	text NOT NULL DEFAULT current_setting('transaction_isolation'),
	seen		boolean,	-- did this transaction see the key before the call?
	detail		text		-- the error message, or what was wrong
);

-- What SPEC.md tells a caller to expect from these calls: the key is gone
-- (42704), the alias is taken (23505), and under REPEATABLE READ a
-- concurrent change (40001).
CREATE FUNCTION storm.expected(state text) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT state IN ('42704', '23505')
		OR (state = '40001'
			AND current_setting('transaction_isolation') <> 'read committed')
$$;

-- even slots pass the raw key, odd slots the token: both must work
CREATE FUNCTION storm.key_arg(r storm.raw_keys) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN r.i % 2 = 0 THEN r.raw ELSE r.token END
$$;

CREATE FUNCTION storm.change(op text, slot int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	r		storm.raw_keys;
	k		keymgmt.keys;
	seen	boolean;
BEGIN
	SELECT * INTO STRICT r FROM storm.raw_keys WHERE i = slot;
	seen := EXISTS (SELECT FROM keymgmt.keys WHERE token = r.token);
	BEGIN
		CASE op
			WHEN 'block' THEN k := keymgmt.block_key(storm.key_arg(r), 'storm');
			WHEN 'unblock' THEN k := keymgmt.unblock_key(storm.key_arg(r), 'storm');
			WHEN 'delete' THEN k := keymgmt.delete_key(storm.key_arg(r), 'storm');
		END CASE;
	EXCEPTION WHEN OTHERS THEN
		IF NOT storm.expected(SQLSTATE) THEN
			RAISE;
		END IF;
		INSERT INTO storm.errors (op, sqlstate, seen, detail)
		VALUES (op, SQLSTATE, seen, SQLERRM);
		RETURN;
	END;
	-- a success returns the key's row: never NULL, never another key
	IF k.token IS DISTINCT FROM r.token
		OR (op = 'block' AND k.blocked IS NOT TRUE)
		OR (op = 'unblock' AND k.blocked IS NOT FALSE) THEN
		INSERT INTO storm.errors (op, sqlstate, seen, detail)
		VALUES (op, 'ANOMALY', seen, 'returned ' || coalesce(to_jsonb(k)::text, 'NULL'));
	END IF;
END
$$;

CREATE FUNCTION storm.generate(slot int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	g		record;
	status	text;
BEGIN
	SELECT * INTO STRICT g
	  FROM keymgmt.generate_key(key_alias => 'slot-' || slot, actor => 'storm');
	UPDATE storm.raw_keys SET raw = g.key, token = g.token WHERE i = slot;
	SELECT v.status INTO status FROM keymgmt.verify_key(g.key) v;
	IF status IS DISTINCT FROM 'valid' THEN
		INSERT INTO storm.errors (op, sqlstate, detail)
		VALUES ('generate', 'ANOMALY', 'new key verifies as ' || coalesce(status, 'NULL'));
	END IF;
EXCEPTION WHEN OTHERS THEN
	IF NOT storm.expected(SQLSTATE) THEN
		RAISE;
	END IF;
	INSERT INTO storm.errors (op, sqlstate, detail)
	VALUES ('generate', SQLSTATE, SQLERRM);
END
$$;

-- verify_key and a read of the table in one statement, so one snapshot:
-- they must agree
CREATE FUNCTION storm.verify(slot int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	got		text;
	want	text;
	same	boolean;
BEGIN
	SELECT v.status,
		   CASE WHEN k.token IS NULL THEN 'not_found'
				WHEN k.blocked THEN 'blocked' ELSE 'valid' END,
		   v.token = r.token
	  INTO STRICT got, want, same
	  FROM storm.raw_keys r
	 CROSS JOIN LATERAL keymgmt.verify_key(r.raw) v
	  LEFT JOIN keymgmt.keys k ON k.token = r.token
	 WHERE r.i = slot;
	IF got IS DISTINCT FROM want OR same IS NOT TRUE THEN
		INSERT INTO storm.errors (op, sqlstate, detail)
		VALUES ('verify', 'ANOMALY', format('verify_key says %s, the table %s', got, want));
	END IF;
END
$$;

-- Every key's audit trail in order, each row beside the one before it.
-- The order is the id order: changes of one key hold its row lock until
-- they commit, so they take their ids one after the other.
CREATE VIEW storm.trail AS
SELECT a.id, a.object_id AS token, a.action, a.changed_at, a.changed_by,
	   a.before_value AS before, a.updated_values AS after,
	   pg_xact_commit_timestamp(a.xmin) AS committed_at,
	   row_number() OVER w AS n,
	   lag(a.action) OVER w AS prev_action,
	   lag(a.updated_values ->> 'blocked') OVER w AS prev_blocked,
	   lag(a.changed_at) OVER w AS prev_changed_at,
	   lag(a.changed_by) OVER w AS prev_changed_by,
	   lag(pg_xact_commit_timestamp(a.xmin)) OVER w AS prev_committed_at,
	   lead(a.id) OVER w IS NULL AS last
  FROM keymgmt.audit_log a
 WHERE a.object_type = 'key'
WINDOW w AS (PARTITION BY a.object_id ORDER BY a.id);

-- bt_index_check (with heapallindexed) of every index of keymgmt's tables
CREATE FUNCTION storm.index_problems() RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	ix		regclass;
BEGIN
	FOR ix IN SELECT indexrelid FROM pg_index
			   WHERE indrelid IN ('keymgmt.keys'::regclass,
								  'keymgmt.audit_log'::regclass,
								  'keymgmt.admins'::regclass) LOOP
		BEGIN
			PERFORM bt_index_check(ix, true);
		EXCEPTION WHEN OTHERS THEN
			RETURN NEXT ix || ': ' || SQLERRM;
		END;
	END LOOP;
END
$$;
SQL

# Each invariant: a name and a query returning the rows that violate it.
my @INVARIANTS = (
	[
		'a: blocked is what the last block/unblock row says (false if none)',
		q{SELECT k.token, k.blocked, last.blocked AS audited
			FROM keymgmt.keys k
			LEFT JOIN LATERAL (
				SELECT (a.updated_values ->> 'blocked')::boolean AS blocked
				  FROM keymgmt.audit_log a
				 WHERE a.object_type = 'key' AND a.object_id = k.token
				   AND a.action IN ('blocked', 'unblocked')
				 ORDER BY a.id DESC LIMIT 1) last ON true
		   WHERE k.blocked IS DISTINCT FROM coalesce(last.blocked, false)}
	],
	[
		'b: every key has exactly one created row',
		q{SELECT k.token, count(a.id)
			FROM keymgmt.keys k
			LEFT JOIN keymgmt.audit_log a
			  ON a.object_type = 'key' AND a.object_id = k.token
			 AND a.action = 'created'
		   GROUP BY k.token HAVING count(a.id) <> 1}
	],
	[
		'c: no deleted row for a key that exists',
		q{SELECT a.id, a.object_id FROM keymgmt.audit_log a
			JOIN keymgmt.keys k ON k.token = a.object_id
		   WHERE a.object_type = 'key' AND a.action = 'deleted'}
	],
	[
		'c: at most one deleted row per token',
		q{SELECT object_id, count(*) FROM keymgmt.audit_log
		   WHERE object_type = 'key' AND action = 'deleted'
		   GROUP BY object_id HAVING count(*) > 1}
	],
	[
		'c: an audited key that is gone has a deleted row',
		q{SELECT t.token FROM storm.trail t
		   WHERE t.last AND t.action <> 'deleted'
			 AND NOT EXISTS (SELECT FROM keymgmt.keys k WHERE k.token = t.token)}
	],
	[
		'd: every trail starts with created, and only there',
		q{SELECT token, id, n, action FROM storm.trail
		   WHERE (n = 1) <> (action = 'created')}
	],
	[
		'd: nothing follows deleted',
		q{SELECT token, id, action FROM storm.trail
		   WHERE prev_action = 'deleted'}
	],
	[
		'd: each row says what its action did',
		q{SELECT token, id, action, before, after FROM storm.trail
		   WHERE CASE action
				WHEN 'created' THEN before IS NULL
					AND after ->> 'token' = token
					AND after ->> 'blocked' = 'false'
					AND (after ->> 'created_at')::timestamptz = changed_at
					AND (after ->> 'updated_at')::timestamptz = changed_at
					AND after ->> 'created_by' = changed_by
					AND after ->> 'updated_by' = changed_by
				WHEN 'blocked' THEN after = '{"blocked": true}'
				WHEN 'unblocked' THEN after = '{"blocked": false}'
				WHEN 'deleted' THEN after IS NULL
				ELSE false END IS NOT TRUE}
	],
	[
		'd: each change starts from the state the previous row left',
		q{SELECT token, id, action, before, prev_blocked, prev_changed_at
			FROM storm.trail
		   WHERE n > 1 AND (
				   before ->> 'token' = token
			   AND before ->> 'blocked' = prev_blocked
			   AND (before ->> 'updated_at')::timestamptz = prev_changed_at
			   AND before ->> 'updated_by' = prev_changed_by) IS NOT TRUE}
	],
	[
		'd: each block/unblock is a real change',
		q{SELECT token, id, action, before, after FROM storm.trail
		   WHERE action IN ('blocked', 'unblocked')
			 AND (before ->> 'blocked') = (after ->> 'blocked')}
	],
	[
		'd: a key\'s updated_at/by and created_at/by are its audit rows\'',
		q{SELECT k.token FROM keymgmt.keys k
			JOIN storm.trail t ON t.token = k.token AND t.last
			JOIN storm.trail c ON c.token = k.token AND c.n = 1
		   WHERE (k.updated_at = t.changed_at AND k.updated_by = t.changed_by
				  AND k.created_at = c.changed_at AND k.created_by = c.changed_by)
				 IS NOT TRUE
		   UNION ALL
		  SELECT k.token FROM keymgmt.keys k
		   WHERE NOT EXISTS (SELECT FROM storm.trail t WHERE t.token = k.token)}
	],
	# e.  What the order of one key's audit rows guarantees.  Not that
	# changed_at grows with id: changed_at is the transaction's start time,
	# and a transaction that started earlier may get the row lock later (it
	# waited for it, or was just slower to reach it), so a key's changed_at
	# can go back in id order (storm_numbers counts how often it did).  What
	# holds: a change takes its audit id while it holds the key's row lock and
	# keeps the lock until it commits, and the next change of that key gets
	# the lock only then, so one key's ids are in the order the changes
	# committed -- as long as the identity hands out ids in the order they are
	# asked for, i.e. its sequence has CACHE 1 (the default; with a cache each
	# backend draws from its own range and this breaks).  Recovery after a
	# crash only skips ids.  track_commit_timestamp makes that order visible:
	# by id, a key's commit timestamps never go back, and every row's
	# changed_at is at or before its own commit.
	[
		'e: per key, audit ids are in commit order',
		q{SELECT token, id, prev_committed_at, committed_at FROM storm.trail
		   WHERE committed_at IS NULL
			  OR committed_at < prev_committed_at
			  OR changed_at > committed_at}
	],
	[
		'fixture: every key is its slot\'s, verify_key(raw) agrees with the table',
		q{SELECT k.token, r.i FROM keymgmt.keys k
			LEFT JOIN storm.raw_keys r ON r.token = k.token
		   WHERE r.i IS NULL OR k.key_alias IS DISTINCT FROM 'slot-' || r.i
		   UNION ALL
		  SELECT r.token, r.i FROM storm.raw_keys r
		   CROSS JOIN LATERAL keymgmt.verify_key(r.raw) v
			LEFT JOIN keymgmt.keys k ON k.token = r.token
		   WHERE v.token IS DISTINCT FROM r.token
			  OR v.status IS DISTINCT FROM
				 CASE WHEN k.token IS NULL THEN 'not_found'
					  WHEN k.blocked THEN 'blocked' ELSE 'valid' END}
	],
	[
		'amcheck: the heaps and indexes of keys and audit_log are sound',
		q{SELECT rel::text, c.blkno, c.offnum, c.msg
			FROM unnest(ARRAY['keymgmt.keys', 'keymgmt.audit_log']::regclass[]) rel,
				 LATERAL verify_heapam(rel) c
		   UNION ALL
		  SELECT p, NULL, NULL, NULL FROM storm.index_problems() p}
	],);

=pod

=item setup_storm($node, $nslots)

Install keymgmt and the storm fixture, and fill $nslots slots with keys.
The node needs track_commit_timestamp = on (invariant e).

=cut

sub setup_storm
{
	my ($node, $nslots) = @_;

	$node->safe_psql('postgres', $FIXTURE_SQL);
	# the initial keys in one transaction, without 10,000 notifications
	$node->safe_psql(
		'postgres', qq{
		SET keymgmt.notify = off;
		INSERT INTO storm.raw_keys (i, raw, token)
		SELECT i, g.key, g.token
		  FROM generate_series(1, $nslots) i,
			   LATERAL keymgmt.generate_key(key_alias => 'slot-' || i,
											actor => 'storm') g;
		ANALYZE;});
	return;
}

=pod

=item start_storm($node, %opts)

Start pgbench in the background: clients, jobs, nslots, and either time
(-T) or transactions (-t per client); env: extra environment (PGOPTIONS).
Returns a handle for finish_storm.

=cut

sub start_storm
{
	my ($node, %opts) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir;
	my @files;

	foreach my $name (sort keys %SCRIPTS)
	{
		my ($weight, $sql) = @{ $SCRIPTS{$name} };
		my $file = "$dir/$name.sql";
		PostgreSQL::Test::Utils::append_to_file($file,
			"\\set i random_zipfian(1, :nslots, $ZIPF)\n$sql\n");
		push @files, '-f', "$file\@$weight";
	}

	my @cmd = (
		'pgbench', '-n',
		'-h', $node->host,
		'-p', $node->port,
		'-c', $opts{clients} // 8,
		'-j', $opts{jobs} // 2,
		'-D', "nslots=$opts{nslots}",
		defined $opts{time}
		? ('-T', $opts{time})
		: ('-t', $opts{transactions}),
		@files, 'postgres');

	my %h = (out => '', err => '', cmd => \@cmd);
	local %ENV = (%ENV, %{ $opts{env} // {} });
	note "storm: @cmd";
	$h{run} = IPC::Run::start(\@cmd, '<', \undef, '>', \$h{out}, '2>',
		\$h{err}, IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return \%h;
}

=pod

=item finish_storm($storm)

Wait for pgbench to end.  Returns its exit code, the number of transactions
it reports as processed, and its output.

=cut

sub finish_storm
{
	my ($h) = @_;

	$h->{run}->finish;
	my $rc = $h->{run}->result(0);
	my ($processed) =
	  $h->{out} =~ /number of transactions actually processed: (\d+)/;
	print "pgbench stdout:\n$h->{out}\npgbench stderr:\n$h->{err}\n";
	return ($rc, $processed // 0, $h->{out}, $h->{err});
}

=pod

=item invariants_hold($node, $label)

One test per invariant: the number of rows violating it is 0 (and a few of
them are shown when not).  Returns the number of invariants checked.

=cut

sub invariants_hold
{
	my ($node, $label) = @_;

	foreach my $inv (@INVARIANTS)
	{
		my ($name, $sql) = @$inv;
		my $n = $node->safe_psql('postgres', "SELECT count(*) FROM ($sql) v");
		is($n, 0, "$label: $name");
		diag($node->safe_psql('postgres', "$sql LIMIT 5")) if $n ne '0';
	}
	return scalar @INVARIANTS;
}

=pod

=item storm_numbers($node, $label)

note() how big the storm was: keys, audit rows by action, caught errors.

=cut

sub storm_numbers
{
	my ($node, $label) = @_;

	note "$label: "
	  . $node->safe_psql(
		'postgres', q{
		SELECT format('%s keys (%s blocked); audit rows: %s; caught: %s',
			(SELECT count(*) FROM keymgmt.keys),
			(SELECT count(*) FILTER (WHERE blocked) FROM keymgmt.keys),
			(SELECT string_agg(format('%s %s', action, n), ', ' ORDER BY action)
			   FROM (SELECT action, count(*) n FROM keymgmt.audit_log
					  WHERE object_type = 'key' GROUP BY action) a),
			coalesce((SELECT string_agg(format('%s %s', s, n), ', ' ORDER BY s)
			   FROM (SELECT sqlstate || '/' || op || CASE WHEN seen THEN ' (seen)' ELSE '' END s,
							count(*) n
					   FROM storm.errors GROUP BY 1) e), 'nothing'))});
	# how often one key's changed_at went back in id order (see invariant e)
	note "$label: "
	  . $node->safe_psql(
		'postgres', q{
		SELECT format('%s of %s consecutive audit rows of one key have changed_at earlier than the row before',
			count(*) FILTER (WHERE changed_at < prev_changed_at),
			count(*) FILTER (WHERE n > 1))
		  FROM storm.trail});
	return;
}

=pod

=item error_counts($node)

The caught errors: a hash "sqlstate" => count.

=cut

sub error_counts
{
	my ($node) = @_;
	my %count = map { split /\|/ } split /\n/,
	  $node->safe_psql('postgres',
		'SELECT sqlstate, count(*) FROM storm.errors GROUP BY sqlstate');
	return \%count;
}

=pod

=item messages_leak($node)

How many caught error messages show what SPEC.md says a message never
shows: a raw key (its key_name form, sk-... and 4 characters, is fine) or
more than the first 12 characters of a token.

=cut

sub messages_leak
{
	my ($node) = @_;
	return $node->safe_psql(
		'postgres', q{
		SELECT count(*) FROM storm.errors
		 WHERE sqlstate <> 'ANOMALY'
		   AND (detail ~ 'sk-[A-Za-z0-9_-]{5}' OR detail ~ '[0-9a-f]{13}')});
}

=pod

=item become_subreaper()

Make this process the one that inherits the orphans among its descendants
(Linux's PR_SET_CHILD_SUBREAPER), before the node starts.  pg_ctl starts
the postmaster and exits, so the postmaster becomes our child, and when it
is killed so do its children: kill9_and_wait can then reap them all itself,
instead of waiting for PID 1 to (some container inits reap slowly; the next
postmaster takes a killed one's zombie for a live server).

=cut

sub become_subreaper
{
	my $ok = eval {
		require 'syscall.ph';
		# 36 is PR_SET_CHILD_SUBREAPER in <linux/prctl.h>
		syscall(SYS_prctl(), 36, 1, 0, 0, 0) == 0;
	};
	note 'not a child subreaper: PID 1 must reap the killed postmaster'
	  unless $ok;
	return;
}

=pod

=item kill9_and_wait($node)

SIGKILL the postmaster, then wait until it and every process it had started
are gone, so that the next start finds neither the old postmaster alive (a
zombie counts: postmaster.pid names it) nor a backend still attached to the
old shared memory.  PostgreSQL's src/test/recovery/t/017_shm.pl retries the
start instead.  A backend notices the postmaster's death only when it next
waits (for its client, a lock), so it may still finish what it runs.

=cut

sub kill9_and_wait
{
	my ($node) = @_;
	my $pm = $node->{_pid};
	my %procs = ($pm => (proc_stat($pm))[3], children_of($pm));

	note "killing postmaster $pm with SIGKILL; it has "
	  . (scalar(keys %procs) - 1)
	  . " children";
	$node->kill9;

	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (1)
	{
		# the old postmaster's orphans that we inherited, including any it
		# forked after we looked (an autovacuum worker)
		my %orphans = children_of($$);
		foreach my $pid (keys %orphans)
		{
			my ($command) = proc_stat($pid);
			$procs{$pid} //= $orphans{$pid}
			  if defined $command && $command eq 'postgres';
		}
		# reap those that are our children (not ours: waitpid returns -1)
		waitpid($_, WNOHANG) foreach keys %procs;

		my @left = grep { still_there($_, $procs{$_}) } keys %procs;
		last unless @left;
		BAIL_OUT("processes of the killed postmaster still there: @left")
		  if time > $deadline;
		usleep(50_000);
	}
	return;
}

=pod

=item start_after_crash($node)

Start the node again.  Retry for a while if the start fails, as 017_shm.pl
does: without a subreaper, a process the postmaster forked just as
kill9_and_wait looked at its children may still hold the old shared memory.

=cut

sub start_after_crash
{
	my ($node) = @_;

	foreach my $try (1 .. 100)
	{
		return if $node->start(fail_ok => 1);
		note "start after crash failed (try $try), retrying";
		usleep(100_000);
		$node->stop('fast', fail_ok => 1);
	}
	$node->start;
	return;
}

# /proc/<pid>/stat as (command, state, parent, start time), or () if there
# is no such process.  The start time tells a process from a later one that
# got the same pid.
sub proc_stat
{
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/stat" or return ();
	my $line = <$fh>;
	close $fh;
	# pid (comm) state ppid ...: comm may hold spaces and parentheses
	return () unless defined $line && $line =~ /^\d+ \((.*)\) (.*)$/;
	my ($comm, @f) = ($1, split(/ /, $2));
	return ($comm, $f[0], $f[1], $f[19]);
}

# the children of $ppid, as pid => start time
sub children_of
{
	my ($ppid) = @_;
	my %children;

	foreach my $dir (glob '/proc/[0-9]*')
	{
		my ($pid) = $dir =~ m{(\d+)$};
		my (undef, undef, $parent, $start) = proc_stat($pid);
		$children{$pid} = $start if defined $parent && $parent == $ppid;
	}
	return %children;
}

# the same process (pid and start time) still exists, if only as a zombie
sub still_there
{
	my ($pid, $start) = @_;
	my (undef, undef, undef, $now) = proc_stat($pid);
	return defined $now && $now == $start;
}

1;

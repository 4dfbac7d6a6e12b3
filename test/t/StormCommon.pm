
# StormCommon: what the crash test (001_crash.pl) and the load test
# (002_load.pl) share: the storm's fixture and pgbench scripts, running
# pgbench, the invariants that keymgmt's tables must satisfy afterwards,
# and waiting for the backends of a killed postmaster.
#
# The storm: N keys in N slots (storm.raw_keys: slot i holds the raw key,
# token and key_id of the key whose alias is 'slot-i'; slots 1 to 100 are
# in the teams team-0 to team-3).  Eight pgbench clients pick slots with a
# Zipf distribution, so a few keys are very hot (lock waits, block racing
# delete, rotate racing block) and the rest are touched now and then, and
# run one of these transactions, each a call of a small test-only plpgsql
# wrapper:
#
#	storm.change('block' | 'unblock' | 'delete', i)   block_key etc. on slot i
#	storm.generate(i)	a new key for slot i: alias 'slot-i', so it fails with
#						23505 while the slot's key is alive and wins the slot
#						once it was deleted
#	storm.verify(i)		verify_key(raw) must agree with the table, for the
#						slot's secret and for its key's last old secret
#	storm.update(i, what, j)	update_key: new metadata, team, expires, or
#						the alias 'slot-j' of another slot -- 23505 while
#						slot j's key is alive; once it is gone, the key
#						moves to slot j (and the dead key there to slot i)
#	storm.rotate(i, g)	rotate_key with a grace of 0, 2 seconds or 10
#						minutes; the old raw key goes to storm.old_secrets
#	storm.end_grace(i)	end_grace: none of the key's old secrets verifies
#	storm.bulk(block, t)	block_keys / unblock_keys of team t
#
# pgbench aborts a client on any error, so the wrappers catch the SQLSTATEs
# that SPEC.md says a caller must expect, record them in storm.errors in the
# same transaction, and re-raise anything else.  What a wrapper finds wrong
# without an error (a success returning NULL or another key, verify_key
# disagreeing with the tables) is recorded as sqlstate 'ANOMALY'.
#
# The raw keys live in the storm's own tables only (keymgmt never stores
# one, and the storm must be able to call verify_key, which takes nothing
# else); no query's output that could show one is printed, and no SQL this
# process sends contains one.  raw_keys_nowhere takes them into this
# process's memory to look for them where they must not be.

package StormCommon;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX qw(WNOHANG);
use Time::HiRes qw(usleep);

our @EXPORT = qw(
  setup_storm start_storm finish_storm invariants_hold raw_keys_nowhere
  storm_numbers error_counts messages_leak become_subreaper kill9_and_wait
  start_after_crash
);

# Zipf's s: slot 1 gets ~15% of all picks, the first 10 slots ~45%
my $ZIPF = 1.1;

# the transactions of the storm: pgbench script name => [weight, SQL]; each
# script also gets :i, the slot
my %SCRIPTS = (
	verify => [ 30, 'SELECT storm.verify(:i);' ],
	block => [ 16, q{SELECT storm.change('block', :i);} ],
	unblock => [ 16, q{SELECT storm.change('unblock', :i);} ],
	delete => [ 7, q{SELECT storm.change('delete', :i);} ],
	generate => [ 11, 'SELECT storm.generate(:i);' ],
	update => [
		9, "\\set what random(0, 9)\n"
		  . "\\set j random_zipfian(1, :nslots, $ZIPF)\n"
		  . 'SELECT storm.update(:i, :what, :j);'
	],
	rotate => [ 6, "\\set g random(0, 2)\nSELECT storm.rotate(:i, :g);" ],
	end_grace => [ 2, 'SELECT storm.end_grace(:i);' ],
	bulk => [
		3, "\\set b random(0, 1)\n\\set t random(0, 3)\n"
		  . 'SELECT storm.bulk(:b = 1, :t);'
	],);

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
	token	text NOT NULL,
	key_id	uuid		-- NOT NULL once setup_storm has filled it
);
CREATE INDEX ON storm.raw_keys (token);
CREATE INDEX ON storm.raw_keys (key_id);

-- Test fixture too: every secret a rotation replaced, written in the
-- rotation's transaction, with the grace it was given.
CREATE TABLE storm.old_secrets (
	id		bigserial PRIMARY KEY,
	token	text NOT NULL UNIQUE,
	raw		text NOT NULL,
	key_id	uuid NOT NULL,
	from_slot int NOT NULL,
	grace	interval NOT NULL
);
CREATE INDEX ON storm.old_secrets (key_id, id);

-- what each successful block_keys / unblock_keys changed
CREATE TABLE storm.bulk_log (
	id		bigserial PRIMARY KEY,
	op		text NOT NULL,
	team	text NOT NULL,
	changed	int NOT NULL
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
-- (42704), the alias is taken (23505), a lock_timeout ran out (55P03), and
-- under REPEATABLE READ a concurrent change (40001).
CREATE FUNCTION storm.expected(state text) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT state IN ('42704', '23505', '55P03')
		OR (state = '40001'
			AND current_setting('transaction_isolation') <> 'read committed')
$$;

-- even slots pass the raw key, odd slots the token: both must work
CREATE FUNCTION storm.key_arg(r storm.raw_keys) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN r.i % 2 = 0 THEN r.raw ELSE r.token END
$$;

-- the team a slot's new key gets: slots 1 to 100 (the hot ones among
-- them) are in four teams of 25
CREATE FUNCTION storm.team_of(slot int) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN slot <= 100 THEN 'team-' || slot % 4 END
$$;

-- a team for update_key: one of the four, or none
CREATE FUNCTION storm.some_team() RETURNS text
LANGUAGE sql VOLATILE AS $$
	SELECT (ARRAY['team-0', 'team-1', 'team-2', 'team-3', NULL])[1 + floor(random() * 5)::int]
$$;

-- a key's status as verify_key computes it from the key's row
CREATE FUNCTION storm.status_of(k keymgmt.keys) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN k.token IS NULL THEN 'not_found'
				WHEN k.blocked THEN 'blocked'
				WHEN k.expires <= now() THEN 'expired' ELSE 'valid' END
$$;

CREATE FUNCTION storm.anomaly(op text, seen boolean, detail text) RETURNS void
LANGUAGE sql AS $$
	INSERT INTO storm.errors (op, sqlstate, seen, detail)
	VALUES (op, 'ANOMALY', seen, detail)
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
	-- A success returns the key's row: never NULL, never another key.  Its
	-- token is ours, or the one a rotation that committed while we waited
	-- for the lock gave the key (ours was its old secret then, in grace).
	IF k.key_id IS DISTINCT FROM r.key_id
		OR (k.token IS DISTINCT FROM r.token
			AND NOT EXISTS (SELECT FROM storm.old_secrets o
							 WHERE o.token = r.token AND o.key_id = r.key_id))
		OR (op = 'block' AND k.blocked IS NOT TRUE)
		OR (op = 'unblock' AND k.blocked IS NOT FALSE) THEN
		PERFORM storm.anomaly(op, seen, 'returned ' || coalesce(to_jsonb(k)::text, 'NULL'));
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
	  FROM keymgmt.generate_key(key_alias => 'slot-' || slot,
								team_id => storm.team_of(slot), actor => 'storm');
	UPDATE storm.raw_keys
	   SET raw = g.key, token = g.token,
		   key_id = (SELECT key_id FROM keymgmt.keys WHERE token = g.token)
	 WHERE i = slot;
	SELECT v.status INTO status FROM keymgmt.verify_key(g.key) v;
	IF status IS DISTINCT FROM 'valid' THEN
		PERFORM storm.anomaly('generate', NULL, 'new key verifies as ' || coalesce(status, 'NULL'));
	END IF;
EXCEPTION WHEN OTHERS THEN
	IF NOT storm.expected(SQLSTATE) THEN
		RAISE;
	END IF;
	INSERT INTO storm.errors (op, sqlstate, detail)
	VALUES ('generate', SQLSTATE, SQLERRM);
END
$$;

-- verify_key and a read of the tables in one statement, so one snapshot:
-- they must agree, for the slot's secret and for the last secret a
-- rotation took from its key (its key's status until its grace ends, then
-- not_found)
CREATE FUNCTION storm.verify(slot int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	got		text;
	want	text;
	same	boolean;
BEGIN
	SELECT v.status, storm.status_of(k),
		   v.token = r.token AND v.grace_until IS NULL
		   AND v.key_id IS NOT DISTINCT FROM k.key_id
	  INTO STRICT got, want, same
	  FROM storm.raw_keys r
	 CROSS JOIN LATERAL keymgmt.verify_key(r.raw) v
	  LEFT JOIN keymgmt.keys k ON k.token = r.token
	 WHERE r.i = slot;
	IF got IS DISTINCT FROM want OR same IS NOT TRUE THEN
		PERFORM storm.anomaly('verify', NULL, format('verify_key says %s, the table %s', got, want));
	END IF;

	SELECT format('%s until %s', v.status, v.grace_until),
		   format('%s until %s', storm.status_of(k), p.valid_until),
		   v.status = 'not_found' OR (v.token = o.token AND v.key_id = o.key_id)
	  INTO got, want, same
	  FROM storm.raw_keys r
	  JOIN LATERAL (SELECT * FROM storm.old_secrets o WHERE o.key_id = r.key_id
					 ORDER BY o.id DESC LIMIT 1) o ON true
	 CROSS JOIN LATERAL keymgmt.verify_key(o.raw) v
	  LEFT JOIN keymgmt.previous_tokens p
		ON p.token = o.token AND p.valid_until > now()
	  LEFT JOIN keymgmt.keys k ON k.key_id = o.key_id AND p.token IS NOT NULL
	 WHERE r.i = slot;
	IF FOUND AND (got IS DISTINCT FROM want OR same IS NOT TRUE) THEN
		PERFORM storm.anomaly('verify old', NULL,
			format('verify_key of an old secret says %s, the tables %s', got, want));
	END IF;
END
$$;

-- update_key: metadata, team, expires or alias.  An alias is that of
-- another slot: 23505 while that slot's key is alive, else the key moves
-- there (and the dead key that slot held takes the slot the key left), so
-- every slot's key still has the slot's alias.
CREATE FUNCTION storm.update(slot int, what int, other int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	r		storm.raw_keys;
	src		storm.raw_keys;
	dst		storm.raw_keys;
	k		keymgmt.keys;
	ch		jsonb;
	seen	boolean;
BEGIN
	SELECT * INTO STRICT r FROM storm.raw_keys WHERE i = slot;
	seen := EXISTS (SELECT FROM keymgmt.keys WHERE token = r.token);
	ch := CASE
		WHEN what < 3 THEN
			jsonb_build_object('metadata', jsonb_build_object('n', floor(random() * 100)::int))
		WHEN what = 3 THEN jsonb_build_object('team_id', storm.some_team())
		WHEN what = 4 THEN
			jsonb_build_object('expires',
				CASE WHEN random() < 0.5 THEN '2999-01-01 00:00+00' END)
		WHEN what = 5 THEN
			jsonb_build_object('metadata', jsonb_build_object('n', floor(random() * 100)::int),
							   'team_id', storm.some_team())
		ELSE jsonb_build_object('key_alias', 'slot-' || other)
	END;
	BEGIN
		k := keymgmt.update_key(storm.key_arg(r), ch, 'storm');
		IF ch ? 'key_alias' THEN
			-- where the key is now (a move that committed while we waited
			-- for its lock may have taken it elsewhere)
			SELECT * INTO STRICT src FROM storm.raw_keys WHERE key_id = k.key_id FOR UPDATE;
			IF src.i <> other THEN
				SELECT * INTO STRICT dst FROM storm.raw_keys WHERE i = other FOR UPDATE;
				UPDATE storm.raw_keys SET raw = dst.raw, token = dst.token, key_id = dst.key_id
				 WHERE i = src.i;
				UPDATE storm.raw_keys SET raw = src.raw, token = src.token, key_id = src.key_id
				 WHERE i = dst.i;
			END IF;
		END IF;
	EXCEPTION WHEN OTHERS THEN
		IF NOT storm.expected(SQLSTATE) THEN
			RAISE;
		END IF;
		INSERT INTO storm.errors (op, sqlstate, seen, detail)
		VALUES ('update', SQLSTATE, seen, SQLERRM);
		RETURN;
	END;
	-- the key's row, with every field as asked
	IF k.key_id IS DISTINCT FROM r.key_id
		OR EXISTS (SELECT FROM jsonb_each(ch) c
					WHERE CASE c.key
						WHEN 'expires' THEN k.expires IS DISTINCT FROM (c.value #>> '{}')::timestamptz
						ELSE to_jsonb(k) -> c.key IS DISTINCT FROM c.value END) THEN
		PERFORM storm.anomaly('update', seen,
			format('asked %s, returned %s', ch, coalesce(to_jsonb(k)::text, 'NULL')));
	END IF;
END
$$;

-- rotate_key with a grace of 0, 2 seconds or 10 minutes
CREATE FUNCTION storm.rotate(slot int, g int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	r		storm.raw_keys;
	cur		storm.raw_keys;
	n		record;
	k		keymgmt.keys;
	a		keymgmt.audit_log;
	seen	boolean;
	grace	interval := (ARRAY['0', '2 seconds', '10 minutes']::interval[])[g + 1];
	vold	record;
	vnew	record;
BEGIN
	SELECT * INTO STRICT r FROM storm.raw_keys WHERE i = slot;
	seen := EXISTS (SELECT FROM keymgmt.keys WHERE token = r.token);
	BEGIN
		SELECT * INTO STRICT n FROM keymgmt.rotate_key(storm.key_arg(r), grace, 'storm');
		-- The secret it replaced: the slot's, unless a rotation that
		-- committed while we waited for the lock replaced that one already
		-- (or a move took the key to another slot).
		SELECT * INTO STRICT cur FROM storm.raw_keys WHERE key_id = n.key_id FOR UPDATE;
		INSERT INTO storm.old_secrets (token, raw, key_id, from_slot, grace)
		VALUES (cur.token, cur.raw, n.key_id, cur.i, grace);
		UPDATE storm.raw_keys SET raw = n.key, token = n.token WHERE i = cur.i;
	EXCEPTION WHEN OTHERS THEN
		IF NOT storm.expected(SQLSTATE) THEN
			RAISE;
		END IF;
		INSERT INTO storm.errors (op, sqlstate, seen, detail)
		VALUES ('rotate', SQLSTATE, seen, SQLERRM);
		RETURN;
	END;
	-- We hold the key's lock: its last audit row is this rotation, from the
	-- secret we replaced to the new one, and the old secret works until
	-- least(now() + grace, expires), or not at all.
	SELECT * INTO k FROM keymgmt.keys WHERE key_id = n.key_id;
	SELECT * INTO a FROM keymgmt.audit_log WHERE key_id = n.key_id ORDER BY id DESC LIMIT 1;
	SELECT * INTO vold FROM keymgmt.verify_key(cur.raw);
	SELECT * INTO vnew FROM keymgmt.verify_key(n.key);
	IF k.token IS DISTINCT FROM n.token OR k.key_id IS DISTINCT FROM r.key_id
		OR a.action IS DISTINCT FROM 'rotated' OR a.object_id IS DISTINCT FROM cur.token
		OR a.updated_values ->> 'token' IS DISTINCT FROM n.token
		OR n.previous_valid_until IS DISTINCT FROM
		   (CASE WHEN least(now() + grace, k.expires) > now() THEN least(now() + grace, k.expires) END)
		OR vnew.status IS DISTINCT FROM storm.status_of(k) OR vnew.grace_until IS NOT NULL
		OR (vold.status, vold.grace_until) IS DISTINCT FROM
		   ((CASE WHEN n.previous_valid_until IS NULL THEN 'not_found' ELSE storm.status_of(k) END),
			n.previous_valid_until) THEN
		PERFORM storm.anomaly('rotate', seen,
			format('grace %s: previous_valid_until %s, audited %s of %s, old secret %s until %s, new %s',
				   grace, n.previous_valid_until, a.action, left(a.object_id, 12),
				   vold.status, vold.grace_until, vnew.status));
	END IF;
END
$$;

CREATE FUNCTION storm.end_grace(slot int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	r		storm.raw_keys;
	n		int;
	seen	boolean;
	tail	keymgmt.audit_log;
BEGIN
	SELECT * INTO STRICT r FROM storm.raw_keys WHERE i = slot;
	seen := EXISTS (SELECT FROM keymgmt.keys WHERE token = r.token);
	BEGIN
		n := keymgmt.end_grace(storm.key_arg(r), 'storm');
	EXCEPTION WHEN OTHERS THEN
		IF NOT storm.expected(SQLSTATE) THEN
			RAISE;
		END IF;
		INSERT INTO storm.errors (op, sqlstate, seen, detail)
		VALUES ('end_grace', SQLSTATE, seen, SQLERRM);
		RETURN;
	END;
	-- We hold the key's lock: none of its previous secrets is in grace, none
	-- of its old secrets verifies, and ending n secrets was audited once.
	SELECT * INTO tail FROM keymgmt.audit_log WHERE key_id = r.key_id ORDER BY id DESC LIMIT 1;
	IF n IS NULL OR n < 0
		OR EXISTS (SELECT FROM keymgmt.previous_tokens p
					WHERE p.key_id = r.key_id AND p.valid_until > now())
		OR EXISTS (SELECT FROM storm.old_secrets o
					CROSS JOIN LATERAL keymgmt.verify_key(o.raw) v
					WHERE o.key_id = r.key_id AND v.status <> 'not_found')
		OR (n > 0 AND (tail.action IS DISTINCT FROM 'grace_ended'
					   OR tail.updated_values IS DISTINCT FROM jsonb_build_object('previous_secrets', n))) THEN
		PERFORM storm.anomaly('end_grace', seen, format('ended %s; last audit row %s %s',
			n, tail.action, tail.updated_values));
	END IF;
END
$$;

-- block_keys / unblock_keys of a team: it returns the keys it changed, all
-- of the team and now in the wanted state, one audit row each
CREATE FUNCTION storm.bulk(block boolean, t int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	team	text := 'team-' || t;
	op		text := CASE WHEN block THEN 'block_keys' ELSE 'unblock_keys' END;
	changed	int;
	wrong	int;
	audited	int := 0;
BEGIN
	BEGIN
		IF block THEN
			SELECT count(*), count(*) FILTER (WHERE k.team_id IS DISTINCT FROM team OR NOT k.blocked)
			  INTO changed, wrong
			  FROM keymgmt.block_keys(team_id => team, actor => 'storm') k;
		ELSE
			SELECT count(*), count(*) FILTER (WHERE k.team_id IS DISTINCT FROM team OR k.blocked)
			  INTO changed, wrong
			  FROM keymgmt.unblock_keys(team_id => team, actor => 'storm') k;
		END IF;
	EXCEPTION WHEN OTHERS THEN
		IF NOT storm.expected(SQLSTATE) THEN
			RAISE;
		END IF;
		INSERT INTO storm.errors (op, sqlstate, detail)
		VALUES (op, SQLSTATE, SQLERRM);
		RETURN;
	END;
	IF changed > 0 THEN
		SELECT count(*) INTO audited FROM keymgmt.audit_log
		 WHERE txid = pg_current_xact_id()
		   AND action = CASE WHEN block THEN 'blocked' ELSE 'unblocked' END;
	END IF;
	INSERT INTO storm.bulk_log (op, team, changed) VALUES (op, team, changed);
	IF wrong > 0 OR audited <> changed THEN
		PERFORM storm.anomaly(op, NULL, format('%s of team %s: %s changed, %s not as asked, %s audited',
			op, team, changed, wrong, audited));
	END IF;
END
$$;

-- Every key's audit trail in order, each row beside the one before it:
-- the trail of one key_id, across its rotations (object_id, here token, is
-- the token the key had at the change).  The order is the id order:
-- changes of one key hold its row lock until they commit, so they take
-- their ids one after the other.  state is the key as the change left it:
-- the new row for created, nothing after deleted, else before_value with
-- updated_values over it (grace_ended's previous_secrets is no column).
CREATE VIEW storm.trail AS
SELECT s.*,
	   row_number() OVER w AS n,
	   lag(s.action) OVER w AS prev_action,
	   lag(s.state) OVER w AS prev_state,
	   lag(s.changed_at) OVER w AS prev_changed_at,
	   lag(s.changed_by) OVER w AS prev_changed_by,
	   lag(s.committed_at) OVER w AS prev_committed_at,
	   lead(s.id) OVER w IS NULL AS last
  FROM (SELECT a.id, a.key_id, a.object_id AS token, a.action, a.changed_at,
			   a.changed_by, a.before_value AS before, a.updated_values AS after,
			   CASE a.action
				   WHEN 'created' THEN a.updated_values
				   WHEN 'deleted' THEN NULL
				   WHEN 'grace_ended' THEN a.before_value || (a.updated_values - 'previous_secrets')
				   ELSE a.before_value || a.updated_values END AS state,
			   pg_xact_commit_timestamp(a.xmin) AS committed_at
		  FROM keymgmt.audit_log a
		 WHERE a.object_type = 'key') s
WINDOW w AS (PARTITION BY s.key_id ORDER BY s.id);

-- Each old secret the storm knows, with when it stops, from the audit
-- trail: grace_end is the least of now() + grace (capped by expires) of its
-- own rotation and of every later rotation of its key (each cuts the
-- earlier ones); ended_at is the first end_grace or delete of its key after
-- it (an end_grace while it was in grace ends it then).
CREATE VIEW storm.secret_ends AS
SELECT o.id, o.token, o.key_id, o.grace, rot.id AS rotated_id,
	   (SELECT min(least(r2.changed_at + o2.grace, (r2.before_value ->> 'expires')::timestamptz))
		  FROM keymgmt.audit_log r2
		  JOIN storm.old_secrets o2 ON o2.token = r2.object_id
		 WHERE r2.object_type = 'key' AND r2.key_id = o.key_id
		   AND r2.action = 'rotated' AND r2.id >= rot.id) AS grace_end,
	   (SELECT min(e.changed_at)
		  FROM keymgmt.audit_log e
		 WHERE e.object_type = 'key' AND e.key_id = o.key_id
		   AND e.action IN ('grace_ended', 'deleted') AND e.id > rot.id) AS ended_at
  FROM storm.old_secrets o
  LEFT JOIN keymgmt.audit_log rot
	ON rot.object_type = 'key' AND rot.object_id = o.token AND rot.action = 'rotated';

-- bt_index_check (with heapallindexed) of every index of keymgmt's tables
CREATE FUNCTION storm.index_problems() RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	ix		regclass;
BEGIN
	FOR ix IN SELECT indexrelid FROM pg_index
			   WHERE indrelid IN ('keymgmt.keys'::regclass,
								  'keymgmt.audit_log'::regclass,
								  'keymgmt.previous_tokens'::regclass,
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
# No query returns a raw key: they are shown when the invariant fails.
# Audit trails are a key's, by key_id: its token changes when it rotates.
my @INVARIANTS = (
	[
		'a: blocked is what the last block/unblock row says (false if none)',
		q{SELECT k.token, k.blocked, last.blocked AS audited
			FROM keymgmt.keys k
			LEFT JOIN LATERAL (
				SELECT (a.updated_values ->> 'blocked')::boolean AS blocked
				  FROM keymgmt.audit_log a
				 WHERE a.object_type = 'key' AND a.key_id = k.key_id
				   AND a.action IN ('blocked', 'unblocked')
				 ORDER BY a.id DESC LIMIT 1) last ON true
		   WHERE k.blocked IS DISTINCT FROM coalesce(last.blocked, false)}
	],
	[
		'b: every key has exactly one created row',
		q{SELECT k.token, count(a.id)
			FROM keymgmt.keys k
			LEFT JOIN keymgmt.audit_log a
			  ON a.object_type = 'key' AND a.key_id = k.key_id
			 AND a.action = 'created'
		   GROUP BY k.token HAVING count(a.id) <> 1}
	],
	[
		'c: no deleted row for a key that exists',
		q{SELECT a.id, a.object_id FROM keymgmt.audit_log a
			JOIN keymgmt.keys k ON k.key_id = a.key_id
		   WHERE a.object_type = 'key' AND a.action = 'deleted'}
	],
	[
		'c: at most one deleted row per key',
		q{SELECT key_id, count(*) FROM keymgmt.audit_log
		   WHERE object_type = 'key' AND action = 'deleted'
		   GROUP BY key_id HAVING count(*) > 1}
	],
	[
		'c: an audited key that is gone has a deleted row',
		q{SELECT t.key_id FROM storm.trail t
		   WHERE t.last AND t.action <> 'deleted'
			 AND NOT EXISTS (SELECT FROM keymgmt.keys k WHERE k.key_id = t.key_id)}
	],
	[
		'd: every trail starts with created, and only there',
		q{SELECT key_id, id, n, action FROM storm.trail
		   WHERE (n = 1) <> (action = 'created')}
	],
	[
		'd: nothing follows deleted',
		q{SELECT key_id, id, action FROM storm.trail
		   WHERE prev_action = 'deleted'}
	],
	[
		'd: every key audit row names its key: key_id, and object_id its token then',
		q{SELECT id, action, key_id, token FROM storm.trail
		   WHERE (key_id IS NOT NULL
				  AND key_id::text = coalesce(before, after) ->> 'key_id'
				  AND token = coalesce(before, after) ->> 'token') IS NOT TRUE}
	],
	[
		'd: each row says what its action did',
		q{SELECT key_id, token, id, action, before, after FROM storm.trail
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
				-- only updatable fields, each a real change
				WHEN 'updated' THEN jsonb_typeof(after) = 'object' AND after <> '{}'
					AND NOT EXISTS (
						SELECT FROM jsonb_each(after) c
						 WHERE c.key NOT IN ('key_alias', 'user_id', 'team_id',
											 'organization_id', 'expires', 'metadata')
							OR before -> c.key = c.value)
				-- the new token and key_name, never the raw key
				WHEN 'rotated' THEN
					(SELECT array_agg(f ORDER BY f) FROM jsonb_object_keys(after) f)
						= '{key_name,token}'
					AND after ->> 'token' ~ '^[0-9a-f]{64}$'
					AND after ->> 'token' <> token
					AND after ->> 'key_name' ~ '^sk-\.\.\.[A-Za-z0-9_-]{4}$'
				WHEN 'grace_ended' THEN
					(SELECT array_agg(f) FROM jsonb_object_keys(after) f) = '{previous_secrets}'
					AND jsonb_typeof(after -> 'previous_secrets') = 'number'
					AND (after ->> 'previous_secrets')::numeric >= 1
				ELSE false END IS NOT TRUE}
	],
	[
		'd: each change starts from the state the previous row left',
		q{SELECT key_id, id, action, before, prev_state, prev_changed_at
			FROM storm.trail
		   WHERE n > 1 AND (
				   before ->> 'token' = token
			   AND before ->> 'blocked' = prev_state ->> 'blocked'
			   AND (before ->> 'updated_at')::timestamptz = prev_changed_at
			   AND before ->> 'updated_by' = prev_changed_by) IS NOT TRUE}
	],
	# 1.  The audit chain: what a change found is what the change before it
	# left, field by field (updated_at and updated_by are the row before's
	# changed_at and changed_by, checked above), and a live key is what its
	# last change left.
	[
		'1: per key, each before_value is the state the previous audit row left',
		q{SELECT key_id, id, prev_action, action,
				 before - '{updated_at,updated_by}'::text[] AS before,
				 prev_state - '{updated_at,updated_by}'::text[] AS previous_state
			FROM storm.trail
		   WHERE n > 1
			 AND (before - '{updated_at,updated_by}'::text[])
				 IS DISTINCT FROM (prev_state - '{updated_at,updated_by}'::text[])}
	],
	[
		'1: every key\'s row is the state its last audit row left',
		q{SELECT k.key_id, t.id, t.action,
				 to_jsonb(k) - '{updated_at,updated_by}'::text[] AS row,
				 t.state - '{updated_at,updated_by}'::text[] AS audited
			FROM keymgmt.keys k
			LEFT JOIN storm.trail t ON t.key_id = k.key_id AND t.last
		   WHERE (to_jsonb(k) - '{updated_at,updated_by}'::text[])
				 IS DISTINCT FROM (t.state - '{updated_at,updated_by}'::text[])}
	],
	[
		'd: each block/unblock is a real change',
		q{SELECT key_id, id, action, before, after FROM storm.trail
		   WHERE action IN ('blocked', 'unblocked')
			 AND (before ->> 'blocked') = (after ->> 'blocked')}
	],
	[
		'd: a key\'s updated_at/by and created_at/by are its audit rows\'',
		q{SELECT k.token FROM keymgmt.keys k
			JOIN storm.trail t ON t.key_id = k.key_id AND t.last
			JOIN storm.trail c ON c.key_id = k.key_id AND c.n = 1
		   WHERE (k.updated_at = t.changed_at AND k.updated_by = t.changed_by
				  AND k.created_at = c.changed_at AND k.created_by = c.changed_by)
				 IS NOT TRUE
		   UNION ALL
		  SELECT k.token FROM keymgmt.keys k
		   WHERE NOT EXISTS (SELECT FROM storm.trail t WHERE t.key_id = k.key_id)}
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
		q{SELECT key_id, id, prev_committed_at, committed_at FROM storm.trail
		   WHERE committed_at IS NULL
			  OR committed_at < prev_committed_at
			  OR changed_at > committed_at}
	],
	# 2.  Previous secrets exist only for rotated keys, and end where the
	# key's rotations and end_grace put them.
	[
		'2: every previous secret\'s key_id has a rotated audit row',
		q{SELECT p.token, p.key_id FROM keymgmt.previous_tokens p
		   WHERE NOT EXISTS (SELECT FROM keymgmt.audit_log a
							  WHERE a.object_type = 'key' AND a.key_id = p.key_id
								AND a.action = 'rotated')}
	],
	[
		'2: every previous secret is the object_id of one of its key\'s rotated rows',
		q{SELECT p.token, p.key_id FROM keymgmt.previous_tokens p
		   WHERE NOT EXISTS (SELECT FROM keymgmt.audit_log a
							  WHERE a.object_type = 'key' AND a.key_id = p.key_id
								AND a.action = 'rotated' AND a.object_id = p.token)}
	],
	[
		'2: every previous secret\'s key exists (deleting a key deletes them)',
		q{SELECT p.token, p.key_id FROM keymgmt.previous_tokens p
		   WHERE NOT EXISTS (SELECT FROM keymgmt.keys k WHERE k.key_id = p.key_id)}
	],
	[
		'2: a previous secret ends when its rotations say, never after an end_grace',
		q{SELECT p.token, p.valid_until, s.grace, s.grace_end, s.ended_at
			FROM keymgmt.previous_tokens p
			LEFT JOIN storm.secret_ends s ON s.token = p.token
		   WHERE p.valid_until IS DISTINCT FROM s.grace_end
			  OR s.ended_at < p.valid_until}
	],
	# 3.  verify_key never answers for an old secret past its grace: every
	# old secret the storm knows (those in previous_tokens among them) is
	# checked, and now() is verify_key's now().
	[
		'3: verify_key(old secret) without grace_until is not_found (or the key\'s secret)',
		q{SELECT o.token, v.status FROM storm.old_secrets o
		   CROSS JOIN LATERAL keymgmt.verify_key(o.raw) v
		   WHERE v.grace_until IS NULL AND v.status IS DISTINCT FROM 'not_found'
			 AND NOT EXISTS (SELECT FROM keymgmt.keys k WHERE k.token = o.token)}
	],
	[
		'3: verify_key(old secret) with grace_until: after now(), its key and its previous_tokens row ending then',
		q{SELECT o.token, v.status, v.grace_until, p.valid_until, k.token AS key_token
			FROM storm.old_secrets o
		   CROSS JOIN LATERAL keymgmt.verify_key(o.raw) v
			LEFT JOIN keymgmt.previous_tokens p ON p.token = o.token
			LEFT JOIN keymgmt.keys k ON k.key_id = v.key_id
		   WHERE v.grace_until IS NOT NULL
			 AND (v.grace_until <= now()
				  OR (v.status <> 'not_found'
					  AND (k.key_id IS NULL OR p.key_id IS DISTINCT FROM k.key_id
						   OR p.valid_until <= now()
						   OR p.valid_until IS DISTINCT FROM v.grace_until
						   OR v.token IS DISTINCT FROM o.token)))}
	],
	[
		'3: verify_key(old secret) is its key\'s status until the end its rotations and end_grace say, not_found after',
		q{SELECT s.token, v.status, v.grace_until, s.grace, s.grace_end, s.ended_at,
				 storm.status_of(k) AS key_status
			FROM storm.secret_ends s
			JOIN storm.old_secrets o ON o.id = s.id
		   CROSS JOIN LATERAL keymgmt.verify_key(o.raw) v
			LEFT JOIN keymgmt.keys k ON k.key_id = s.key_id
		   WHERE CASE WHEN k.key_id IS NOT NULL AND s.grace_end > now() AND s.ended_at IS NULL
				 THEN (v.status, v.token, v.key_id, v.grace_until)
					  IS DISTINCT FROM (storm.status_of(k), s.token, s.key_id, s.grace_end)
				 ELSE (v.status, v.grace_until)
					  IS DISTINCT FROM ('not_found', NULL::timestamptz) END}
	],
	[
		'fixture: every key is its slot\'s, verify_key(raw) agrees with the table',
		q{SELECT k.token, r.i FROM keymgmt.keys k
			LEFT JOIN storm.raw_keys r ON r.token = k.token
		   WHERE r.i IS NULL OR k.key_alias IS DISTINCT FROM 'slot-' || r.i
			  OR r.key_id IS DISTINCT FROM k.key_id
		   UNION ALL
		  SELECT r.token, r.i FROM storm.raw_keys r
		   CROSS JOIN LATERAL keymgmt.verify_key(r.raw) v
			LEFT JOIN keymgmt.keys k ON k.token = r.token
		   WHERE v.token IS DISTINCT FROM r.token
			  OR v.status IS DISTINCT FROM storm.status_of(k)
			  OR v.key_id IS DISTINCT FROM k.key_id
			  OR v.grace_until IS NOT NULL
		   UNION ALL
		  SELECT r.key_id::text, count(*)::int FROM storm.raw_keys r
		   GROUP BY r.key_id HAVING count(*) > 1}
	],
	[
		'fixture: the old secrets the storm knows are exactly the rotated rows\' (so every previous secret)',
		q{SELECT a.object_id, a.id FROM keymgmt.audit_log a
		   WHERE a.object_type = 'key' AND a.action = 'rotated'
			 AND NOT EXISTS (SELECT FROM storm.old_secrets o
							  WHERE o.token = a.object_id AND o.key_id = a.key_id)
		   UNION ALL
		  SELECT o.token, o.id FROM storm.old_secrets o
		   WHERE NOT EXISTS (SELECT FROM keymgmt.audit_log a
							  WHERE a.object_type = 'key' AND a.action = 'rotated'
								AND a.object_id = o.token AND a.key_id = o.key_id)
		   UNION ALL
		  SELECT p.token, NULL FROM keymgmt.previous_tokens p
		   WHERE NOT EXISTS (SELECT FROM storm.old_secrets o WHERE o.token = p.token)}
	],
	[
		'amcheck: the heaps and indexes of keys, audit_log and previous_tokens are sound',
		q{SELECT rel::text, c.blkno, c.offnum, c.msg
			FROM unnest(ARRAY['keymgmt.keys', 'keymgmt.audit_log',
							  'keymgmt.previous_tokens']::regclass[]) rel,
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
											team_id => storm.team_of(i),
											actor => 'storm') g;
		UPDATE storm.raw_keys r SET key_id = k.key_id
		  FROM keymgmt.keys k WHERE k.token = r.token;
		ALTER TABLE storm.raw_keys ALTER key_id SET NOT NULL;
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
them are shown when not, with anything that could be a raw key masked);
then raw_keys_nowhere.  Returns the number of checks.

=cut

sub invariants_hold
{
	my ($node, $label) = @_;

	foreach my $inv (@INVARIANTS)
	{
		my ($name, $sql) = @$inv;
		my $n = $node->safe_psql('postgres', "SELECT count(*) FROM ($sql) v");
		is($n, 0, "$label: $name");
		diag(masked($node->safe_psql('postgres', "$sql LIMIT 5")))
		  if $n ne '0';
	}
	return scalar(@INVARIANTS) + raw_keys_nowhere($node, $label);
}

=pod

=item raw_keys_nowhere($node, $label)

4.  No raw key the storm knows, current or old, is anywhere in keymgmt's
tables (keys, audit_log, previous_tokens, each row cast to text) or in the
server's log: one test each, that none of them holds 20 characters in a
row of any raw key after its sk-.  The raw keys come into this process's memory
only: they are never printed, written or sent back to the server, and a
failure shows where and how many, not what.  Returns the number of tests.

=cut

sub raw_keys_nowhere
{
	my ($node, $label) = @_;

	my @raw = split /\n/,
	  $node->safe_psql('postgres',
		'SELECT raw FROM storm.raw_keys UNION ALL SELECT raw FROM storm.old_secrets'
	  );
	my @bad = grep { !/^sk-[A-Za-z0-9_-]{40,}$/ } @raw;
	is(scalar(@bad), 0,
		"$label: the storm knows "
		  . scalar(@raw)
		  . ' raw keys, each sk- and 40 or more key characters');
	# every 20 characters in a row of each, after its sk-
	my %secret;
	foreach my $raw (@raw)
	{
		$secret{ substr($raw, $_, 20) } = 1 foreach 3 .. length($raw) - 20;
	}
	@raw = ();

	my %where;
	foreach my $table (qw(keymgmt.keys keymgmt.audit_log keymgmt.previous_tokens))
	{
		$where{$table} =
		  $node->safe_psql('postgres', "SELECT t::text FROM $table t");
	}
	$where{'the server log'} = slurp_file($node->logfile);
	foreach my $place (sort keys %where)
	{
		my $hits = count_secrets($where{$place}, \%secret);
		is($hits, 0, "$label: 4: no raw key in $place ("
			  . length($where{$place}) . ' characters)');
	}
	return 1 + scalar(keys %where);
}

# The text with every run of 20 or more key characters that is not hex
# digits and hyphens alone (a token, a key_id) masked: a row shown when an
# invariant fails may hold a raw key that keymgmt should not have stored.
sub masked
{
	my ($text) = @_;
	$text =~ s{([A-Za-z0-9_-]{20,})}
			  {my $run = $1; $run =~ /[^0-9a-f-]/ ? '[' . length($run) . ' key characters]' : $run}ge;
	return $text;
}

# How many times the text holds one of the secrets (strings of 20 key
# characters).  Each occurrence lies in a run of 20 or more key characters,
# so only those runs' 20-character windows are looked up.  A run of hex
# digits and hyphens alone (a token, a key_id) is skipped unless a secret
# is of that form too (one in 10^11): a secret in a run makes the run
# hold what the secret holds.
sub count_secrets
{
	my ($text, $secret) = @_;
	my $hexlike = grep { /^[0-9a-f-]+$/ } keys %$secret;
	my $hits = 0;

	while ($text =~ /([A-Za-z0-9_-]{20,})/g)
	{
		my $run = $1;
		next if !$hexlike && $run !~ /[^0-9a-f-]/;
		foreach my $at (0 .. length($run) - 20)
		{
			$hits++ if $secret->{ substr($run, $at, 20) };
		}
	}
	return $hits;
}

=pod

=item storm_numbers($node, $label)

note() how big the storm was: keys, audit rows by action, caught errors,
rotations and their old secrets, bulk changes.

=cut

sub storm_numbers
{
	my ($node, $label) = @_;

	note "$label: "
	  . $node->safe_psql(
		'postgres', q{
		SELECT format('%s keys (%s blocked, %s in teams); audit rows: %s; caught: %s',
			(SELECT count(*) FROM keymgmt.keys),
			(SELECT count(*) FILTER (WHERE blocked) FROM keymgmt.keys),
			(SELECT count(*) FILTER (WHERE team_id IS NOT NULL) FROM keymgmt.keys),
			(SELECT string_agg(format('%s %s', action, n), ', ' ORDER BY action)
			   FROM (SELECT action, count(*) n FROM keymgmt.audit_log
					  WHERE object_type = 'key' GROUP BY action) a),
			coalesce((SELECT string_agg(format('%s %s', s, n), ', ' ORDER BY s)
			   FROM (SELECT sqlstate || '/' || op || CASE WHEN seen THEN ' (seen)' ELSE '' END s,
							count(*) n
					   FROM storm.errors GROUP BY 1) e), 'nothing'))});
	note "$label: "
	  . $node->safe_psql(
		'postgres', q{
		SELECT format('old secrets: %s (grace %s); verifying now: %s; previous_tokens rows: %s (%s in grace); '
					  || 'bulk changes: %s',
			(SELECT count(*) FROM storm.old_secrets),
			(SELECT string_agg(format('%s: %s', grace, n), ', ' ORDER BY grace)
			   FROM (SELECT grace, count(*) n FROM storm.old_secrets GROUP BY grace) g),
			(SELECT count(*) FROM storm.old_secrets o, keymgmt.verify_key(o.raw) v
			  WHERE v.status <> 'not_found'),
			(SELECT count(*) FROM keymgmt.previous_tokens),
			(SELECT count(*) FROM keymgmt.previous_tokens WHERE valid_until > now()),
			coalesce((SELECT string_agg(format('%s %s calls changed %s keys', op, n, changed), ', ' ORDER BY op)
			   FROM (SELECT op, count(*) n, sum(changed) changed FROM storm.bulk_log GROUP BY op) b),
			'none'))});
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

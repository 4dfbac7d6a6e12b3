-- Every error the extension raises itself has its own SQLSTATE, the same
-- for every function and caller.  Validation comes first (22004, 22023),
-- then the lock (42704).  (42501 is in privileges; 40001 and 55P03, which
-- PostgreSQL raises, are in the isolation specs.)
CREATE EXTENSION keymgmt;

INSERT INTO keymgmt.keys (token, key_name, key_alias, created_at, updated_at)
VALUES (encode(sha256('sk-test-errors-1'::bytea), 'hex'), 'sk-...rs-1', 'billing', now(), now());

-- the messages, once in full: PostgreSQL's style, and never the input
\set VERBOSITY default
SELECT * FROM keymgmt.block_key(NULL);
SELECT * FROM keymgmt.block_key('sk-not a key');
SELECT * FROM keymgmt.block_key('sk-test-errors-unknown');
SELECT * FROM keymgmt.block_key(repeat('0', 64));
SELECT * FROM keymgmt.generate_key(key_alias => 'billing');

\set VERBOSITY sqlstate
-- a procedure that tries one call and prints its SQLSTATE (or "ok")
CREATE FUNCTION pg_temp.sqlstate_of(call text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE call;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;

-- every admin function, every kind of bad key
SELECT f.fn, i.label, pg_temp.sqlstate_of(format('SELECT * FROM keymgmt.%s(%s)', f.fn, i.input)) AS sqlstate
FROM (VALUES ('block_key'), ('unblock_key'), ('delete_key'), ('key_info')) AS f(fn),
     (VALUES (1, 'null', 'NULL'),
             (2, 'empty', $q$''$q$),
             (3, 'prefix only', $q$'sk-'$q$),
             (4, '256 characters', $q$'sk-' || repeat('a', 253)$q$),
             (5, '10 MB', $q$repeat('a', 10 * 1024 * 1024)$q$),
             (6, 'space', $q$'sk-has space'$q$),
             (7, 'non-ascii', $q$'sk-ümlaut'$q$),
             (8, '63 hex digits', $q$repeat('a', 63)$q$),
             (9, '65 hex digits', $q$repeat('a', 65)$q$),
             (10, '64 non-hex', $q$repeat('g', 64)$q$),
             (11, 'wrong prefix', $q$'pk-abc'$q$),
             (12, 'unknown raw key', $q$'sk-test-errors-unknown'$q$),
             (13, 'unknown token', $q$repeat('0', 64)$q$),
             (14, 'longest raw key, unknown', $q$'sk-' || repeat('a', 252)$q$)) AS i(n, label, input)
ORDER BY f.fn, i.n;

-- validation comes before the transaction check: a malformed key is 22023
-- even in a read-only transaction; a good one is 25006 there
BEGIN READ ONLY;
SELECT pg_temp.sqlstate_of($$SELECT * FROM keymgmt.block_key('sk-bad key')$$) AS malformed,
       pg_temp.sqlstate_of($$SELECT * FROM keymgmt.block_key('sk-test-errors-1')$$) AS read_only,
       pg_temp.sqlstate_of($$SELECT * FROM keymgmt.unblock_key('sk-test-errors-1')$$) AS read_only_unblock,
       pg_temp.sqlstate_of($$SELECT * FROM keymgmt.delete_key('sk-test-errors-1')$$) AS read_only_delete,
       pg_temp.sqlstate_of($$SELECT * FROM keymgmt.generate_key()$$) AS read_only_generate,
       pg_temp.sqlstate_of($$SELECT * FROM keymgmt.key_info('sk-test-errors-1')$$) AS key_info_reads,
       pg_temp.sqlstate_of($$SELECT * FROM keymgmt.verify_key('sk-test-errors-1')$$) AS verify_reads;
ROLLBACK;

-- 23505 for a taken alias
SELECT pg_temp.sqlstate_of($$SELECT * FROM keymgmt.generate_key(key_alias => 'billing')$$) AS taken_alias;

-- none of the failed calls wrote anything
SELECT count(*) AS keys, (SELECT count(*) FROM keymgmt.audit_log) AS audit_rows FROM keymgmt.keys;

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

-- keymgmt: one SQLSTATE per cause, the same for every caller.
--
--   22004  the key is NULL
--   22023  the key is malformed or too long
--   42704  the key does not exist
--   23505  key_alias already taken
--   25006  called in a read-only transaction
--   42501  no EXECUTE (see privileges.sql)
--
-- And no message, detail or hint ever repeats the key it was given: not the
-- raw key, and never more than the first 12 hex digits of a token.

BEGIN;
SELECT plan(118);

-- the actors used below are global admins, so that the checks of who may
-- change which key let their changes through (authority is tested in
-- authority.sql)
INSERT INTO keymgmt.admins (user_id) VALUES ('alice');

-- keys to work on, imported the way LiteLLM tokens are
INSERT INTO keymgmt.keys (token, key_name, key_alias, blocked, created_at, updated_at) VALUES
	(encode(sha256('sk-tap-err-one'::bytea), 'hex'), 'sk-...-one', NULL, false, now(), now()),
	(encode(sha256('sk-tap-err-blocked'::bytea), 'hex'), 'sk-...cked', NULL, true, now(), now());

-- The admin functions, each called with one argument.
CREATE TEMP TABLE admin_function (name text) ON COMMIT DROP;
INSERT INTO admin_function VALUES ('block_key'), ('unblock_key'), ('delete_key'), ('key_info');

-- Malformed keys: a raw key is "sk-" and 1 to 252 of [A-Za-z0-9_-], a token
-- is exactly 64 hex digits; anything else is 22023.
CREATE TEMP TABLE malformed (n int, label text, input text) ON COMMIT DROP;
INSERT INTO malformed VALUES
	(1, 'the empty string', ''),
	(2, 'sk- with nothing after it', 'sk-'),
	(3, 'sk- and 253 characters (one too many)', 'sk-' || repeat('a', 253)),
	(4, 'a 10 MB string', repeat('a', 10 * 1024 * 1024)),
	(5, 'a space in a raw key', 'sk-has space'),
	(6, 'a non-ASCII letter in a raw key', 'sk-ümlaut'),
	(7, '63 hex digits', repeat('ab', 31) || 'c'),
	(8, '65 hex digits', repeat('ab', 32) || 'c'),
	(9, 'another prefix', 'pk-abc');

-- Well-formed keys that do not exist.
CREATE TEMP TABLE unknown (n int, label text, input text) ON COMMIT DROP;
INSERT INTO unknown VALUES
	(1, 'an unknown raw key', 'sk-tap-unknown-key-0001'),
	(2, 'an unknown token', encode(sha256('sk-tap-unknown'::bytea), 'hex'));

-- The error a statement raises, in parts, and as one text.
CREATE FUNCTION pg_temp.error_parts(stmt text,
	OUT state text, OUT message text, OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
		detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END
$$;
CREATE FUNCTION pg_temp.error_of(stmt text) RETURNS text LANGUAGE sql AS $$
	SELECT CASE WHEN state IS NOT NULL THEN concat_ws(' ', state, message, detail, hint) END
	  FROM pg_temp.error_parts(stmt)
$$;

-- ---------------------------------------------------------------------------
-- 22004: a NULL key, in every function that takes one.
-- ---------------------------------------------------------------------------
SELECT throws_ok($$SELECT keymgmt.block_key(NULL)$$, '22004', NULL, 'block_key(NULL) raises 22004');
SELECT throws_ok($$SELECT keymgmt.block_key(NULL, 'alice')$$, '22004', NULL, 'block_key(NULL, actor) raises 22004');
SELECT throws_ok($$SELECT keymgmt.unblock_key(NULL)$$, '22004', NULL, 'unblock_key(NULL) raises 22004');
SELECT throws_ok($$SELECT keymgmt.delete_key(NULL)$$, '22004', NULL, 'delete_key(NULL) raises 22004');
SELECT throws_ok($$SELECT keymgmt.key_info(NULL)$$, '22004', NULL, 'key_info(NULL) raises 22004');
SELECT throws_ok($$SELECT * FROM keymgmt.verify_key(NULL)$$, '22004', NULL, 'verify_key(NULL) raises 22004');

-- ---------------------------------------------------------------------------
-- 22023: malformed keys, in every admin function.
-- (verify_key answers status 'malformed' instead: see audit.sql.)
-- ---------------------------------------------------------------------------
SELECT throws_ok(
	format('SELECT keymgmt.%I(input) FROM malformed WHERE n = %s', f.name, m.n),
	'22023', NULL, format('%s(%s) raises 22023', f.name, m.label))
  FROM admin_function f CROSS JOIN malformed m
 ORDER BY m.n, f.name;

-- the 10 MB string once more, as an in-memory value rather than a stored one
SELECT throws_ok($$SELECT keymgmt.block_key(repeat('a', 10 * 1024 * 1024))$$, '22023', NULL,
	'block_key(repeat(''a'', 10 MB)) raises 22023');
SELECT throws_ok($$SELECT keymgmt.unblock_key(repeat('a', 10 * 1024 * 1024))$$, '22023', NULL,
	'unblock_key(repeat(''a'', 10 MB)) raises 22023');
SELECT throws_ok($$SELECT keymgmt.delete_key(repeat('a', 10 * 1024 * 1024))$$, '22023', NULL,
	'delete_key(repeat(''a'', 10 MB)) raises 22023');
SELECT throws_ok($$SELECT keymgmt.key_info(repeat('a', 10 * 1024 * 1024))$$, '22023', NULL,
	'key_info(repeat(''a'', 10 MB)) raises 22023');

-- the edges that are well-formed: they get as far as the lookup (42704)
SELECT throws_ok($$SELECT keymgmt.block_key('sk-a')$$, '42704', NULL,
	'sk- and 1 character is well-formed (42704, not 22023)');
SELECT throws_ok($$SELECT keymgmt.block_key('sk-' || repeat('a', 252))$$, '42704', NULL,
	'sk- and 252 characters is well-formed (42704, not 22023)');
SELECT throws_ok($$SELECT keymgmt.block_key('sk-Az09_-')$$, '42704', NULL,
	'every character class of [A-Za-z0-9_-] is allowed in a raw key');
SELECT throws_ok($$SELECT keymgmt.block_key(upper(encode(sha256('sk-tap-unknown'::bytea), 'hex')))$$, '42704', NULL,
	'an uppercase token is well-formed (42704, not 22023)');

-- ---------------------------------------------------------------------------
-- 42704: well-formed keys that do not exist.
-- ---------------------------------------------------------------------------
SELECT throws_ok(
	format('SELECT keymgmt.%I(input) FROM unknown WHERE n = %s', f.name, u.n),
	'42704', NULL, format('%s(%s) raises 42704', f.name, u.label))
  FROM admin_function f CROSS JOIN unknown u
 ORDER BY u.n, f.name;

-- a deleted key is gone: 42704 for the next change, not a success with no row
SELECT lives_ok($$SELECT keymgmt.delete_key('sk-tap-err-one')$$, 'a key is deleted');
SELECT throws_ok($$SELECT keymgmt.delete_key('sk-tap-err-one')$$, '42704', NULL,
	'deleting it again raises 42704');
SELECT throws_ok($$SELECT keymgmt.block_key('sk-tap-err-one')$$, '42704', NULL,
	'blocking a deleted key raises 42704');

-- ---------------------------------------------------------------------------
-- Messages never repeat the input.  ('' and 'sk-' are left out of the
-- check for the input itself: any text explaining the format contains them.)
-- ---------------------------------------------------------------------------
SELECT ok(
	e IS NOT NULL
	AND (length(m.input) <= 3 OR strpos(e, m.input) = 0)
	AND e !~ '[0-9A-Fa-f]{13}',
	format('%s(%s): the error does not repeat the input', f.name, m.label))
  FROM admin_function f CROSS JOIN malformed m,
	   LATERAL pg_temp.error_of(format('SELECT keymgmt.%I(input) FROM malformed WHERE n = %s', f.name, m.n)) e
 ORDER BY m.n, f.name;

SELECT ok(
	e IS NOT NULL
	AND strpos(e, u.input) = 0
	AND e !~ '[0-9A-Fa-f]{13}',
	format('%s(%s): the error names neither the raw key nor more than 12 hex digits of the token', f.name, u.label))
  FROM admin_function f CROSS JOIN unknown u,
	   LATERAL pg_temp.error_of(format('SELECT keymgmt.%I(input) FROM unknown WHERE n = %s', f.name, u.n)) e
 ORDER BY u.n, f.name;

-- and they follow PostgreSQL's style: a lowercase message with no trailing
-- period; a detail or hint, if any, is a sentence
SELECT ok(
	message ~ '^[a-z]' AND message !~ '\.$'
	AND (detail = '' OR detail ~ '^[A-Z].*\.$')
	AND (hint = '' OR hint ~ '^[A-Z].*\.$'),
	format('the %s error is in PostgreSQL''s style', state))
  FROM unnest(ARRAY[
		$$SELECT keymgmt.block_key(NULL)$$,
		$$SELECT keymgmt.block_key('pk-abc')$$,
		$$SELECT keymgmt.block_key('sk-tap-unknown-key')$$]) WITH ORDINALITY AS t(stmt, n),
	   LATERAL pg_temp.error_parts(stmt)
 ORDER BY n;

-- ---------------------------------------------------------------------------
-- 23505: a key_alias that is taken.
-- ---------------------------------------------------------------------------
INSERT INTO keymgmt.keys (token, key_name, key_alias, created_at, updated_at)
VALUES (encode(sha256('sk-tap-err-alias'::bytea), 'hex'), 'sk-...lias', 'tap-alias', now(), now());

SELECT throws_ok($$SELECT * FROM keymgmt.generate_key(key_alias => 'tap-alias')$$, '23505', NULL,
	'generate_key with a key_alias that is taken raises 23505');
SELECT lives_ok($$SELECT * FROM keymgmt.generate_key(key_alias => 'tap-alias-2')$$,
	'generate_key with a free key_alias works');
SELECT throws_ok($$SELECT * FROM keymgmt.generate_key(key_alias => 'tap-alias-2')$$, '23505', NULL,
	'the alias generate_key just used is taken too');
SELECT is((SELECT count(*) FROM keymgmt.audit_log WHERE action = 'created'
			 AND updated_values->>'key_alias' LIKE 'tap-alias%'),
	1::bigint, 'only the key that was created has a created audit row');

-- ---------------------------------------------------------------------------
-- 25006: a read-only transaction (as on a standby) refuses every change but
-- still reads and verifies.  This stays on until the ROLLBACK, so it comes last.
-- ---------------------------------------------------------------------------
SET LOCAL transaction_read_only = on;

SELECT throws_ok($$SELECT * FROM keymgmt.generate_key()$$, '25006', NULL,
	'generate_key in a read-only transaction raises 25006');
SELECT throws_ok($$SELECT keymgmt.block_key('sk-tap-err-alias')$$, '25006', NULL,
	'block_key in a read-only transaction raises 25006');
SELECT throws_ok($$SELECT keymgmt.unblock_key('sk-tap-err-blocked')$$, '25006', NULL,
	'unblock_key in a read-only transaction raises 25006');
SELECT throws_ok($$SELECT keymgmt.delete_key('sk-tap-err-alias')$$, '25006', NULL,
	'delete_key in a read-only transaction raises 25006');
SELECT is((keymgmt.key_info('sk-tap-err-alias')).key_alias, 'tap-alias',
	'key_info works in a read-only transaction');
SELECT results_eq($$SELECT status FROM keymgmt.verify_key('sk-tap-err-blocked')$$,
	ARRAY['blocked'], 'verify_key works in a read-only transaction');

SELECT * FROM finish();
ROLLBACK;

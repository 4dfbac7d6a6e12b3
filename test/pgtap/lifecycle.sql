-- keymgmt 1.1's lifecycle functions: every signature, every SQLSTATE the
-- SPEC lists for them, and the audit rows they write.
--
-- Runs as a superuser in a database that already has pgtap and keymgmt;
-- everything happens in one transaction that is rolled back.

BEGIN;
SELECT plan(88);

INSERT INTO keymgmt.admins (user_id, team_id) VALUES ('tap-root', NULL), ('tap-team', 'tap-t');
CREATE FUNCTION pg_temp.t(raw text) RETURNS text LANGUAGE sql
AS $$ SELECT encode(sha256(convert_to(raw, 'UTF8')), 'hex') $$;

-- ---------------------------------------------------------------------------
-- Signatures, argument names and results, as the SPEC gives them.
-- ---------------------------------------------------------------------------
SELECT has_function('keymgmt', 'update_key', ARRAY['text', 'jsonb', 'text'], 'update_key(key, changes, actor) exists');
SELECT has_function('keymgmt', 'rotate_key', ARRAY['text', 'interval', 'text'], 'rotate_key(key, grace, actor) exists');
SELECT has_function('keymgmt', 'end_grace', ARRAY['text', 'text'], 'end_grace(key, actor) exists');
SELECT has_function('keymgmt', 'list_keys', ARRAY['text', 'text', 'text', 'text', 'uuid', 'integer', 'text'],
	'list_keys(user_id, team_id, organization_id, status, after, max_rows, actor) exists');
SELECT has_function('keymgmt', 'block_keys', ARRAY['text', 'text', 'text', 'text'], 'block_keys(user_id, team_id, organization_id, actor) exists');
SELECT has_function('keymgmt', 'unblock_keys', ARRAY['text', 'text', 'text', 'text'], 'unblock_keys(user_id, team_id, organization_id, actor) exists');
SELECT has_function('keymgmt', 'import_key',
	ARRAY['text', 'text', 'text', 'text', 'text', 'text', 'boolean', 'timestamp with time zone', 'jsonb', 'text'],
	'import_key(key, key_name, key_alias, user_id, team_id, organization_id, blocked, expires, metadata, actor) exists');
SELECT function_returns('keymgmt', 'update_key', ARRAY['text', 'jsonb', 'text'], 'keymgmt.keys', 'update_key returns keymgmt.keys');
SELECT function_returns('keymgmt', 'end_grace', ARRAY['text', 'text'], 'integer', 'end_grace returns integer');
SELECT function_returns('keymgmt', 'list_keys', ARRAY['text', 'text', 'text', 'text', 'uuid', 'integer', 'text'],
	'setof keymgmt.keys', 'list_keys returns SETOF keymgmt.keys');
SELECT function_returns('keymgmt', 'block_keys', ARRAY['text', 'text', 'text', 'text'], 'setof keymgmt.keys', 'block_keys returns SETOF keymgmt.keys');
SELECT function_returns('keymgmt', 'unblock_keys', ARRAY['text', 'text', 'text', 'text'], 'setof keymgmt.keys', 'unblock_keys returns SETOF keymgmt.keys');
SELECT function_returns('keymgmt', 'import_key',
	ARRAY['text', 'text', 'text', 'text', 'text', 'text', 'boolean', 'timestamp with time zone', 'jsonb', 'text'],
	'keymgmt.keys', 'import_key returns keymgmt.keys');
SELECT is(pg_get_function_result('keymgmt.rotate_key(text, interval, text)'::regprocedure),
	'TABLE(key text, token text, key_name text, key_id uuid, previous_valid_until timestamp with time zone)',
	'rotate_key returns TABLE(key, token, key_name, key_id, previous_valid_until)');
SELECT results_eq(
	$$SELECT p.proname::text COLLATE "default", pg_get_function_arguments(p.oid) COLLATE "default" FROM pg_proc p
	  WHERE p.pronamespace = 'keymgmt'::regnamespace
	    AND p.proname IN ('update_key', 'rotate_key', 'end_grace', 'list_keys', 'block_keys',
	                      'unblock_keys', 'import_key') ORDER BY 1$$,
	$$VALUES
	  ('block_keys', 'user_id text DEFAULT NULL::text, team_id text DEFAULT NULL::text, organization_id text DEFAULT NULL::text, actor text DEFAULT NULL::text'),
	  ('end_grace', 'key text, actor text DEFAULT NULL::text'),
	  ('import_key', 'key text, key_name text DEFAULT NULL::text, key_alias text DEFAULT NULL::text, user_id text DEFAULT NULL::text, team_id text DEFAULT NULL::text, organization_id text DEFAULT NULL::text, blocked boolean DEFAULT false, expires timestamp with time zone DEFAULT NULL::timestamp with time zone, metadata jsonb DEFAULT ''{}''::jsonb, actor text DEFAULT NULL::text'),
	  ('list_keys', 'user_id text DEFAULT NULL::text, team_id text DEFAULT NULL::text, organization_id text DEFAULT NULL::text, status text DEFAULT NULL::text, after uuid DEFAULT NULL::uuid, max_rows integer DEFAULT 100, actor text DEFAULT NULL::text'),
	  ('rotate_key', 'key text, grace interval DEFAULT ''00:00:00''::interval, actor text DEFAULT NULL::text'),
	  ('unblock_keys', 'user_id text DEFAULT NULL::text, team_id text DEFAULT NULL::text, organization_id text DEFAULT NULL::text, actor text DEFAULT NULL::text'),
	  ('update_key', 'key text, changes jsonb, actor text DEFAULT NULL::text')$$,
	'the new functions have the SPEC''s argument names and defaults');
SELECT is_empty(
	$$SELECT p.oid::regprocedure FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
	  WHERE p.pronamespace = 'keymgmt'::regnamespace AND a.grantee = 0$$,
	'no function is granted to PUBLIC');
SELECT ok(obj_description(p.oid, 'pg_proc') IS NOT NULL, p.proname || ' has a comment')
FROM pg_proc p WHERE p.pronamespace = 'keymgmt'::regnamespace
  AND p.proname IN ('update_key', 'rotate_key', 'end_grace', 'list_keys', 'block_keys', 'unblock_keys', 'import_key')
ORDER BY p.proname;

-- fixtures
SELECT keymgmt.import_key('sk-tap-life-one', key_alias => 'tap-one', user_id => 'tap-owner', team_id => 'tap-t') IS NOT NULL AS made;
SELECT keymgmt.import_key('sk-tap-life-two', key_alias => 'tap-two', team_id => 'tap-t') IS NOT NULL AS made;
SELECT key_id AS kid FROM keymgmt.keys WHERE key_alias = 'tap-one' \gset

-- ---------------------------------------------------------------------------
-- 22004: a NULL key, changes, grace, max_rows, blocked, key_name for a token.
-- ---------------------------------------------------------------------------
SELECT throws_ok($$SELECT keymgmt.update_key(NULL, '{"user_id": "x"}')$$, '22004', 'key must not be null', 'update_key: NULL key is 22004');
SELECT throws_ok($$SELECT keymgmt.update_key('sk-tap-life-one', NULL)$$, '22004', 'changes must not be null', 'update_key: NULL changes is 22004');
SELECT throws_ok($$SELECT * FROM keymgmt.rotate_key(NULL)$$, '22004', 'key must not be null', 'rotate_key: NULL key is 22004');
SELECT throws_ok($$SELECT * FROM keymgmt.rotate_key('sk-tap-life-one', NULL)$$, '22004', 'grace must not be null', 'rotate_key: NULL grace is 22004');
SELECT throws_ok($$SELECT keymgmt.end_grace(NULL)$$, '22004', 'key must not be null', 'end_grace: NULL key is 22004');
SELECT throws_ok($$SELECT * FROM keymgmt.list_keys(max_rows => NULL)$$, '22004', 'max_rows must not be null', 'list_keys: NULL max_rows is 22004');
SELECT throws_ok($$SELECT keymgmt.import_key(NULL)$$, '22004', 'key must not be null', 'import_key: NULL key is 22004');
SELECT throws_ok($$SELECT keymgmt.import_key(pg_temp.t('sk-tap-life-x'))$$, '22004', NULL, 'import_key: a token without key_name is 22004');
SELECT throws_ok($$SELECT keymgmt.import_key('sk-tap-life-x', blocked => NULL)$$, '22004', 'blocked must not be null', 'import_key: NULL blocked is 22004');

-- ---------------------------------------------------------------------------
-- 22023: malformed keys and arguments.
-- ---------------------------------------------------------------------------
SELECT throws_ok($$SELECT keymgmt.update_key('sk-bad key', '{"user_id": "x"}')$$, '22023', 'malformed key', 'update_key: malformed key is 22023');
SELECT throws_ok($$SELECT keymgmt.update_key('sk-tap-life-one', '{}')$$, '22023', NULL, 'update_key: no field is 22023');
SELECT throws_ok($$SELECT keymgmt.update_key('sk-tap-life-one', '[]')$$, '22023', NULL, 'update_key: not an object is 22023');
SELECT throws_ok($$SELECT keymgmt.update_key('sk-tap-life-one', '{"blocked": false}')$$, '22023', NULL, 'update_key: blocked is 22023');
SELECT throws_ok($$SELECT keymgmt.update_key('sk-tap-life-one', '{"nope": 1}')$$, '22023', 'changes names unknown field "nope"', 'update_key: an unknown field is 22023, named');
SELECT throws_ok($$SELECT keymgmt.update_key('sk-tap-life-one', '{"metadata": null}')$$, '22023', 'metadata cannot be null', 'update_key: metadata null is 22023');
SELECT throws_ok($$SELECT keymgmt.update_key('sk-tap-life-one', '{"expires": "soon"}')$$, '22023', NULL, 'update_key: an expires that does not parse is 22023');
SELECT throws_ok($$SELECT keymgmt.update_key('sk-tap-life-one', '{"expires": true}')$$, '22023', NULL, 'update_key: an expires that is no string is 22023');
SELECT throws_ok($$SELECT keymgmt.update_key('sk-tap-life-one', '{"user_id": ["x"]}')$$, '22023', NULL, 'update_key: a user_id that is no string is 22023');
SELECT throws_ok($$SELECT * FROM keymgmt.rotate_key('sk-tap-life-one', '-1 minute')$$, '22023', 'grace must not be negative', 'rotate_key: negative grace is 22023');
SELECT throws_ok(format('SELECT * FROM keymgmt.rotate_key(%L)', '{' || :'kid' || '}'), '22023', 'malformed key', 'rotate_key: a non-canonical key_id is 22023');
SELECT throws_ok($$SELECT keymgmt.end_grace('sk-')$$, '22023', 'malformed key', 'end_grace: malformed key is 22023');
SELECT throws_ok($$SELECT * FROM keymgmt.list_keys(status => 'gone')$$, '22023', NULL, 'list_keys: an unknown status is 22023');
SELECT throws_ok($$SELECT * FROM keymgmt.list_keys(max_rows => 0)$$, '22023', NULL, 'list_keys: max_rows 0 is 22023');
SELECT throws_ok($$SELECT * FROM keymgmt.list_keys(max_rows => 1001)$$, '22023', NULL, 'list_keys: max_rows 1001 is 22023');
SELECT throws_ok($$SELECT * FROM keymgmt.block_keys()$$, '22023', NULL, 'block_keys: no filter is 22023');
SELECT throws_ok($$SELECT * FROM keymgmt.unblock_keys()$$, '22023', NULL, 'unblock_keys: no filter is 22023');
SELECT throws_ok($$SELECT * FROM keymgmt.block_keys(team_id => E'\x01')$$, '22023', NULL, 'block_keys: a control character in a filter is 22023');
SELECT throws_ok($$SELECT keymgmt.import_key('sk-bad key')$$, '22023', 'malformed key', 'import_key: malformed key is 22023');
SELECT throws_ok(format('SELECT keymgmt.import_key(%L, %L)', :'kid', 'sk-...abcd'), '22023', 'malformed key', 'import_key: a key_id is no key to import (22023)');
SELECT throws_ok($$SELECT keymgmt.import_key(pg_temp.t('sk-tap-life-x'), 'sk-...abcde')$$, '22023', NULL, 'import_key: a key_name of the wrong form is 22023');
SELECT throws_ok($$SELECT keymgmt.import_key(pg_temp.t('sk-tap-life-x'), 'my key')$$, '22023', NULL, 'import_key: a key_name that is no display form is 22023');
SELECT throws_ok($$SELECT keymgmt.import_key('sk-tap-life-x', metadata => '1')$$, '22023', 'metadata must be a JSON object', 'import_key: metadata not an object is 22023');
SELECT throws_ok($$SELECT keymgmt.import_key('sk-tap-life-x', user_id => 'Bearer sk-' || repeat('z', 25))$$, '22023', NULL, 'import_key: a user_id holding a raw key is 22023');

-- ---------------------------------------------------------------------------
-- 42704: no such key (nor a previous secret in its grace).
-- ---------------------------------------------------------------------------
SELECT throws_ok($$SELECT keymgmt.update_key(repeat('a', 64), '{"user_id": "x"}')$$, '42704', NULL, 'update_key: unknown key is 42704');
SELECT throws_ok($$SELECT * FROM keymgmt.rotate_key('00000000-0000-7000-8000-000000000001')$$, '42704', NULL, 'rotate_key: unknown key_id is 42704');
SELECT throws_ok($$SELECT keymgmt.end_grace('sk-tap-life-none')$$, '42704', NULL, 'end_grace: unknown key is 42704');

-- ---------------------------------------------------------------------------
-- 42501: the actor may not.
-- ---------------------------------------------------------------------------
SELECT throws_ok($$SELECT keymgmt.update_key('sk-tap-life-one', '{"user_id": "x"}', 'tap-owner')$$, '42501', NULL, 'update_key: the owner may not update (42501)');
SELECT throws_ok($$SELECT keymgmt.update_key('sk-tap-life-one', '{"team_id": "elsewhere"}', 'tap-team')$$, '42501', NULL, 'update_key: moving a key where the actor has no authority is 42501');
SELECT throws_ok($$SELECT * FROM keymgmt.rotate_key('sk-tap-life-two', actor => 'tap-owner')$$, '42501', NULL, 'rotate_key: another''s key is 42501');
SELECT throws_ok($$SELECT keymgmt.end_grace('sk-tap-life-two', 'tap-stranger')$$, '42501', NULL, 'end_grace: a stranger is 42501');
SELECT throws_ok($$SELECT * FROM keymgmt.block_keys(team_id => 'tap-t', actor => 'tap-stranger')$$, '42501', NULL, 'block_keys: a stranger is 42501');
SELECT count(*) AS blocked FROM keymgmt.block_keys(user_id => 'tap-owner');
SELECT throws_ok($$SELECT * FROM keymgmt.unblock_keys(user_id => 'tap-owner', actor => 'tap-owner')$$, '42501', NULL, 'unblock_keys: an owner may not unblock (42501)');
SELECT count(*) AS unblocked FROM keymgmt.unblock_keys(user_id => 'tap-owner');
SELECT throws_ok($$SELECT keymgmt.import_key('sk-tap-life-x', team_id => 'other', actor => 'tap-team')$$, '42501', NULL, 'import_key: a key of another team is 42501');
SET LOCAL keymgmt.require_actor = on;
SELECT throws_ok($$SELECT * FROM keymgmt.list_keys()$$, '42501', NULL, 'list_keys: no actor under require_actor is 42501');
SELECT throws_ok($$SELECT * FROM keymgmt.block_keys(team_id => 'tap-t')$$, '42501', NULL, 'block_keys: no actor under require_actor is 42501');
SET LOCAL keymgmt.require_actor = off;
SELECT is((SELECT count(*) FROM keymgmt.list_keys(actor => 'tap-stranger')), 0::bigint, 'list_keys: a stranger sees no key');
SELECT is((SELECT count(*) FROM keymgmt.list_keys(actor => 'tap-owner')), 1::bigint, 'list_keys: an owner sees its own key');
SELECT is((SELECT count(*) FROM keymgmt.list_keys(actor => 'tap-team')), 2::bigint, 'list_keys: a team admin sees its team''s keys');

-- ---------------------------------------------------------------------------
-- 23505: an alias taken, a token that exists or is a previous secret in grace.
-- ---------------------------------------------------------------------------
SELECT throws_ok($$SELECT keymgmt.update_key('sk-tap-life-one', '{"key_alias": "tap-two"}')$$, '23505', 'key alias "tap-two" is already taken', 'update_key: a taken alias is 23505');
SELECT throws_ok($$SELECT keymgmt.import_key('sk-tap-life-one')$$, '23505', NULL, 'import_key: an existing key is 23505');
SELECT throws_ok($$SELECT keymgmt.import_key(pg_temp.t('sk-tap-life-one'), 'sk-...-one')$$, '23505', NULL, 'import_key: an existing token is 23505');
SELECT throws_ok($$SELECT keymgmt.import_key('sk-tap-life-three', key_alias => 'tap-one')$$, '23505', NULL, 'import_key: a taken alias is 23505');

-- ---------------------------------------------------------------------------
-- 25006: read-only transactions.
-- ---------------------------------------------------------------------------
SAVEPOINT ro;
SET TRANSACTION READ ONLY;
SELECT throws_ok($$SELECT keymgmt.update_key('sk-tap-life-one', '{"user_id": "x"}')$$, '25006', NULL, 'update_key in a read-only transaction is 25006');
ROLLBACK TO SAVEPOINT ro;

-- ---------------------------------------------------------------------------
-- The audit rows of a key's life, in order, by key_id.
-- ---------------------------------------------------------------------------
SELECT max(id) AS before FROM keymgmt.audit_log \gset
SELECT lives_ok($$SELECT keymgmt.update_key('sk-tap-life-one', '{"metadata": {"a": 1}}', 'tap-team')$$, 'update_key as the team admin');
SELECT lives_ok($$SELECT * FROM keymgmt.rotate_key('sk-tap-life-one', '1 hour', 'tap-owner')$$, 'rotate_key as the owner');
SELECT is(keymgmt.end_grace(:'kid', 'tap-owner'), 1, 'end_grace ends the one previous secret');
SELECT is(keymgmt.end_grace(:'kid', 'tap-owner'), 0, 'end_grace again ends none');
SELECT lives_ok($$SELECT keymgmt.block_keys(user_id => 'tap-owner', actor => 'tap-owner')$$, 'block_keys of the owner''s keys');
SELECT lives_ok($$SELECT keymgmt.unblock_keys(team_id => 'tap-t', actor => 'tap-team')$$, 'unblock_keys of the team');
SELECT lives_ok(format('SELECT keymgmt.delete_key(%L)', :'kid'), 'delete_key by key_id');
SELECT results_eq(
	$$SELECT action, changed_by, object_type, CASE action WHEN 'rotated' THEN NULL ELSE updated_values END FROM keymgmt.audit_log
	  WHERE id > $$ || :before || $$ AND key_id = '$$ || :'kid' || $$' ORDER BY id$$,
	$$VALUES ('updated', 'tap-team', 'key', '{"metadata": {"a": 1}}'::jsonb),
	         ('rotated', 'tap-owner', 'key', NULL),
	         ('grace_ended', 'tap-owner', 'key', '{"previous_secrets": 1}'),
	         ('blocked', 'tap-owner', 'key', '{"blocked": true}'),
	         ('unblocked', 'tap-team', 'key', '{"blocked": false}'),
	         ('deleted', current_user::text COLLATE "default", 'key', NULL)$$,
	'one audit row per change, with its action, actor and what changed');
SELECT ok((SELECT updated_values ?& ARRAY['token', 'key_name'] AND NOT updated_values ? 'key'
           FROM keymgmt.audit_log WHERE key_id = :'kid' AND action = 'rotated'),
	'rotated records the new token and key_name, never the raw key');
SELECT ok((SELECT object_id = pg_temp.t('sk-tap-life-one') FROM keymgmt.audit_log
           WHERE key_id = :'kid' AND action = 'rotated'),
	'rotated names the key by its old token');
SELECT is_empty($$SELECT 1 FROM keymgmt.previous_tokens WHERE key_id = '$$ || :'kid' || $$'$$,
	'deleting the key deleted its previous secrets');
SELECT is_empty($$SELECT 1 FROM keymgmt.audit_log l WHERE l::text LIKE '%sk-tap-life%'$$,
	'no raw key anywhere in the audit log');

SELECT * FROM finish();
ROLLBACK;

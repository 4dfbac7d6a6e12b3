-- keymgmt: who may call what.
--
-- Nothing is granted to PUBLIC.  A role needs EXECUTE on a function to call
-- it, and needs nothing on the tables: each function switches to the
-- table owner's rights in C, so a role that may block keys can change them
-- only through block_key, which audits, and cannot touch the tables directly.
--
-- Roles are created inside the transaction and vanish with its ROLLBACK.

BEGIN;
SELECT plan(46);

-- the actors used below are global admins, so that the checks of who may
-- change which key let their changes through (authority is tested in
-- authority.sql)
INSERT INTO keymgmt.admins (user_id) VALUES ('alice');

-- a key to work on, imported the way LiteLLM tokens are
INSERT INTO keymgmt.keys (token, key_name, created_at, updated_at)
VALUES (encode(sha256('sk-tap-priv-one'::bytea), 'hex'), 'sk-...-one', now(), now());

-- ---------------------------------------------------------------------------
-- PUBLIC has nothing.
-- ---------------------------------------------------------------------------
SELECT function_privs_are('keymgmt', 'generate_key',
	ARRAY['text', 'text', 'text', 'text', 'timestamptz', 'jsonb', 'text'], 'public', '{}',
	'PUBLIC may not execute generate_key');
SELECT function_privs_are('keymgmt', 'block_key', ARRAY['text', 'text'], 'public', '{}',
	'PUBLIC may not execute block_key');
SELECT function_privs_are('keymgmt', 'unblock_key', ARRAY['text', 'text'], 'public', '{}',
	'PUBLIC may not execute unblock_key');
SELECT function_privs_are('keymgmt', 'delete_key', ARRAY['text', 'text'], 'public', '{}',
	'PUBLIC may not execute delete_key');
SELECT function_privs_are('keymgmt', 'key_info', ARRAY['text'], 'public', '{}',
	'PUBLIC may not execute key_info');
SELECT function_privs_are('keymgmt', 'verify_key', ARRAY['text'], 'public', '{}',
	'PUBLIC may not execute verify_key');
SELECT table_privs_are('keymgmt', 'keys', 'public', '{}',
	'PUBLIC has no privilege on keymgmt.keys');
SELECT table_privs_are('keymgmt', 'audit_log', 'public', '{}',
	'PUBLIC has no privilege on keymgmt.audit_log');
SELECT sequence_privs_are('keymgmt', 'audit_log_id_seq', 'public', '{}',
	'PUBLIC has no privilege on keymgmt.audit_log_id_seq');

-- ---------------------------------------------------------------------------
-- A role with no grants at all: 42501 from every function, no table access.
-- ---------------------------------------------------------------------------
CREATE ROLE keymgmt_tap_nobody NOLOGIN;

SELECT function_privs_are('keymgmt', 'block_key', ARRAY['text', 'text'], 'keymgmt_tap_nobody', '{}',
	'a new role may not execute block_key');
SELECT table_privs_are('keymgmt', 'keys', 'keymgmt_tap_nobody', '{}',
	'a new role has no privilege on keymgmt.keys');

SET LOCAL ROLE keymgmt_tap_nobody;

SELECT throws_ok($$SELECT * FROM keymgmt.generate_key()$$, '42501',
	NULL, 'a role without EXECUTE gets 42501 from generate_key');
SELECT throws_ok($$SELECT keymgmt.block_key('sk-tap-priv-one')$$, '42501',
	NULL, 'a role without EXECUTE gets 42501 from block_key');
SELECT throws_ok($$SELECT keymgmt.unblock_key('sk-tap-priv-one')$$, '42501',
	NULL, 'a role without EXECUTE gets 42501 from unblock_key');
SELECT throws_ok($$SELECT keymgmt.delete_key('sk-tap-priv-one')$$, '42501',
	NULL, 'a role without EXECUTE gets 42501 from delete_key');
SELECT throws_ok($$SELECT keymgmt.key_info('sk-tap-priv-one')$$, '42501',
	NULL, 'a role without EXECUTE gets 42501 from key_info');
SELECT throws_ok($$SELECT * FROM keymgmt.verify_key('sk-tap-priv-one')$$, '42501',
	NULL, 'a role without EXECUTE gets 42501 from verify_key');
SELECT throws_ok($$SELECT * FROM keymgmt.keys$$, '42501',
	NULL, 'a role without grants cannot SELECT keymgmt.keys');
SELECT throws_ok($$SELECT * FROM keymgmt.audit_log$$, '42501',
	NULL, 'a role without grants cannot SELECT keymgmt.audit_log');

RESET ROLE;

-- ---------------------------------------------------------------------------
-- A role granted EXECUTE on block_key only: it can block, nothing else.
-- ---------------------------------------------------------------------------
CREATE ROLE keymgmt_tap_blocker NOLOGIN;
GRANT EXECUTE ON FUNCTION keymgmt.block_key(text, text) TO keymgmt_tap_blocker;

SELECT function_privs_are('keymgmt', 'block_key', ARRAY['text', 'text'], 'keymgmt_tap_blocker', '{EXECUTE}',
	'the blocker may execute block_key');
SELECT function_privs_are('keymgmt', 'unblock_key', ARRAY['text', 'text'], 'keymgmt_tap_blocker', '{}',
	'the blocker may not execute unblock_key');
SELECT table_privs_are('keymgmt', 'keys', 'keymgmt_tap_blocker', '{}',
	'the blocker has no privilege on keymgmt.keys');
SELECT table_privs_are('keymgmt', 'audit_log', 'keymgmt_tap_blocker', '{}',
	'the blocker has no privilege on keymgmt.audit_log');

SET LOCAL ROLE keymgmt_tap_blocker;

SELECT lives_ok($$SELECT keymgmt.block_key('sk-tap-priv-one', 'alice')$$,
	'the blocker can block a key through block_key, without any table privilege');
SELECT is((keymgmt.block_key('sk-tap-priv-one')).blocked, true,
	'block_key returns the blocked row to the blocker');

SELECT throws_ok($$SELECT keymgmt.unblock_key('sk-tap-priv-one')$$, '42501',
	NULL, 'the blocker gets 42501 from unblock_key');
SELECT throws_ok($$SELECT keymgmt.delete_key('sk-tap-priv-one')$$, '42501',
	NULL, 'the blocker gets 42501 from delete_key');
SELECT throws_ok($$SELECT * FROM keymgmt.generate_key()$$, '42501',
	NULL, 'the blocker gets 42501 from generate_key');
SELECT throws_ok($$SELECT keymgmt.key_info('sk-tap-priv-one')$$, '42501',
	NULL, 'the blocker gets 42501 from key_info');
SELECT throws_ok($$SELECT * FROM keymgmt.verify_key('sk-tap-priv-one')$$, '42501',
	NULL, 'the blocker gets 42501 from verify_key');

SELECT throws_ok($$SELECT * FROM keymgmt.keys$$, '42501',
	NULL, 'the blocker cannot SELECT keymgmt.keys');
SELECT throws_ok(
	$$INSERT INTO keymgmt.keys (token, key_name, created_at, updated_at)
	  VALUES (encode(sha256('sk-tap-priv-two'::bytea), 'hex'), 'sk-...-two', now(), now())$$,
	'42501', NULL, 'the blocker cannot INSERT into keymgmt.keys');
SELECT throws_ok($$UPDATE keymgmt.keys SET blocked = false$$, '42501',
	NULL, 'the blocker cannot UPDATE keymgmt.keys (no unblocking behind the audit log)');
SELECT throws_ok($$DELETE FROM keymgmt.keys$$, '42501',
	NULL, 'the blocker cannot DELETE from keymgmt.keys');
SELECT throws_ok($$SELECT * FROM keymgmt.audit_log$$, '42501',
	NULL, 'the blocker cannot SELECT keymgmt.audit_log');
SELECT throws_ok(
	$$INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id, changed_by, db_role)
	  VALUES ('key', now(), 'unblocked', 'x', 'x', 'x')$$,
	'42501', NULL, 'the blocker cannot INSERT into keymgmt.audit_log (no forged audit rows)');
SELECT throws_ok($$UPDATE keymgmt.audit_log SET changed_by = 'someone else'$$, '42501',
	NULL, 'the blocker cannot UPDATE keymgmt.audit_log');
SELECT throws_ok($$DELETE FROM keymgmt.audit_log$$, '42501',
	NULL, 'the blocker cannot DELETE from keymgmt.audit_log');

RESET ROLE;

-- the change the blocker made is audited under its own role name, while
-- changed_by is the actor it named
SELECT results_eq(
	$$SELECT action, object_id, changed_by, db_role FROM keymgmt.audit_log
	   WHERE object_id = encode(sha256('sk-tap-priv-one'::bytea), 'hex') ORDER BY id$$,
	$$VALUES ('blocked', encode(sha256('sk-tap-priv-one'::bytea), 'hex'), 'alice', 'keymgmt_tap_blocker')$$,
	'one audit row for the block (the second block was a no-op), db_role = the blocker, changed_by = the actor');
SELECT is((SELECT blocked FROM keymgmt.keys WHERE token = encode(sha256('sk-tap-priv-one'::bytea), 'hex')),
	true, 'the key is blocked');

-- without an actor, changed_by is the calling role (SET ROLE counts), and
-- db_role is the role that called
UPDATE keymgmt.keys SET blocked = false WHERE token = encode(sha256('sk-tap-priv-one'::bytea), 'hex');
SET LOCAL ROLE keymgmt_tap_blocker;
SELECT lives_ok($$SELECT keymgmt.block_key('sk-tap-priv-one')$$,
	'the blocker blocks again, naming no actor');
RESET ROLE;
SELECT results_eq(
	$$SELECT changed_by, db_role FROM keymgmt.audit_log
	   WHERE object_id = encode(sha256('sk-tap-priv-one'::bytea), 'hex') ORDER BY id DESC LIMIT 1$$,
	$$VALUES ('keymgmt_tap_blocker'::text, 'keymgmt_tap_blocker')$$,
	'no actor: changed_by = db_role = the role that called');

-- ---------------------------------------------------------------------------
-- A gateway role needs only verify_key.
-- ---------------------------------------------------------------------------
CREATE ROLE keymgmt_tap_gateway NOLOGIN;
GRANT EXECUTE ON FUNCTION keymgmt.verify_key(text) TO keymgmt_tap_gateway;
INSERT INTO keymgmt.keys (token, key_name, created_at, updated_at)
VALUES (encode(sha256('sk-tap-priv-gate'::bytea), 'hex'), 'sk-...gate', now(), now());

SET LOCAL ROLE keymgmt_tap_gateway;
SELECT results_eq(
	$$SELECT valid, status FROM keymgmt.verify_key('sk-tap-priv-gate')$$,
	$$VALUES (true, 'valid')$$,
	'a gateway role with EXECUTE on verify_key only can verify a key');
SELECT throws_ok($$SELECT keymgmt.key_info('sk-tap-priv-gate')$$, '42501',
	NULL, 'the gateway role gets 42501 from key_info');
SELECT throws_ok($$SELECT keymgmt.block_key('sk-tap-priv-gate')$$, '42501',
	NULL, 'the gateway role gets 42501 from block_key');
SELECT throws_ok($$SELECT * FROM keymgmt.keys$$, '42501',
	NULL, 'the gateway role cannot SELECT keymgmt.keys');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

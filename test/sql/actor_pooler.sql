-- Behind a pooler in transaction mode a session-level SET stays on the
-- server connection for the next client.  Where an actor is required
-- (set_actor_required, keymgmt.require_actor), only a keymgmt.actor set in
-- the current transaction counts (SET LOCAL, set_config(..., true), or a
-- SET made in it); a value left from an earlier transaction is 42501.
CREATE EXTENSION keymgmt;
INSERT INTO keymgmt.admins (user_id) VALUES ('ops');
INSERT INTO keymgmt.keys (token, key_name, created_at, updated_at)
VALUES (encode(sha256('sk-pooler-test-key'::bytea), 'hex'), 'sk-...-key', now(), now());
CREATE ROLE pool_gateway;
CREATE ROLE pool_admin;
GRANT USAGE ON SCHEMA keymgmt TO pool_gateway, pool_admin;
GRANT EXECUTE ON FUNCTION keymgmt.block_key(text, text), keymgmt.unblock_key(text, text)
  TO pool_gateway, pool_admin;
SELECT keymgmt.set_actor_required('pool_gateway');

SET ROLE pool_gateway;
-- one client's session-level SET, in a transaction of its own
SET keymgmt.actor = 'ops';
-- the next transaction (the next client) names no actor: refused
\set VERBOSITY sqlstate
SELECT blocked FROM keymgmt.block_key('sk-pooler-test-key');
\set VERBOSITY default
SELECT blocked FROM keymgmt.block_key('sk-pooler-test-key');
-- set in the transaction that changes: it counts
BEGIN;
SET LOCAL keymgmt.actor = 'ops';
SELECT blocked FROM keymgmt.block_key('sk-pooler-test-key');
COMMIT;
BEGIN;
SELECT set_config('keymgmt.actor', 'ops', true) IS NOT NULL AS set;
SELECT blocked FROM keymgmt.unblock_key('sk-pooler-test-key');
COMMIT;
-- a session-level SET made in this very transaction counts too
BEGIN;
SET keymgmt.actor = 'ops';
SELECT blocked FROM keymgmt.block_key('sk-pooler-test-key');
COMMIT;
-- and is left over afterwards
\set VERBOSITY sqlstate
SELECT blocked FROM keymgmt.unblock_key('sk-pooler-test-key');
\set VERBOSITY default
-- the actor argument always counts
SELECT blocked FROM keymgmt.unblock_key('sk-pooler-test-key', actor => 'ops');
RESET keymgmt.actor;
RESET ROLE;

-- a role that need not name an actor keeps 1.0's behaviour: a session's
-- keymgmt.actor names the actor
SET ROLE pool_admin;
SET keymgmt.actor = 'ops';
SELECT blocked FROM keymgmt.block_key('sk-pooler-test-key');
RESET keymgmt.actor;
RESET ROLE;
SELECT action, changed_by, db_role FROM keymgmt.audit_log WHERE object_type = 'key' ORDER BY id;

SELECT keymgmt.set_actor_required('pool_gateway', false);
DROP OWNED BY pool_gateway, pool_admin;
DROP ROLE pool_gateway, pool_admin;
DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

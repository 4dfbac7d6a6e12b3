-- set_actor_required: a role, and every role that is a member of it, must
-- name an actor for every change.  It is kept in keymgmt.actor_required_roles,
-- where no client setting reaches (keymgmt.require_actor is a session setting
-- a client can lose; see test/t/003_trust.pl), audited with object_type
-- 'role', and granted to nobody.
CREATE EXTENSION keymgmt;
INSERT INTO keymgmt.admins (user_id) VALUES ('user-42');
INSERT INTO keymgmt.keys (token, key_name, created_at, updated_at)
VALUES (encode(sha256('sk-test-required-1'::bytea), 'hex'), 'sk-...ed-1', now(), now());
\set VERBOSITY sqlstate

CREATE ROLE keymgmt_test_gateways NOLOGIN;
CREATE ROLE keymgmt_test_gw1 IN ROLE keymgmt_test_gateways;
CREATE ROLE keymgmt_test_gw2 NOINHERIT IN ROLE keymgmt_test_gateways;
CREATE ROLE keymgmt_test_admin;
CREATE ROLE keymgmt_test_super SUPERUSER;
GRANT EXECUTE ON FUNCTION keymgmt.block_key(text, text), keymgmt.unblock_key(text, text),
                          keymgmt.generate_key(text, text, text, text, timestamptz, jsonb, text),
                          keymgmt.grant_admin(text, text, text)
  TO keymgmt_test_gw1, keymgmt_test_gw2, keymgmt_test_admin;

-- the arguments: NULL is 22004, an unknown role PostgreSQL's own 42704
SELECT keymgmt.set_actor_required(NULL);
SELECT keymgmt.set_actor_required('keymgmt_test_gateways', NULL);
SELECT keymgmt.set_actor_required('keymgmt_test_no_such_role');

-- list the group: true, then false (nothing changed); audited once
SELECT keymgmt.set_actor_required('keymgmt_test_gateways') AS listed,
       keymgmt.set_actor_required('keymgmt_test_gateways', true) AS listed_again;
SELECT role FROM keymgmt.actor_required_roles;
SELECT object_type, action, object_id, changed_by = current_user AS by_caller,
       db_role = current_user AS db_role_caller, updated_values, before_value
FROM keymgmt.audit_log ORDER BY id;

-- a member (inheriting or not) must name an actor: 42501 for every change
SET ROLE keymgmt_test_gw1;
SELECT blocked FROM keymgmt.block_key('sk-test-required-1');
SELECT key_name FROM keymgmt.generate_key();
SELECT keymgmt.grant_admin('someone');
-- ... and no setting it may touch turns that off
SET keymgmt.require_actor = off;
SELECT blocked FROM keymgmt.block_key('sk-test-required-1');
-- an empty actor names nobody
SELECT blocked FROM keymgmt.block_key('sk-test-required-1', actor => '');
-- with an actor, the actor's rights decide
SELECT blocked, updated_by FROM keymgmt.block_key('sk-test-required-1', actor => 'user-42');
BEGIN;
SET LOCAL keymgmt.actor = 'user-42';
SELECT blocked, updated_by FROM keymgmt.unblock_key('sk-test-required-1');
COMMIT;
RESET ROLE;
SET ROLE keymgmt_test_gw2;
SELECT blocked FROM keymgmt.block_key('sk-test-required-1');
RESET ROLE;

\set VERBOSITY default
SET ROLE keymgmt_test_gw1;
SELECT blocked FROM keymgmt.block_key('sk-test-required-1');
RESET ROLE;
\set VERBOSITY sqlstate

-- a role that is not a member acts as before, with no actor
SET ROLE keymgmt_test_admin;
SELECT blocked, updated_by FROM keymgmt.block_key('sk-test-required-1');
RESET ROLE;
-- and so does a superuser, unless it is made a member: membership is
-- PostgreSQL's own, without the superuser shortcut
SET ROLE keymgmt_test_super;
SELECT blocked, updated_by FROM keymgmt.unblock_key('sk-test-required-1');
RESET ROLE;
GRANT keymgmt_test_gateways TO keymgmt_test_super;
SET ROLE keymgmt_test_super;
SELECT blocked FROM keymgmt.block_key('sk-test-required-1');
RESET ROLE;
REVOKE keymgmt_test_gateways FROM keymgmt_test_super;

-- listing a single role; a renamed role stays listed (regrole)
SELECT keymgmt.set_actor_required('keymgmt_test_admin');
ALTER ROLE keymgmt_test_admin RENAME TO keymgmt_test_admin2;
SELECT role FROM keymgmt.actor_required_roles ORDER BY role::text;
SET ROLE keymgmt_test_admin2;
SELECT blocked FROM keymgmt.block_key('sk-test-required-1');
RESET ROLE;
ALTER ROLE keymgmt_test_admin2 RENAME TO keymgmt_test_admin;

-- removing: true, then false; the group's members are free again
SELECT keymgmt.set_actor_required('keymgmt_test_gateways', false) AS removed,
       keymgmt.set_actor_required('keymgmt_test_gateways', false) AS removed_again,
       keymgmt.set_actor_required('keymgmt_test_admin', false) AS removed_admin;
SET ROLE keymgmt_test_gw1;
SELECT blocked, updated_by FROM keymgmt.block_key('sk-test-required-1');
RESET ROLE;

-- granted to nobody: a role with EXECUTE on everything else still cannot
SET ROLE keymgmt_test_admin;
SELECT keymgmt.set_actor_required('keymgmt_test_admin', false);
RESET ROLE;
SELECT count(*) AS public_or_role_grants
FROM pg_proc p, aclexplode(p.proacl) a
WHERE p.oid = 'keymgmt.set_actor_required(name, boolean)'::regprocedure
  AND a.grantee <> p.proowner;

-- read-only transactions: 25006
BEGIN READ ONLY;
SELECT keymgmt.set_actor_required('keymgmt_test_admin');
ROLLBACK;

-- the audit trail of the role rows
SELECT object_type, action, object_id, updated_values, before_value
FROM keymgmt.audit_log WHERE object_type = 'role' ORDER BY id;

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;
DROP ROLE keymgmt_test_gw1, keymgmt_test_gw2, keymgmt_test_gateways,
          keymgmt_test_admin, keymgmt_test_super;

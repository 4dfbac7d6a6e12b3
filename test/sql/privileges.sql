-- Privileges: nothing is granted to PUBLIC; a role may call exactly the
-- functions it was granted EXECUTE on, needs no privilege on the tables,
-- and can change a key only through a function that audits.
CREATE EXTENSION keymgmt;
-- the actors of this story are global admins (who may do what: authority.sql)
INSERT INTO keymgmt.admins (user_id) VALUES ('admin-1'), ('alice');
\set VERBOSITY sqlstate

-- two keys with known raw strings, inserted like a LiteLLM import
INSERT INTO keymgmt.keys (token, key_name, created_at, updated_at)
VALUES (encode(sha256('sk-test-priv-1'::bytea), 'hex'), 'sk-...iv-1', now(), now()),
       (encode(sha256('sk-test-priv-2'::bytea), 'hex'), 'sk-...iv-2', now(), now());
SELECT encode(sha256('sk-test-priv-1'::bytea), 'hex') AS tok1 \gset

--
-- (d) the catalogs, before anything is granted to anyone
--
-- no function is SECURITY DEFINER or has settings of its own: each notes
-- the calling role and switches to the table owner in C
SELECT p.oid::regprocedure AS function, p.prosecdef AS security_definer,
       p.proconfig
FROM pg_proc p WHERE p.pronamespace = 'keymgmt'::regnamespace
ORDER BY p.proname;
-- no ACL entry for PUBLIC (grantee 0) on any function; a null proacl would
-- mean the default, which grants EXECUTE to PUBLIC, so it is expanded too
SELECT count(*) AS functions,
       count(*) FILTER (WHERE p.proacl IS NULL) AS default_acl
FROM pg_proc p WHERE p.pronamespace = 'keymgmt'::regnamespace;
SELECT count(*) AS public_function_grants
FROM pg_proc p,
     aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
WHERE p.pronamespace = 'keymgmt'::regnamespace AND a.grantee = 0;
-- nor on the tables and the audit id sequence
SELECT c.relname, c.relkind, c.relacl IS NOT NULL AS has_acl
FROM pg_class c
WHERE c.relnamespace = 'keymgmt'::regnamespace AND c.relkind IN ('r', 'S', 'v', 'm', 'p')
ORDER BY 1;
SELECT count(*) AS public_relation_grants
FROM pg_class c,
     aclexplode(coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) a
WHERE c.relnamespace = 'keymgmt'::regnamespace AND c.relkind IN ('r', 'S', 'v', 'm', 'p')
  AND a.grantee = 0;
-- nor on any column
SELECT count(*) AS public_column_grants
FROM pg_attribute t JOIN pg_class c ON c.oid = t.attrelid, aclexplode(t.attacl) a
WHERE c.relnamespace = 'keymgmt'::regnamespace AND a.grantee = 0;
-- only USAGE on the schema is public: it lets a granted role name the functions
SELECT a.privilege_type
FROM pg_namespace n, aclexplode(n.nspacl) a
WHERE n.nspname = 'keymgmt' AND a.grantee = 0;

--
-- (a) a role with nothing: every function and both tables give 42501
--
CREATE ROLE keymgmt_test_nobody;
SET ROLE keymgmt_test_nobody;
SELECT key_name FROM keymgmt.generate_key();
SELECT blocked FROM keymgmt.block_key('sk-test-priv-1');
SELECT blocked FROM keymgmt.unblock_key('sk-test-priv-1');
SELECT key_name FROM keymgmt.delete_key('sk-test-priv-1');
SELECT key_name FROM keymgmt.key_info('sk-test-priv-1');
SELECT valid, status FROM keymgmt.verify_key('sk-test-priv-1');
-- refused whatever the argument: the privilege check comes before any parsing
SELECT valid, status FROM keymgmt.verify_key('not a key');
SELECT blocked FROM keymgmt.block_key(NULL);
SELECT count(*) FROM keymgmt.keys;
SELECT count(*) FROM keymgmt.audit_log;
RESET ROLE;
-- nothing changed
SELECT key_name, blocked FROM keymgmt.keys ORDER BY key_name;
SELECT count(*) AS audit_rows FROM keymgmt.audit_log;

--
-- (b) a role with EXECUTE on block_key only
--
CREATE ROLE keymgmt_test_blocker;
GRANT EXECUTE ON FUNCTION keymgmt.block_key(text, text) TO keymgmt_test_blocker;
SET ROLE keymgmt_test_blocker;
SELECT key_name, blocked, updated_by = current_user AS updated_by_calling_role
FROM keymgmt.block_key('sk-test-priv-1');
-- blocking again is allowed and changes nothing
SELECT key_name, blocked FROM keymgmt.block_key('sk-test-priv-1');
-- with an actor
SELECT key_name, blocked, updated_by FROM keymgmt.block_key('sk-test-priv-2', actor => 'alice');
-- every other function: 42501
SELECT blocked FROM keymgmt.unblock_key('sk-test-priv-1');
SELECT key_name FROM keymgmt.delete_key('sk-test-priv-1');
SELECT key_name FROM keymgmt.key_info('sk-test-priv-1');
SELECT valid, status FROM keymgmt.verify_key('sk-test-priv-1');
SELECT key_name FROM keymgmt.generate_key();
-- it can neither read nor write the tables
SELECT count(*) FROM keymgmt.keys;
UPDATE keymgmt.keys SET blocked = false;
DELETE FROM keymgmt.keys;
INSERT INTO keymgmt.keys (token, key_name) VALUES (repeat('0', 64), 'sk-...0000');
TRUNCATE keymgmt.keys;
-- and it cannot forge, rewrite or erase the audit trail
SELECT count(*) FROM keymgmt.audit_log;
INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id, changed_by, db_role)
VALUES ('key', now(), 'unblocked', :'tok1', 'alice', 'keymgmt_test_blocker');
UPDATE keymgmt.audit_log SET changed_by = 'someone else';
DELETE FROM keymgmt.audit_log;
TRUNCATE keymgmt.audit_log;
-- nor take the audit ids
SELECT nextval('keymgmt.audit_log_id_seq');
RESET ROLE;

-- one audit row per real change: db_role is the role that called,
-- changed_by the calling role (current_user, so SET ROLE counts) unless an
-- actor is given
SELECT k.key_name, a.object_type, a.action, a.db_role,
       CASE a.changed_by WHEN a.db_role THEN '(calling role)'
            ELSE a.changed_by END AS changed_by,
       a.before_value ->> 'blocked' AS blocked_before, a.updated_values
FROM keymgmt.audit_log a JOIN keymgmt.keys k ON k.token = a.object_id
ORDER BY a.id;
SELECT key_name, blocked FROM keymgmt.keys ORDER BY key_name;

--
-- (c) the GRANTs the README shows: an admin role and a gateway role
--
CREATE ROLE keymgmt_test_admin;
GRANT EXECUTE ON FUNCTION
    keymgmt.generate_key(text, text, text, text, timestamptz, jsonb, text),
    keymgmt.block_key(text, text),
    keymgmt.unblock_key(text, text),
    keymgmt.delete_key(text, text),
    keymgmt.key_info(text)
TO keymgmt_test_admin;
GRANT SELECT ON keymgmt.audit_log TO keymgmt_test_admin;   -- optional: read the trail
CREATE ROLE keymgmt_test_gateway;
GRANT EXECUTE ON FUNCTION keymgmt.verify_key(text) TO keymgmt_test_gateway;

-- the admin role: the whole lifecycle of a new key
SET ROLE keymgmt_test_admin;
SELECT key AS admin_raw, token AS admin_tok
FROM keymgmt.generate_key(key_alias => 'priv-admin', team_id => 't-1', actor => 'admin-1') \gset
SELECT key_alias, team_id, blocked, created_by
FROM keymgmt.key_info(:'admin_raw');
SELECT key_alias, blocked, updated_by FROM keymgmt.block_key(:'admin_tok', 'admin-1');
SELECT key_alias, blocked, updated_by FROM keymgmt.unblock_key(:'admin_raw', 'admin-1');
-- the admin role does not verify: that is the gateway's function
SELECT valid, status FROM keymgmt.verify_key(:'admin_raw');
-- it reads the trail (the optional GRANT SELECT) but cannot write it, and
-- it cannot touch the keys table
SELECT action, db_role, changed_by FROM keymgmt.audit_log
WHERE object_id = :'admin_tok' ORDER BY id;
INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id, changed_by, db_role)
VALUES ('key', now(), 'deleted', :'admin_tok', 'admin-1', 'keymgmt_test_admin');
UPDATE keymgmt.audit_log SET changed_by = 'someone else';
DELETE FROM keymgmt.audit_log;
SELECT count(*) FROM keymgmt.keys;
UPDATE keymgmt.keys SET blocked = false;
RESET ROLE;

-- the gateway role: verify_key and nothing else
SET ROLE keymgmt_test_gateway;
SELECT valid, status, token = :'admin_tok' AS token_matches, team_id
FROM keymgmt.verify_key(:'admin_raw');
SELECT valid, status FROM keymgmt.verify_key('sk-test-priv-1');
SELECT valid, status FROM keymgmt.verify_key('sk-test-priv-none');
SELECT key AS gw_raw FROM keymgmt.generate_key() \gset
SELECT blocked FROM keymgmt.block_key(:'admin_raw');
SELECT blocked FROM keymgmt.unblock_key('sk-test-priv-1');
SELECT key_name FROM keymgmt.delete_key(:'admin_raw');
SELECT key_name FROM keymgmt.key_info(:'admin_raw');
SELECT count(*) FROM keymgmt.keys;
SELECT count(*) FROM keymgmt.audit_log;
UPDATE keymgmt.keys SET blocked = false;
RESET ROLE;

-- the admin role deletes the key; the gateway then gets not_found
SET ROLE keymgmt_test_admin;
SELECT key_alias, blocked FROM keymgmt.delete_key(:'admin_raw', 'admin-1');
SELECT key_alias FROM keymgmt.key_info(:'admin_raw');
SET ROLE keymgmt_test_gateway;
SELECT valid, status FROM keymgmt.verify_key(:'admin_raw');
RESET ROLE;

-- the admin key's trail: created, blocked, unblocked, deleted, all by
-- keymgmt_test_admin acting as admin-1
SELECT action, db_role, changed_by, before_value IS NULL AS no_before,
       updated_values IS NULL AS no_values
FROM keymgmt.audit_log WHERE object_id = :'admin_tok' ORDER BY id;

-- (d) again: the GRANTs above added entries for those roles only
SELECT count(*) AS public_function_grants
FROM pg_proc p,
     aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
WHERE p.pronamespace = 'keymgmt'::regnamespace AND a.grantee = 0;
SELECT p.proname, a.grantee::regrole AS grantee, a.privilege_type
FROM pg_proc p, aclexplode(p.proacl) a
WHERE p.pronamespace = 'keymgmt'::regnamespace AND a.grantee <> p.proowner
ORDER BY p.proname, a.grantee::regrole::text;
SELECT count(*) AS public_relation_grants
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.relnamespace = 'keymgmt'::regnamespace AND a.grantee = 0;
SELECT c.relname, a.grantee::regrole AS grantee, a.privilege_type
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.relnamespace = 'keymgmt'::regnamespace AND a.grantee <> c.relowner
ORDER BY c.relname, a.grantee::regrole::text;

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;
DROP ROLE keymgmt_test_nobody;
DROP ROLE keymgmt_test_blocker;
DROP ROLE keymgmt_test_admin;
DROP ROLE keymgmt_test_gateway;

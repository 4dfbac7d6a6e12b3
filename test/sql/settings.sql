-- Settings: keymgmt.actor (anyone may set it, for the session or one
-- transaction) names the actor when the actor argument is null;
-- keymgmt.notify is superuser-only, even when a non-superuser sets it
-- before the library is loaded; the keymgmt. prefix is reserved.
CREATE EXTENSION keymgmt;
-- the actors of this story are global admins (who may do what: authority.sql)
INSERT INTO keymgmt.admins (user_id) VALUES ('alice'), ('bob'), ('bulk-load'), ('early-bird'), ('gw-7'), ('gw-8'), ('gw-9'), ('setter-default'), ('user-42');
\set VERBOSITY sqlstate

-- a key with a known raw string, inserted like a LiteLLM import
INSERT INTO keymgmt.keys (token, key_name, created_at, updated_at)
VALUES (encode(sha256('sk-test-set-1'::bytea), 'hex'), 'sk-...et-1', now(), now());
SELECT encode(sha256('sk-test-set-1'::bytea), 'hex') AS tok1 \gset

-- an ordinary role that may block, unblock and verify
CREATE ROLE keymgmt_test_setter;
GRANT EXECUTE ON FUNCTION
    keymgmt.block_key(text, text),
    keymgmt.unblock_key(text, text),
    keymgmt.verify_key(text)
TO keymgmt_test_setter;

-- the settings, their defaults and who may set them
SELECT name, setting, context, vartype FROM pg_settings
WHERE name LIKE 'keymgmt.%' ORDER BY name;
SHOW keymgmt.actor;
SHOW keymgmt.notify;

--
-- keymgmt.actor
--
SET ROLE keymgmt_test_setter;
-- anyone may set it for the session; it is the actor when the argument is null
SET keymgmt.actor = 'user-42';
SHOW keymgmt.actor;
SELECT blocked, updated_by FROM keymgmt.block_key('sk-test-set-1');
-- the argument wins over the setting
SELECT blocked, updated_by FROM keymgmt.unblock_key('sk-test-set-1', actor => 'alice');
-- SET LOCAL: for one transaction (what a gateway does), then the session's
-- value again
BEGIN;
SET LOCAL keymgmt.actor = 'gw-7';
SHOW keymgmt.actor;
SELECT blocked, updated_by FROM keymgmt.block_key('sk-test-set-1');
COMMIT;
SHOW keymgmt.actor;
-- set_config(..., true) is the same as SET LOCAL; an explicit NULL argument
-- means no argument
BEGIN;
SELECT set_config('keymgmt.actor', 'gw-8', true);
SELECT blocked, updated_by FROM keymgmt.unblock_key('sk-test-set-1', NULL);
COMMIT;
SHOW keymgmt.actor;
-- the argument wins over SET LOCAL too
BEGIN;
SET LOCAL keymgmt.actor = 'gw-9';
SELECT blocked, updated_by FROM keymgmt.block_key('sk-test-set-1', 'bob');
COMMIT;
-- empty means not set: the calling role is the actor
SET keymgmt.actor = '';
SELECT blocked, updated_by = current_user AS by_calling_role
FROM keymgmt.unblock_key('sk-test-set-1');
RESET keymgmt.actor;
SHOW keymgmt.actor;
SELECT blocked, updated_by = current_user AS by_calling_role
FROM keymgmt.block_key('sk-test-set-1');
RESET ROLE;

-- the audit log: one row per change, changed_by as resolved above, db_role
-- always the role that called
SELECT action,
       CASE changed_by WHEN db_role THEN '(calling role)'
            ELSE changed_by END AS changed_by,
       db_role
FROM keymgmt.audit_log WHERE object_id = :'tok1' ORDER BY id;

--
-- keymgmt.notify
--
SHOW keymgmt.notify;
SET ROLE keymgmt_test_setter;
-- a non-superuser may not turn it off, in any way
SET keymgmt.notify = off;
BEGIN;
SET LOCAL keymgmt.notify = off;
ROLLBACK;
SELECT set_config('keymgmt.notify', 'off', false);
SHOW keymgmt.notify;
-- nor make it a default of its own role (keymgmt.actor it may)
ALTER ROLE keymgmt_test_setter SET keymgmt.notify = off;
ALTER ROLE keymgmt_test_setter SET keymgmt.actor = 'setter-default';
RESET ROLE;
SELECT unnest(setconfig) AS role_defaults FROM pg_db_role_setting
WHERE setrole = 'keymgmt_test_setter'::regrole;
ALTER ROLE keymgmt_test_setter RESET ALL;
-- a superuser may turn it off, and changes still work and are audited
SET keymgmt.notify = off;
SHOW keymgmt.notify;
SELECT blocked, updated_by FROM keymgmt.unblock_key('sk-test-set-1', 'bulk-load');
RESET keymgmt.notify;
SHOW keymgmt.notify;

--
-- the keymgmt. prefix is reserved once the library is loaded: an unknown
-- keymgmt.* setting cannot be created, by anyone (from PostgreSQL 15, which
-- has MarkGUCPrefixReserved; before, these succeed: expected/settings_1.out)
--
SET keymgmt.foo = 'bar';
SELECT set_config('keymgmt.foo', 'bar', false);
SELECT current_setting('keymgmt.foo', true) IS NULL AS foo_undefined;
ALTER ROLE keymgmt_test_setter SET keymgmt.foo = 'bar';
SET ROLE keymgmt_test_setter;
SET keymgmt.foo = 'bar';
RESET ROLE;

--
-- before the library is loaded, a setting can be SET as a placeholder;
-- a non-superuser's keymgmt.notify = off is refused (a warning) when the
-- library defines the setting
--
-- a new session: the library is not loaded and the settings do not exist
\c
SELECT current_setting('keymgmt.notify', true) IS NULL AS notify_undefined,
       current_setting('keymgmt.actor', true) IS NULL AS actor_undefined;
SET SESSION AUTHORIZATION keymgmt_test_setter;
SELECT session_user, current_user;
-- accepted, as placeholders
SET keymgmt.notify = off;
SET keymgmt.actor = 'early-bird';
SET keymgmt.foo = 'bar';
SHOW keymgmt.notify;
SHOW keymgmt.foo;
-- ALTER ROLE checks the privilege even for a placeholder
ALTER ROLE keymgmt_test_setter SET keymgmt.notify = off;
-- the first call loads the library: notify = off is refused (42501) and
-- keymgmt.foo is removed (42602), both as warnings; the call itself works
-- (before 15, keymgmt.foo is kept, with the warning 42704)
SELECT valid, status FROM keymgmt.verify_key('sk-test-set-1');
SHOW keymgmt.notify;
SHOW keymgmt.actor;
SHOW keymgmt.foo;
SET keymgmt.foo = 'bar';
-- the placeholder actor is kept: anyone may set it
SELECT blocked, updated_by FROM keymgmt.block_key('sk-test-set-1');
RESET SESSION AUTHORIZATION;

-- the same with SET ROLE, and the library loaded only after RESET ROLE, by
-- the superuser: the value is still refused, because a non-superuser set it
\c
SET ROLE keymgmt_test_setter;
SET keymgmt.notify = off;
SHOW keymgmt.notify;
RESET ROLE;
SELECT valid, status FROM keymgmt.verify_key('sk-test-set-1');
SHOW keymgmt.notify;

-- the same with SET LOCAL in a transaction
\c
SET ROLE keymgmt_test_setter;
BEGIN;
SET LOCAL keymgmt.notify = off;
SHOW keymgmt.notify;
SELECT valid, status FROM keymgmt.verify_key('sk-test-set-1');
SHOW keymgmt.notify;
COMMIT;
SHOW keymgmt.notify;
RESET ROLE;

-- a superuser's placeholder is kept
\c
SET keymgmt.notify = off;
SELECT valid, status FROM keymgmt.verify_key('sk-test-set-1');
SHOW keymgmt.notify;
RESET keymgmt.notify;

-- the later changes in the audit log
SELECT action, changed_by,
       CASE db_role WHEN session_user THEN '(session user)'
            ELSE db_role END AS db_role
FROM keymgmt.audit_log WHERE object_id = :'tok1' ORDER BY id OFFSET 7;

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;
DROP ROLE keymgmt_test_setter;

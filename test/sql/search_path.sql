-- search_path: the functions run with the extension owner's rights, so a
-- caller must not be able to slip its own objects into them.  A hostile role
-- with EXECUTE on the functions puts fakes of everything they might use in a
-- schema of its own and in pg_temp, puts that first in its search_path, and
-- calls them: results, key rows and audit rows are exactly as with an
-- ordinary search_path, and no fake is ever called.
CREATE EXTENSION keymgmt;
-- the actors of this story are global admins (who may do what: authority.sql)
INSERT INTO keymgmt.admins (user_id) VALUES ('path-admin'), ('x');
\set VERBOSITY sqlstate
SELECT now() AS t0 \gset

-- four keys with known raw strings: one for a control run with an ordinary
-- search_path, one for each hostile search_path
INSERT INTO keymgmt.keys (token, key_name, user_id, team_id, created_at, updated_at)
SELECT encode(sha256(raw::bytea), 'hex'), 'sk-...' || right(raw, 4), 'u-1', 't-1', now(), now()
FROM unnest(ARRAY['sk-test-path-ctl0', 'sk-test-path-evl1',
                  'sk-test-path-evl2', 'sk-test-path-evl3']) AS raw;
SELECT encode(sha256('sk-test-path-ctl0'::bytea), 'hex') AS tok0,
       encode(sha256('sk-test-path-evl1'::bytea), 'hex') AS tok1,
       encode(sha256('sk-test-path-evl2'::bytea), 'hex') AS tok2,
       encode(sha256('sk-test-path-evl3'::bytea), 'hex') AS tok3,
       encode(sha256('sk-test-path-ghst'::bytea), 'hex') AS ghost_tok \gset

-- the hostile role: EXECUTE on four functions and a schema of its own
CREATE ROLE keymgmt_test_evil;
GRANT EXECUTE ON FUNCTION
    keymgmt.generate_key(text, text, text, text, timestamptz, jsonb, text),
    keymgmt.block_key(text, text),
    keymgmt.unblock_key(text, text),
    keymgmt.verify_key(text)
TO keymgmt_test_evil;
CREATE SCHEMA keymgmt_test_evil AUTHORIZATION keymgmt_test_evil;

SET ROLE keymgmt_test_evil;
-- every call of a fake leaves a row here
CREATE TABLE keymgmt_test_evil.calls (fn text NOT NULL);
-- "=" for text that matches everything
CREATE FUNCTION keymgmt_test_evil.text_eq(text, text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO keymgmt_test_evil.calls VALUES ('=');
    RETURN true;
END $$;
CREATE OPERATOR keymgmt_test_evil.= (LEFTARG = text, RIGHTARG = text,
                                     FUNCTION = keymgmt_test_evil.text_eq);
-- a clock stuck in 2000
CREATE FUNCTION keymgmt_test_evil.now() RETURNS timestamptz
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO keymgmt_test_evil.calls VALUES ('now');
    RETURN '2000-01-01 00:00:00+00';
END $$;
-- notifications that go nowhere
CREATE FUNCTION keymgmt_test_evil.pg_notify(text, text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO keymgmt_test_evil.calls VALUES ('pg_notify');
END $$;
-- audit values that say something else
CREATE FUNCTION keymgmt_test_evil.jsonb_build_object(text, boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO keymgmt_test_evil.calls VALUES ('jsonb_build_object');
    RETURN '{"evil": true}';
END $$;
CREATE FUNCTION keymgmt_test_evil.to_jsonb(anyelement) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO keymgmt_test_evil.calls VALUES ('to_jsonb(anyelement)');
    RETURN '{"evil": true}';
END $$;
CREATE FUNCTION keymgmt_test_evil.to_jsonb(keymgmt.keys) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO keymgmt_test_evil.calls VALUES ('to_jsonb(keymgmt.keys)');
    RETURN '{"evil": true}';
END $$;
-- tables named like the real ones: the ghost key is valid here only, and
-- the evl keys are blocked here only
CREATE TABLE keymgmt_test_evil.keys (
    token text, key_name text, key_alias text, user_id text, team_id text,
    organization_id text, blocked boolean, expires timestamptz,
    metadata jsonb, created_at timestamptz, updated_at timestamptz,
    created_by text, updated_by text);
INSERT INTO keymgmt_test_evil.keys (token, key_name, user_id, blocked, metadata)
VALUES (:'ghost_tok', 'sk-...ghst', 'ghost', false, '{}'),
       (:'tok1', 'sk-...evl1', 'mallory', true, '{}'),
       (:'tok2', 'sk-...evl2', 'mallory', true, '{}'),
       (:'tok3', 'sk-...evl3', 'mallory', true, '{}');
CREATE TABLE keymgmt_test_evil.audit_log (
    id bigint, object_type text, changed_at timestamptz, action text,
    object_id text, changed_by text, db_role text, before_value jsonb,
    updated_values jsonb);
-- and the same in pg_temp: a temp table named keys, a temp audit_log, a
-- temp now() and a temp "="
CREATE TEMP TABLE keys (LIKE keymgmt_test_evil.keys);
INSERT INTO pg_temp.keys SELECT * FROM keymgmt_test_evil.keys;
CREATE TEMP TABLE audit_log (LIKE keymgmt_test_evil.audit_log);
CREATE FUNCTION pg_temp.now() RETURNS timestamptz
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO keymgmt_test_evil.calls VALUES ('pg_temp.now');
    RETURN '2000-01-01 00:00:00+00';
END $$;
CREATE FUNCTION pg_temp.text_eq(text, text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO keymgmt_test_evil.calls VALUES ('pg_temp.=');
    RETURN true;
END $$;
CREATE OPERATOR pg_temp.= (LEFTARG = text, RIGHTARG = text, FUNCTION = pg_temp.text_eq);

-- the trap is live: with its schema first, the role's own unqualified
-- queries reach the fakes
SET search_path = keymgmt_test_evil, pg_catalog, public;
SELECT 'a' = 'b' AS a_equals_b,
       now() OPERATOR(pg_catalog.=) '2000-01-01 00:00:00+00' AS stuck_clock,
       jsonb_build_object('blocked', true) AS built,
       to_jsonb(42) AS to_jsonb_any,
       to_jsonb(NULL::keymgmt.keys) AS to_jsonb_row,
       pg_notify('keymgmt', 'x') AS notify;
SELECT count(*) AS rows_in_keys FROM keys;
SELECT fn, count(*) FROM keymgmt_test_evil.calls GROUP BY fn ORDER BY fn;
TRUNCATE keymgmt_test_evil.calls;
RESET search_path;
RESET ROLE;

--
-- control: the hostile role with an ordinary search_path
--
BEGIN;
SET LOCAL ROLE keymgmt_test_evil;
SELECT key_name, blocked, updated_by = current_user AS by_calling_role
FROM keymgmt.block_key('sk-test-path-ctl0');
SELECT key_name, blocked FROM keymgmt.block_key('sk-test-path-ctl0');
SELECT valid, status, user_id FROM keymgmt.verify_key('sk-test-path-ctl0');
RESET ROLE;
SELECT action, changed_at = pg_catalog.now() AS at_transaction_time
FROM keymgmt.audit_log WHERE object_id = :'tok0' ORDER BY id;
COMMIT;
SET ROLE keymgmt_test_evil;
SELECT key_name, blocked, updated_by FROM keymgmt.unblock_key('sk-test-path-ctl0', 'path-admin');
SELECT valid, status, user_id FROM keymgmt.verify_key('sk-test-path-ctl0');
SELECT valid, status, user_id FROM keymgmt.verify_key('sk-test-path-ghst');
RESET ROLE;

--
-- 1: search_path = keymgmt_test_evil, pg_catalog, public (its schema first)
--
BEGIN;
SET LOCAL ROLE keymgmt_test_evil;
SET LOCAL search_path = keymgmt_test_evil, pg_catalog, public;
SELECT key_name, blocked, updated_by = current_user AS by_calling_role
FROM keymgmt.block_key('sk-test-path-evl1');
SELECT key_name, blocked FROM keymgmt.block_key('sk-test-path-evl1');
SELECT valid, status, user_id FROM keymgmt.verify_key('sk-test-path-evl1');
RESET ROLE;
RESET search_path;
SELECT action, changed_at = pg_catalog.now() AS at_transaction_time
FROM keymgmt.audit_log WHERE object_id = :'tok1' ORDER BY id;
COMMIT;
SET ROLE keymgmt_test_evil;
SET search_path = keymgmt_test_evil, pg_catalog, public;
SELECT key_name, blocked, updated_by FROM keymgmt.unblock_key('sk-test-path-evl1', 'path-admin');
SELECT valid, status, user_id FROM keymgmt.verify_key('sk-test-path-evl1');
SELECT valid, status, user_id FROM keymgmt.verify_key('sk-test-path-ghst');
RESET search_path;
RESET ROLE;

--
-- 2: search_path = keymgmt_test_evil (pg_catalog is then searched first,
-- implicitly, but the tables named keys and audit_log still come first)
--
BEGIN;
SET LOCAL ROLE keymgmt_test_evil;
SET LOCAL search_path = keymgmt_test_evil;
SELECT key_name, blocked, updated_by = current_user AS by_calling_role
FROM keymgmt.block_key('sk-test-path-evl2');
SELECT key_name, blocked FROM keymgmt.block_key('sk-test-path-evl2');
SELECT valid, status, user_id FROM keymgmt.verify_key('sk-test-path-evl2');
RESET ROLE;
RESET search_path;
SELECT action, changed_at = pg_catalog.now() AS at_transaction_time
FROM keymgmt.audit_log WHERE object_id = :'tok2' ORDER BY id;
COMMIT;
SET ROLE keymgmt_test_evil;
SET search_path = keymgmt_test_evil;
SELECT key_name, blocked, updated_by FROM keymgmt.unblock_key('sk-test-path-evl2', 'path-admin');
SELECT valid, status, user_id FROM keymgmt.verify_key('sk-test-path-evl2');
SELECT valid, status, user_id FROM keymgmt.verify_key('sk-test-path-ghst');
RESET search_path;
RESET ROLE;

--
-- 3: search_path = pg_temp, keymgmt_test_evil, pg_catalog (the temp table
-- keys and temp audit_log first)
--
BEGIN;
SET LOCAL ROLE keymgmt_test_evil;
SET LOCAL search_path = pg_temp, keymgmt_test_evil, pg_catalog;
SELECT key_name, blocked, updated_by = current_user AS by_calling_role
FROM keymgmt.block_key('sk-test-path-evl3');
SELECT key_name, blocked FROM keymgmt.block_key('sk-test-path-evl3');
SELECT valid, status, user_id FROM keymgmt.verify_key('sk-test-path-evl3');
RESET ROLE;
RESET search_path;
SELECT action, changed_at = pg_catalog.now() AS at_transaction_time
FROM keymgmt.audit_log WHERE object_id = :'tok3' ORDER BY id;
COMMIT;
SET ROLE keymgmt_test_evil;
SET search_path = pg_temp, keymgmt_test_evil, pg_catalog;
SELECT key_name, blocked, updated_by FROM keymgmt.unblock_key('sk-test-path-evl3', 'path-admin');
SELECT valid, status, user_id FROM keymgmt.verify_key('sk-test-path-evl3');
SELECT valid, status, user_id FROM keymgmt.verify_key('sk-test-path-ghst');
RESET search_path;
RESET ROLE;

--
-- generate_key with its schema first: a real key, a real audit row
--
BEGIN;
SET LOCAL ROLE keymgmt_test_evil;
SET LOCAL search_path = keymgmt_test_evil, pg_catalog, public;
SELECT key AS gen_raw, token AS gen_tok
FROM keymgmt.generate_key(key_alias => 'path-gen', user_id => 'u-2', actor => 'path-admin') \gset
SELECT valid, status, user_id FROM keymgmt.verify_key(:'gen_raw');
RESET ROLE;
RESET search_path;
SELECT key_alias, user_id, blocked, created_by, created_at = pg_catalog.now() AS created_now
FROM keymgmt.keys WHERE token = :'gen_tok';
SELECT a.action, a.changed_by, a.db_role,
       a.changed_at = pg_catalog.now() AS at_transaction_time,
       a.updated_values = to_jsonb(k) AS values_are_the_row
FROM keymgmt.audit_log a JOIN keymgmt.keys k ON k.token = a.object_id
WHERE a.object_id = :'gen_tok';
COMMIT;

--
-- the admin functions, key_info, delete_key and set_actor_required with the
-- temp schema and its own first, and fake admins tables there: real grants,
-- real rows, real audit rows
--
GRANT EXECUTE ON FUNCTION
    keymgmt.delete_key(text, text),
    keymgmt.key_info(text),
    keymgmt.grant_admin(text, text, text),
    keymgmt.revoke_admin(text, text, text)
TO keymgmt_test_evil;
INSERT INTO keymgmt.keys (token, key_name, created_at, updated_at)
VALUES (encode(sha256('sk-test-path-del5'::bytea), 'hex'), 'sk-...del5', now(), now());
SET ROLE keymgmt_test_evil;
CREATE TABLE keymgmt_test_evil.admins (user_id text, team_id text, organization_id text);
INSERT INTO keymgmt_test_evil.admins VALUES ('mallory', NULL, NULL);
CREATE TEMP TABLE admins (LIKE keymgmt_test_evil.admins);
INSERT INTO pg_temp.admins SELECT * FROM keymgmt_test_evil.admins;
CREATE TABLE keymgmt_test_evil.actor_required_roles (role regrole);
RESET ROLE;
SET ROLE keymgmt_test_evil;
SET search_path = pg_temp, keymgmt_test_evil, pg_catalog;
SELECT keymgmt.grant_admin('path-team-admin', team_id => 't-9') AS granted,
       keymgmt.grant_admin('path-team-admin', team_id => 't-9') AS granted_again;
SELECT keymgmt.revoke_admin('path-team-admin', team_id => 't-9') AS revoked,
       keymgmt.revoke_admin('mallory') AS revoked_fake;
SELECT key_name, blocked FROM keymgmt.key_info('sk-test-path-evl1');
SELECT key_name FROM keymgmt.key_info('sk-test-path-ghst');
SELECT key_name FROM keymgmt.delete_key('sk-test-path-del5', actor => 'path-admin');
-- an actor who is an admin only in the fake tables is nobody
SELECT key_name FROM keymgmt.block_key('sk-test-path-ctl0', actor => 'mallory');
RESET ROLE;
-- and a superuser with the same search_path lists a role for real
SELECT keymgmt.set_actor_required('keymgmt_test_evil') AS listed;
RESET search_path;
SELECT role FROM keymgmt.actor_required_roles;
SELECT count(*) AS fake_listed FROM keymgmt_test_evil.actor_required_roles;
SELECT user_id, team_id FROM keymgmt.admins ORDER BY user_id;
SELECT object_type, action,
       CASE object_type WHEN 'key' THEN left(object_id, 12) ELSE object_id END AS object,
       CASE changed_by WHEN session_user THEN '(session user)' ELSE changed_by END AS changed_by,
       CASE db_role WHEN session_user THEN '(session user)' ELSE db_role END AS db_role
FROM keymgmt.audit_log
WHERE object_type IN ('admin', 'role') OR object_id = encode(sha256('sk-test-path-del5'::bytea), 'hex')
ORDER BY id;
-- listed now: the hostile role must name an actor, whatever its search_path
SET ROLE keymgmt_test_evil;
SET search_path = pg_temp, keymgmt_test_evil, pg_catalog;
SELECT key_name FROM keymgmt.block_key('sk-test-path-ctl0');
RESET search_path;
RESET ROLE;

--
-- the outcome, seen by the superuser with an ordinary search_path
--
-- the four trails are the same: blocked then unblocked, by the right
-- actor and role, with the real rows as before_value
SELECT k.key_name, a.action,
       CASE a.changed_by WHEN a.db_role THEN '(calling role)'
            ELSE a.changed_by END AS changed_by,
       a.db_role,
       a.before_value ->> 'blocked' AS blocked_before,
       a.before_value ->> 'user_id' AS user_before,
       a.updated_values
FROM keymgmt.audit_log a JOIN keymgmt.keys k ON k.token = a.object_id
WHERE k.user_id = 'u-1'
ORDER BY k.key_name, a.id;
-- before_value is the whole real row, never a fake's output
SELECT count(*) AS audit_rows,
       count(*) FILTER (WHERE a.before_value ? 'evil' OR a.updated_values ? 'evil') AS fake_values,
       count(*) FILTER (WHERE a.action <> 'created' AND
                        a.before_value - 'blocked' - 'updated_at' - 'updated_by'
                        <> to_jsonb(k) - 'blocked' - 'updated_at' - 'updated_by') AS wrong_before,
       count(*) FILTER (WHERE a.changed_at < :'t0' OR a.changed_at > now()) AS wrong_time
FROM keymgmt.audit_log a JOIN keymgmt.keys k ON k.token = a.object_id;
-- the key rows: all unblocked again, the last change by path-admin, at a
-- real time
SELECT coalesce(key_alias, key_name) AS key, user_id, blocked, updated_by,
       updated_at BETWEEN :'t0' AND now() AS real_time
FROM keymgmt.keys ORDER BY 1;
-- the fake tables are as they were, and no fake was ever called
SELECT key_name, user_id, blocked FROM keymgmt_test_evil.keys ORDER BY key_name;
SELECT count(*) AS fake_audit_rows FROM keymgmt_test_evil.audit_log;
SELECT count(*) AS temp_audit_rows FROM pg_temp.audit_log;
SELECT count(*) AS temp_key_rows, count(*) FILTER (WHERE blocked) AS temp_blocked
FROM pg_temp.keys;
SELECT count(*) AS fake_calls FROM keymgmt_test_evil.calls;

-- clean up: the hostile schema first (its to_jsonb(keymgmt.keys) depends
-- on the extension's row type)
DISCARD TEMP;
SET client_min_messages = warning;
DROP SCHEMA keymgmt_test_evil CASCADE;
RESET client_min_messages;
DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;
DROP ROLE keymgmt_test_evil;

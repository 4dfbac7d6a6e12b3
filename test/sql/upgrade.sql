-- ALTER EXTENSION keymgmt UPDATE from 1.0: the 1.0 script still installs,
-- its functions work with the 1.1 library, and the update keeps every key,
-- audit row, admin and GRANT, and leaves exactly the schema a fresh 1.1
-- install makes.
\set VERBOSITY sqlstate

-- everything that makes up the extension's schema, but its data and ACLs
CREATE FUNCTION pg_temp.schema_signature()
RETURNS TABLE (kind text, name text, detail text) LANGUAGE sql AS $$
	SELECT 'function', p.oid::regprocedure::text,
	       concat_ws(' | ', pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
	                 p.prosecdef, p.proconfig::text, p.provolatile, p.proisstrict, p.prorows,
	                 p.prosrc, obj_description(p.oid, 'pg_proc'))
	FROM pg_proc p WHERE p.pronamespace = to_regnamespace('keymgmt')
	UNION ALL
	SELECT 'relation', c.relname,
	       concat_ws(' | ', c.relkind, obj_description(c.oid, 'pg_class'))
	FROM pg_class c WHERE c.relnamespace = to_regnamespace('keymgmt')
	UNION ALL
	SELECT 'column', c.relname || '.' || a.attname,
	       concat_ws(' | ', a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
	                 a.attidentity, pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum))
	FROM pg_class c
	JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
	WHERE c.relnamespace = to_regnamespace('keymgmt') AND c.relkind IN ('r', 'v')
	UNION ALL
	SELECT 'index', i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
	FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
	WHERE c.relnamespace = to_regnamespace('keymgmt')
	UNION ALL
	SELECT 'constraint', co.conrelid::regclass::text || ' ' || co.conname, pg_get_constraintdef(co.oid)
	FROM pg_constraint co WHERE co.connamespace = to_regnamespace('keymgmt')
	UNION ALL
	SELECT 'config dump', x::regclass::text, ''
	FROM pg_extension e, unnest(e.extconfig) x WHERE e.extname = 'keymgmt'
	UNION ALL
	SELECT 'member', pg_describe_object(d.classid, d.objid, 0), ''
	FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
	WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'keymgmt' AND d.deptype = 'e'
	UNION ALL
	SELECT 'public grant', p.oid::regprocedure::text, a.privilege_type
	FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
	WHERE p.pronamespace = to_regnamespace('keymgmt') AND a.grantee = 0
	UNION ALL
	SELECT 'public grant', c.relname, a.privilege_type
	FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
	WHERE c.relnamespace = to_regnamespace('keymgmt') AND a.grantee = 0
$$;

-- what a fresh 1.1 install makes
CREATE EXTENSION keymgmt;
SELECT extversion FROM pg_extension WHERE extname = 'keymgmt';
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.schema_signature();
DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

-- a 1.0 database, used through the 1.0 functions with the 1.1 library
CREATE EXTENSION keymgmt VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'keymgmt';
CREATE ROLE keymgmt_test_upgrader;
GRANT EXECUTE ON FUNCTION keymgmt.block_key(text, text), keymgmt.unblock_key(text, text),
                          keymgmt.verify_key(text)
  TO keymgmt_test_upgrader;
SELECT keymgmt.grant_admin('alice') AS granted,
       keymgmt.grant_admin('tom', team_id => 'team-a') AS granted_team;
SELECT key AS raw1 FROM keymgmt.generate_key(key_alias => 'one', team_id => 'team-a', actor => 'alice') \gset
SELECT key AS raw2 FROM keymgmt.generate_key(key_alias => 'two', user_id => 'u-2', actor => 'alice') \gset
SELECT key AS raw3 FROM keymgmt.generate_key(key_alias => 'three', actor => 'alice') \gset
-- statements that fail are logged with their text: those name keys by token
SELECT token AS tok2 FROM keymgmt.keys WHERE key_alias = 'two' \gset
SELECT token AS tok3 FROM keymgmt.keys WHERE key_alias = 'three' \gset
SELECT key_name IS NOT NULL AS deleted FROM keymgmt.delete_key(:'tok3', actor => 'alice');
SET ROLE keymgmt_test_upgrader;
SELECT blocked, updated_by FROM keymgmt.block_key(:'raw1', actor => 'tom');
-- no actor: as 1.0 recorded it, db_role is the role the session acts as
SELECT blocked FROM keymgmt.block_key(:'raw2');
SELECT valid, status FROM keymgmt.verify_key(:'raw2');
RESET ROLE;
SELECT action, changed_by,
       CASE db_role WHEN session_user THEN '(session user)' ELSE db_role END AS db_role
FROM keymgmt.audit_log WHERE object_type = 'key' ORDER BY id;
-- a 1.0 admin function with an actor works as it did
SELECT * FROM keymgmt.unblock_key(:'raw2', actor => 'alice') \gset

-- every row, and the GRANTs, before the update
CREATE TEMP TABLE before_update AS
SELECT 'key' AS t, to_jsonb(k)::text AS r FROM keymgmt.keys k
UNION ALL SELECT 'admin', to_jsonb(a)::text FROM keymgmt.admins a
UNION ALL SELECT 'audit', to_jsonb(l)::text FROM keymgmt.audit_log l;
CREATE TEMP TABLE grants_before AS
SELECT p.oid::regprocedure::text AS f, p.proacl::text AS acl
FROM pg_proc p WHERE p.pronamespace = 'keymgmt'::regnamespace;

-- 1.0's advice for a role that must name an actor: the update says what
-- holds instead (a warning; nothing changed)
ALTER ROLE keymgmt_test_upgrader SET keymgmt.require_actor = on;
\set VERBOSITY default
ALTER EXTENSION keymgmt UPDATE;
\set VERBOSITY sqlstate
ALTER ROLE keymgmt_test_upgrader RESET keymgmt.require_actor;
SELECT extversion FROM pg_extension WHERE extname = 'keymgmt';

-- the same rows
SELECT (SELECT count(*) FROM before_update) AS rows_before,
       (SELECT count(*) FROM (
           SELECT * FROM before_update
           EXCEPT ALL
           (SELECT 'key', to_jsonb(k)::text FROM keymgmt.keys k
            UNION ALL SELECT 'admin', to_jsonb(a)::text FROM keymgmt.admins a
            UNION ALL SELECT 'audit', to_jsonb(l)::text FROM keymgmt.audit_log l)) d) AS rows_lost;
-- the same ACL on every function that was there (same OIDs: ALTER, not
-- DROP and CREATE)
SELECT g.f, g.acl = p.proacl::text AS acl_kept
FROM grants_before g LEFT JOIN pg_proc p ON p.oid::regprocedure::text = g.f
ORDER BY g.f;
-- the schema of a fresh install, exactly: what differs is listed
(SELECT 'only in fresh' AS side, * FROM fresh EXCEPT SELECT 'only in fresh', * FROM pg_temp.schema_signature())
UNION ALL
(SELECT 'only in updated', * FROM pg_temp.schema_signature() EXCEPT SELECT 'only in updated', * FROM fresh)
ORDER BY 1, 2, 3;
SELECT count(*) AS schema_objects FROM fresh;

-- and it works as 1.1: the granted role still blocks, now audited as itself
SET ROLE keymgmt_test_upgrader;
SELECT blocked, updated_by FROM keymgmt.block_key(:'raw2');
RESET ROLE;
SELECT action, changed_by, db_role FROM keymgmt.audit_log ORDER BY id DESC LIMIT 1;
-- the keys verify as before
SELECT status FROM keymgmt.verify_key(:'raw1');
SELECT status FROM keymgmt.verify_key(:'raw2');
SELECT status FROM keymgmt.verify_key(:'raw3');
-- and what 1.1 adds is there
SELECT keymgmt.set_actor_required('keymgmt_test_upgrader') AS listed;
SET ROLE keymgmt_test_upgrader;
SELECT blocked FROM keymgmt.unblock_key(:'tok2');
RESET ROLE;

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;
DROP ROLE keymgmt_test_upgrader;

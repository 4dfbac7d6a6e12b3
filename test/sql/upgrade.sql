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
	  -- PostgreSQL 18 records NOT NULL as constraints too: attnotnull has it
	  AND co.contype <> 'n'
	UNION ALL
	SELECT 'config dump', x::regclass::text, ''
	FROM pg_extension e, unnest(e.extconfig) x WHERE e.extname = 'keymgmt'
	UNION ALL
	SELECT 'member', pg_describe_object(d.classid, d.objid, 0), ''
	FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
	WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'keymgmt' AND d.deptype = 'e'
	  -- from PostgreSQL 17 a table's row type (and its array type) is a
	  -- member too: the relation stands for it
	  AND NOT EXISTS (SELECT FROM pg_type t LEFT JOIN pg_type el ON el.oid = t.typelem
	                  WHERE d.classid = 'pg_type'::regclass AND t.oid = d.objid
	                    AND (t.typrelid <> 0 OR el.typrelid <> 0))
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

-- a 1.0 database.  Its rows are written as 1.0 wrote them: with the 1.1
-- library installed, 1.0's change functions refuse to run (55000) until the
-- update, since its tables lack what 1.1 writes.
CREATE EXTENSION keymgmt VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'keymgmt';
CREATE ROLE keymgmt_test_upgrader;
CREATE ROLE keymgmt_test_gateway;
GRANT EXECUTE ON FUNCTION keymgmt.block_key(text, text), keymgmt.unblock_key(text, text),
                          keymgmt.verify_key(text)
  TO keymgmt_test_upgrader;
GRANT EXECUTE ON FUNCTION keymgmt.verify_key(text) TO keymgmt_test_gateway;
-- the admin grants work on 1.0's tables
SELECT keymgmt.grant_admin('alice') AS granted,
       keymgmt.grant_admin('tom', team_id => 'team-a') AS granted_team;
SELECT 'sk-' || md5(random()::text) || md5(random()::text) AS raw1,
       'sk-' || md5(random()::text) || md5(random()::text) AS raw2,
       'sk-' || md5(random()::text) || md5(random()::text) AS raw3 \gset
INSERT INTO keymgmt.keys (token, key_name, key_alias, user_id, team_id, blocked,
                          created_at, updated_at, created_by, updated_by)
SELECT encode(sha256(convert_to(raw, 'UTF8')), 'hex'), 'sk-...' || right(raw, 4),
       alias, user_id, team_id, alias = 'one', now() - age, now() - age, 'alice', 'alice'
FROM (VALUES (:'raw1', 'one', NULL, 'team-a', interval '3 days'),
             (:'raw2', 'two', 'u-2', NULL, interval '2 days'),
             (:'raw3', 'three', NULL, NULL, interval '1 day')) v(raw, alias, user_id, team_id, age);
INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id, changed_by,
                               db_role, before_value, updated_values)
SELECT 'key', k.created_at, 'created', k.token, 'alice', 'postgres', NULL,
       to_jsonb(k) || '{"blocked": false}'
FROM keymgmt.keys k ORDER BY k.created_at;
INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id, changed_by,
                               db_role, before_value, updated_values)
SELECT 'key', now(), 'blocked', k.token, 'tom', 'keymgmt_test_upgrader',
       to_jsonb(k) || '{"blocked": false}', '{"blocked": true}'
FROM keymgmt.keys k WHERE k.key_alias = 'one';
WITH gone AS (DELETE FROM keymgmt.keys k WHERE k.key_alias = 'three' RETURNING k)
INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id, changed_by,
                               db_role, before_value)
SELECT 'key', now(), 'deleted', (gone.k).token, 'alice', 'postgres', to_jsonb(gone.k) FROM gone;
-- statements that fail are logged with their text: those name keys by token
SELECT token AS tok1 FROM keymgmt.keys WHERE key_alias = 'one' \gset
SELECT token AS tok2 FROM keymgmt.keys WHERE key_alias = 'two' \gset

-- the 1.1 library on 1.0's schema: verify_key answers with 1.0's eight
-- columns; changes and key_info say to update
SET ROLE keymgmt_test_gateway;
SELECT to_jsonb(v) - 'token' AS columns_but_token, v.token = :'tok1' AS token
FROM keymgmt.verify_key(:'raw1') v;
SELECT valid, status FROM keymgmt.verify_key(:'raw2');
RESET ROLE;
SET ROLE keymgmt_test_upgrader;
\set VERBOSITY default
SELECT blocked FROM keymgmt.block_key(:'tok2');
\set VERBOSITY sqlstate
SELECT blocked FROM keymgmt.unblock_key(:'tok1', actor => 'tom');
RESET ROLE;
SELECT key_name FROM keymgmt.key_info(:'tok2');
SELECT key FROM keymgmt.generate_key();
SELECT count(*) AS keys, (SELECT count(*) FROM keymgmt.audit_log) AS audit_rows FROM keymgmt.keys;

-- every row, and the GRANTs, before the update
CREATE TEMP TABLE before_update AS
SELECT 'key' AS t, to_jsonb(k)::text AS r FROM keymgmt.keys k
UNION ALL SELECT 'admin', to_jsonb(a)::text FROM keymgmt.admins a
UNION ALL SELECT 'audit', to_jsonb(l)::text FROM keymgmt.audit_log l;
CREATE TEMP TABLE grants_before AS
SELECT p.oid::regprocedure::text AS f, p.oid AS old_oid, p.proacl::text AS acl
FROM pg_proc p WHERE p.pronamespace = 'keymgmt'::regnamespace;

-- a view of the administrator's over verify_key: the update must recreate
-- verify_key, so it stops, says what depends on it, and changes nothing
CREATE VIEW public.gateway_check AS SELECT * FROM keymgmt.verify_key('sk-x');
-- (its message and hint, not its context: from PostgreSQL 18 that quotes
-- the whole statement of the update script it stopped in)
\set VERBOSITY default
\set SHOW_CONTEXT never
ALTER EXTENSION keymgmt UPDATE;
\set SHOW_CONTEXT errors
\set VERBOSITY sqlstate
SELECT extversion FROM pg_extension WHERE extname = 'keymgmt';
DROP VIEW public.gateway_check;

-- 1.0's advice for a role that must name an actor: the update says what
-- holds instead (a warning; nothing changed)
ALTER ROLE keymgmt_test_upgrader SET keymgmt.require_actor = on;
\set VERBOSITY default
ALTER EXTENSION keymgmt UPDATE;
\set VERBOSITY sqlstate
ALTER ROLE keymgmt_test_upgrader RESET keymgmt.require_actor;
SELECT extversion FROM pg_extension WHERE extname = 'keymgmt';

-- the same rows, with what 1.1 adds to them
SELECT (SELECT count(*) FROM before_update) AS rows_before,
       (SELECT count(*) FROM (
           SELECT * FROM before_update
           EXCEPT ALL
           (SELECT 'key', (to_jsonb(k) - 'key_id')::text FROM keymgmt.keys k
            UNION ALL SELECT 'admin', to_jsonb(a)::text FROM keymgmt.admins a
            UNION ALL SELECT 'audit', (to_jsonb(l) - 'key_id' - 'txid')::text
                      FROM keymgmt.audit_log l)) d) AS rows_lost;
-- every key has a UUIDv7 key_id made from its created_at, in creation order
SELECT key_alias, substr(key_id::text, 15, 1) AS version,
       ('x' || substr(replace(key_id::text, '-', ''), 1, 12))::bit(48)::bigint
         = floor(extract(epoch FROM created_at) * 1000) AS time_is_created_at
FROM keymgmt.keys ORDER BY key_id;
-- the past audit rows of keys that exist carry their key_id; of the key
-- deleted before the update, none; every past row has txid 0
SELECT l.action, l.object_id = k.token AS of_key, l.key_id = k.key_id AS key_id_filled,
       l.key_id IS NULL AS no_key_id, l.txid = '0' AS txid_zero
FROM keymgmt.audit_log l LEFT JOIN keymgmt.keys k ON k.token = l.object_id
WHERE l.object_type = 'key' ORDER BY l.id;
-- the same ACL on every function that was there; verify_key's result grew,
-- so it is a new function with the old one's grants
SELECT g.f, g.acl = p.proacl::text AS acl_kept, g.old_oid = p.oid AS same_oid
FROM grants_before g LEFT JOIN pg_proc p ON p.oid::regprocedure::text = g.f
ORDER BY g.f;
-- and those grants are the administrator's, not the extension's initial
-- privileges, so pg_dump writes them
SELECT pg_get_function_result(i.objoid) AS verify_key_returns,
       i.initprivs::text LIKE '%keymgmt_test%' AS grants_in_initial_privileges
FROM pg_init_privs i
WHERE i.objoid = 'keymgmt.verify_key(text)'::regprocedure AND i.classoid = 'pg_proc'::regclass;
-- the schema of a fresh install, exactly: what differs is listed
(SELECT 'only in fresh' AS side, * FROM fresh EXCEPT SELECT 'only in fresh', * FROM pg_temp.schema_signature())
UNION ALL
(SELECT 'only in updated', * FROM pg_temp.schema_signature() EXCEPT SELECT 'only in updated', * FROM fresh)
ORDER BY 1, 2, 3;
SELECT count(*) AS schema_objects FROM fresh;

-- and it works as 1.1: the gateway verifies, with the new columns
SELECT key_id AS kid2 FROM keymgmt.keys WHERE key_alias = 'two' \gset
SET ROLE keymgmt_test_gateway;
SELECT valid, status, key_id = :'kid2' AS key_id, grace_until
FROM keymgmt.verify_key(:'raw2');
SELECT status FROM keymgmt.verify_key(:'raw1');
SELECT status FROM keymgmt.verify_key(:'raw3');
RESET ROLE;
-- the granted role blocks, audited as itself, with the key's key_id
SET ROLE keymgmt_test_upgrader;
SELECT blocked, updated_by FROM keymgmt.block_key(:'tok2');
RESET ROLE;
SELECT action, changed_by, db_role, key_id = :'kid2' AS key_id, txid <> '0' AS txid_set
FROM keymgmt.audit_log ORDER BY id DESC LIMIT 1;
-- the audit trail of a key, by key_id, across the update
SELECT l.action FROM keymgmt.audit_log l JOIN keymgmt.keys k USING (key_id)
WHERE k.key_alias = 'two' ORDER BY l.id;
-- and what 1.1 adds is there
SELECT keymgmt.set_actor_required('keymgmt_test_upgrader') AS listed;
SET ROLE keymgmt_test_upgrader;
SELECT blocked FROM keymgmt.unblock_key(:'tok2');
RESET ROLE;

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;
DROP ROLE keymgmt_test_upgrader;
DROP ROLE keymgmt_test_gateway;

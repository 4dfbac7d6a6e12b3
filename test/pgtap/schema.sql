-- keymgmt: the objects the extension installs, as SPEC.md describes them.
--
-- Runs as a superuser in a database that already has pgtap and keymgmt;
-- everything happens in one transaction that is rolled back.

BEGIN;
SELECT plan(187);

-- the actor used below is a global admin, so that the checks of who may
-- change which key let its changes through (authority is tested in
-- authority.sql)
INSERT INTO keymgmt.admins (user_id) VALUES ('tap');

-- ---------------------------------------------------------------------------
-- The extension: schema keymgmt, not relocatable, not trusted.
-- ---------------------------------------------------------------------------
SELECT has_extension('keymgmt', 'keymgmt', 'extension keymgmt is installed in schema keymgmt');
SELECT is(
	(SELECT extrelocatable FROM pg_extension WHERE extname = 'keymgmt'),
	false, 'the extension is not relocatable');
SELECT is(
	(SELECT bool_or(trusted) FROM pg_available_extension_versions WHERE name = 'keymgmt'),
	false, 'the extension is not trusted');

-- ---------------------------------------------------------------------------
-- keymgmt.keys: one row per key.
-- ---------------------------------------------------------------------------
SELECT has_table('keymgmt', 'keys', 'table keymgmt.keys exists');
SELECT columns_are('keymgmt', 'keys', ARRAY[
	'token', 'key_name', 'key_alias', 'user_id', 'team_id', 'organization_id',
	'blocked', 'expires', 'metadata', 'created_at', 'updated_at',
	'created_by', 'updated_by', 'key_id'],
	'keymgmt.keys has exactly the columns of the SPEC');
SELECT col_type_is('keymgmt', 'keys', 'key_id', 'uuid', 'keys.key_id is a uuid');
SELECT col_not_null('keymgmt', 'keys', 'key_id', 'keys.key_id is not null');
SELECT col_is_unique('keymgmt', 'keys', 'key_id', 'keys.key_id is unique');
SELECT has_index('keymgmt', 'keys', 'keys_user_id_idx', ARRAY['user_id'], 'keys(user_id) is indexed');
SELECT has_index('keymgmt', 'keys', 'keys_team_id_idx', ARRAY['team_id'], 'keys(team_id) is indexed');
SELECT has_index('keymgmt', 'keys', 'keys_organization_id_idx', ARRAY['organization_id'],
	'keys(organization_id) is indexed');
SELECT is_empty(
	$$SELECT a.attname FROM pg_index i
	  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
	  WHERE i.indrelid = 'keymgmt.keys'::regclass
	    AND a.attname IN ('blocked', 'updated_at', 'updated_by')$$,
	'no index on a column block and unblock change: they stay HOT updates');
SELECT is(
	(SELECT substr(keymgmt.key_id_at('2026-01-02 03:04:05.678+00')::text, 1, 13)),
	'019b7ca9-8f2e', 'key_id_at puts the time in milliseconds first (UUIDv7)');
SELECT is(
	(SELECT substr(keymgmt.key_id_at(now())::text, 15, 1)), '7', 'key_id_at makes version 7 uuids');

SELECT has_column('keymgmt', 'keys', 'token', 'keys.token exists');
SELECT has_column('keymgmt', 'keys', 'key_name', 'keys.key_name exists');
SELECT has_column('keymgmt', 'keys', 'key_alias', 'keys.key_alias exists');
SELECT has_column('keymgmt', 'keys', 'user_id', 'keys.user_id exists');
SELECT has_column('keymgmt', 'keys', 'team_id', 'keys.team_id exists');
SELECT has_column('keymgmt', 'keys', 'organization_id', 'keys.organization_id exists');
SELECT has_column('keymgmt', 'keys', 'blocked', 'keys.blocked exists');
SELECT has_column('keymgmt', 'keys', 'expires', 'keys.expires exists');
SELECT has_column('keymgmt', 'keys', 'metadata', 'keys.metadata exists');
SELECT has_column('keymgmt', 'keys', 'created_at', 'keys.created_at exists');
SELECT has_column('keymgmt', 'keys', 'updated_at', 'keys.updated_at exists');
SELECT has_column('keymgmt', 'keys', 'created_by', 'keys.created_by exists');
SELECT has_column('keymgmt', 'keys', 'updated_by', 'keys.updated_by exists');

SELECT col_type_is('keymgmt', 'keys', 'token', 'text', 'keys.token is text');
SELECT col_type_is('keymgmt', 'keys', 'key_name', 'text', 'keys.key_name is text');
SELECT col_type_is('keymgmt', 'keys', 'key_alias', 'text', 'keys.key_alias is text');
SELECT col_type_is('keymgmt', 'keys', 'user_id', 'text', 'keys.user_id is text');
SELECT col_type_is('keymgmt', 'keys', 'team_id', 'text', 'keys.team_id is text');
SELECT col_type_is('keymgmt', 'keys', 'organization_id', 'text', 'keys.organization_id is text');
SELECT col_type_is('keymgmt', 'keys', 'blocked', 'boolean', 'keys.blocked is boolean');
SELECT col_type_is('keymgmt', 'keys', 'expires', 'timestamp with time zone', 'keys.expires is timestamptz');
SELECT col_type_is('keymgmt', 'keys', 'metadata', 'jsonb', 'keys.metadata is jsonb');
SELECT col_type_is('keymgmt', 'keys', 'created_at', 'timestamp with time zone', 'keys.created_at is timestamptz');
SELECT col_type_is('keymgmt', 'keys', 'updated_at', 'timestamp with time zone', 'keys.updated_at is timestamptz');
SELECT col_type_is('keymgmt', 'keys', 'created_by', 'text', 'keys.created_by is text');
SELECT col_type_is('keymgmt', 'keys', 'updated_by', 'text', 'keys.updated_by is text');

SELECT col_is_pk('keymgmt', 'keys', 'token', 'keys.token is the primary key');

SELECT col_not_null('keymgmt', 'keys', 'token', 'keys.token is not null');
SELECT col_not_null('keymgmt', 'keys', 'key_name', 'keys.key_name is not null');
SELECT col_not_null('keymgmt', 'keys', 'blocked', 'keys.blocked is not null');
SELECT col_not_null('keymgmt', 'keys', 'metadata', 'keys.metadata is not null');
SELECT col_not_null('keymgmt', 'keys', 'created_at', 'keys.created_at is not null');
SELECT col_not_null('keymgmt', 'keys', 'updated_at', 'keys.updated_at is not null');
SELECT col_is_null('keymgmt', 'keys', 'key_alias', 'keys.key_alias is nullable');
SELECT col_is_null('keymgmt', 'keys', 'user_id', 'keys.user_id is nullable');
SELECT col_is_null('keymgmt', 'keys', 'team_id', 'keys.team_id is nullable');
SELECT col_is_null('keymgmt', 'keys', 'organization_id', 'keys.organization_id is nullable');
SELECT col_is_null('keymgmt', 'keys', 'expires', 'keys.expires is nullable (null = never)');
SELECT col_is_null('keymgmt', 'keys', 'created_by', 'keys.created_by is nullable');
SELECT col_is_null('keymgmt', 'keys', 'updated_by', 'keys.updated_by is nullable');

SELECT col_default_is('keymgmt', 'keys', 'blocked', 'false', 'keys.blocked defaults to false');
SELECT col_default_is('keymgmt', 'keys', 'metadata', '{}'::text, 'keys.metadata defaults to {}');

-- key_alias: unique when not null, i.e. a plain (not partial) unique index on
-- exactly that column, whatever it is called
SELECT ok(EXISTS (
	SELECT 1 FROM pg_index i
	 WHERE i.indrelid = 'keymgmt.keys'::regclass
	   AND i.indisunique
	   AND i.indpred IS NULL
	   AND i.indexprs IS NULL
	   AND i.indnatts = 1
	   AND i.indkey[0] = (SELECT attnum FROM pg_attribute
						   WHERE attrelid = 'keymgmt.keys'::regclass
							 AND attname = 'key_alias')),
	'keys.key_alias has a unique index of its own');
SELECT lives_ok($$
	INSERT INTO keymgmt.keys (token, key_name, created_at, updated_at)
	SELECT encode(sha256(convert_to('sk-tap-schema-' || i, 'UTF8')), 'hex'), 'sk-...' || i, now(), now()
	  FROM generate_series(1000, 1001) i$$,
	'many keys may have no key_alias');

-- ---------------------------------------------------------------------------
-- keymgmt.audit_log: append-only, one row per state change.
-- ---------------------------------------------------------------------------
SELECT has_table('keymgmt', 'audit_log', 'table keymgmt.audit_log exists');
SELECT columns_are('keymgmt', 'audit_log', ARRAY[
	'id', 'object_type', 'changed_at', 'action', 'object_id', 'changed_by',
	'db_role', 'before_value', 'updated_values', 'key_id', 'txid'],
	'keymgmt.audit_log has exactly the columns of the SPEC');
SELECT col_type_is('keymgmt', 'audit_log', 'key_id', 'uuid', 'audit_log.key_id is a uuid');
SELECT col_is_null('keymgmt', 'audit_log', 'key_id', 'audit_log.key_id is nullable (admin and role rows)');
SELECT col_type_is('keymgmt', 'audit_log', 'txid', 'xid8', 'audit_log.txid is an xid8');
SELECT col_not_null('keymgmt', 'audit_log', 'txid', 'audit_log.txid is not null');
SELECT col_default_is('keymgmt', 'audit_log', 'txid', 'pg_current_xact_id()',
	'audit_log.txid is the writing transaction''s id');

-- ---------------------------------------------------------------------------
-- keymgmt.previous_tokens: old secrets of rotated keys, in their grace.
-- ---------------------------------------------------------------------------
SELECT has_table('keymgmt', 'previous_tokens', 'table keymgmt.previous_tokens exists');
SELECT columns_are('keymgmt', 'previous_tokens', ARRAY['token', 'key_id', 'valid_until'],
	'keymgmt.previous_tokens has exactly the columns of the SPEC');
SELECT col_is_pk('keymgmt', 'previous_tokens', 'token', 'previous_tokens.token is the primary key');
SELECT col_not_null('keymgmt', 'previous_tokens', 'key_id', 'previous_tokens.key_id is not null');
SELECT col_not_null('keymgmt', 'previous_tokens', 'valid_until', 'previous_tokens.valid_until is not null');

-- ---------------------------------------------------------------------------
-- keymgmt.key_status: the view for admins.
-- ---------------------------------------------------------------------------
SELECT has_view('keymgmt', 'key_status', 'view keymgmt.key_status exists');
SELECT columns_are('keymgmt', 'key_status', ARRAY[
	'key_id', 'key_name', 'key_alias', 'user_id', 'team_id', 'organization_id',
	'status', 'expires', 'previous_secrets', 'grace_until', 'last_action',
	'last_changed_by', 'last_changed_at', 'created_at'],
	'keymgmt.key_status has its columns');
SELECT isnt(obj_description('keymgmt.key_status'::regclass, 'pg_class'), NULL,
	'keymgmt.key_status has a comment');
SELECT is_empty(
	$$SELECT 1 FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
	  WHERE c.oid = 'keymgmt.key_status'::regclass AND a.grantee = 0$$,
	'keymgmt.key_status is not granted to PUBLIC');

SELECT has_column('keymgmt', 'audit_log', 'id', 'audit_log.id exists');
SELECT has_column('keymgmt', 'audit_log', 'object_type', 'audit_log.object_type exists');
SELECT has_column('keymgmt', 'audit_log', 'changed_at', 'audit_log.changed_at exists');
SELECT has_column('keymgmt', 'audit_log', 'action', 'audit_log.action exists');
SELECT has_column('keymgmt', 'audit_log', 'object_id', 'audit_log.object_id exists');
SELECT has_column('keymgmt', 'audit_log', 'changed_by', 'audit_log.changed_by exists');
SELECT has_column('keymgmt', 'audit_log', 'db_role', 'audit_log.db_role exists');
SELECT has_column('keymgmt', 'audit_log', 'before_value', 'audit_log.before_value exists');
SELECT has_column('keymgmt', 'audit_log', 'updated_values', 'audit_log.updated_values exists');

SELECT col_type_is('keymgmt', 'audit_log', 'id', 'bigint', 'audit_log.id is bigint');
SELECT col_type_is('keymgmt', 'audit_log', 'object_type', 'text', 'audit_log.object_type is text');
SELECT col_type_is('keymgmt', 'audit_log', 'changed_at', 'timestamp with time zone', 'audit_log.changed_at is timestamptz');
SELECT col_type_is('keymgmt', 'audit_log', 'action', 'text', 'audit_log.action is text');
SELECT col_type_is('keymgmt', 'audit_log', 'object_id', 'text', 'audit_log.object_id is text');
SELECT col_type_is('keymgmt', 'audit_log', 'changed_by', 'text', 'audit_log.changed_by is text');
SELECT col_type_is('keymgmt', 'audit_log', 'db_role', 'text', 'audit_log.db_role is text');
SELECT col_type_is('keymgmt', 'audit_log', 'before_value', 'jsonb', 'audit_log.before_value is jsonb');
SELECT col_type_is('keymgmt', 'audit_log', 'updated_values', 'jsonb', 'audit_log.updated_values is jsonb');

SELECT col_is_pk('keymgmt', 'audit_log', 'id', 'audit_log.id is the primary key');
SELECT ok(
	(SELECT attidentity IN ('a', 'd') FROM pg_attribute
	  WHERE attrelid = 'keymgmt.audit_log'::regclass AND attname = 'id'),
	'audit_log.id is an identity column');
SELECT has_sequence('keymgmt', 'audit_log_id_seq', 'the identity sequence is keymgmt.audit_log_id_seq');

SELECT col_not_null('keymgmt', 'audit_log', 'id', 'audit_log.id is not null');
SELECT col_not_null('keymgmt', 'audit_log', 'object_type', 'audit_log.object_type is not null');
SELECT col_not_null('keymgmt', 'audit_log', 'changed_at', 'audit_log.changed_at is not null');
SELECT col_not_null('keymgmt', 'audit_log', 'action', 'audit_log.action is not null');
SELECT col_not_null('keymgmt', 'audit_log', 'object_id', 'audit_log.object_id is not null');
SELECT col_not_null('keymgmt', 'audit_log', 'changed_by', 'audit_log.changed_by is not null');
SELECT col_not_null('keymgmt', 'audit_log', 'db_role', 'audit_log.db_role is not null');
SELECT col_is_null('keymgmt', 'audit_log', 'before_value', 'audit_log.before_value is nullable (null for created)');
SELECT col_is_null('keymgmt', 'audit_log', 'updated_values', 'audit_log.updated_values is nullable (null for deleted)');

-- ---------------------------------------------------------------------------
-- keymgmt.admins: who may change keys on behalf of others.  Both scope
-- columns null: a global admin; team_id set: admin of that team;
-- organization_id set: admin of that organization.
-- ---------------------------------------------------------------------------
SELECT has_table('keymgmt', 'admins', 'table keymgmt.admins exists');
SELECT columns_are('keymgmt', 'admins', ARRAY['user_id', 'team_id', 'organization_id'],
	'keymgmt.admins has exactly the columns of the SPEC');

SELECT has_column('keymgmt', 'admins', 'user_id', 'admins.user_id exists');
SELECT has_column('keymgmt', 'admins', 'team_id', 'admins.team_id exists');
SELECT has_column('keymgmt', 'admins', 'organization_id', 'admins.organization_id exists');

SELECT col_type_is('keymgmt', 'admins', 'user_id', 'text', 'admins.user_id is text');
SELECT col_type_is('keymgmt', 'admins', 'team_id', 'text', 'admins.team_id is text');
SELECT col_type_is('keymgmt', 'admins', 'organization_id', 'text', 'admins.organization_id is text');

SELECT col_not_null('keymgmt', 'admins', 'user_id', 'admins.user_id is not null');
SELECT col_is_null('keymgmt', 'admins', 'team_id', 'admins.team_id is nullable (null: not a team admin)');
SELECT col_is_null('keymgmt', 'admins', 'organization_id', 'admins.organization_id is nullable (null: not an organization admin)');

-- one row per (user, scope): a plain unique index in which a null scope
-- counts as equal to another null scope, whatever the index is called
SELECT results_eq(
	$$SELECT pg_get_indexdef(i.indexrelid, k, true) FROM pg_index i, generate_series(1, 3) k
	   WHERE i.indrelid = 'keymgmt.admins'::regclass
		 AND i.indisunique
		 AND i.indpred IS NULL
		 AND i.indnatts = 3
	   ORDER BY k$$,
	ARRAY['user_id', 'COALESCE(team_id, ''''::text)', 'COALESCE(organization_id, ''''::text)'],
	'admins has a unique index on (user_id, COALESCE(team_id, ''''), COALESCE(organization_id, ''''))');
SELECT lives_ok($$
	INSERT INTO keymgmt.admins (user_id, team_id, organization_id)
	VALUES ('tap-schema-admin', NULL, NULL), ('tap-schema-admin', 'x', NULL), ('tap-schema-admin', NULL, 'x')$$,
	'one user may be a global admin, a team admin and an organization admin at once');
SELECT throws_ok($$INSERT INTO keymgmt.admins (user_id) VALUES ('tap-schema-admin')$$,
	'23505', NULL, 'a second global admin row for the same user is a unique violation');
SELECT throws_ok($$INSERT INTO keymgmt.admins (user_id, team_id) VALUES ('tap-schema-admin', 'x')$$,
	'23505', NULL, 'a second row for the same user and team is a unique violation');
SELECT throws_ok($$INSERT INTO keymgmt.admins (user_id, team_id, organization_id) VALUES ('tap-schema-admin', 'y', 'y')$$,
	'23514', NULL, 'a row is of a team or of an organization, not both');
SELECT throws_ok($$INSERT INTO keymgmt.admins (user_id) VALUES ('')$$,
	'23514', NULL, 'an empty user_id names nobody');

-- ---------------------------------------------------------------------------
-- pg_dump keeps the three tables and where the audit ids continue from.
-- ---------------------------------------------------------------------------
SELECT set_eq(
	$$SELECT unnest(extconfig)::regclass::text FROM pg_extension WHERE extname = 'keymgmt'$$,
	ARRAY['keymgmt.keys', 'keymgmt.admins', 'keymgmt.actor_required_roles', 'keymgmt.audit_log',
		  'keymgmt.audit_log_id_seq', 'keymgmt.previous_tokens'],
	'extconfig lists keymgmt.keys, keymgmt.admins, keymgmt.actor_required_roles, keymgmt.audit_log, keymgmt.audit_log_id_seq and keymgmt.previous_tokens');

-- ---------------------------------------------------------------------------
-- keymgmt.actor_required_roles: roles that must name an actor.
-- ---------------------------------------------------------------------------
SELECT has_table('keymgmt', 'actor_required_roles', 'table keymgmt.actor_required_roles exists');
SELECT columns_are('keymgmt', 'actor_required_roles', ARRAY['role'],
	'keymgmt.actor_required_roles has exactly one column, role');
SELECT col_type_is('keymgmt', 'actor_required_roles', 'role', 'regrole',
	'actor_required_roles.role is a regrole: it follows a rename, and pg_dump writes the name');
SELECT has_pk('keymgmt', 'actor_required_roles', 'actor_required_roles has a primary key');

-- ---------------------------------------------------------------------------
-- The nine functions: exact argument types, result, not SECURITY DEFINER.
-- ---------------------------------------------------------------------------
SELECT has_function('keymgmt', 'generate_key',
	ARRAY['text', 'text', 'text', 'text', 'timestamp with time zone', 'jsonb', 'text'],
	'generate_key(text, text, text, text, timestamptz, jsonb, text) exists');
SELECT has_function('keymgmt', 'block_key', ARRAY['text', 'text'], 'block_key(text, text) exists');
SELECT has_function('keymgmt', 'unblock_key', ARRAY['text', 'text'], 'unblock_key(text, text) exists');
SELECT has_function('keymgmt', 'delete_key', ARRAY['text', 'text'], 'delete_key(text, text) exists');
SELECT has_function('keymgmt', 'key_info', ARRAY['text'], 'key_info(text) exists');
SELECT has_function('keymgmt', 'verify_key', ARRAY['text'], 'verify_key(text) exists');
SELECT has_function('keymgmt', 'grant_admin', ARRAY['text', 'text', 'text'], 'grant_admin(text, text, text) exists');
SELECT has_function('keymgmt', 'revoke_admin', ARRAY['text', 'text', 'text'], 'revoke_admin(text, text, text) exists');
SELECT has_function('keymgmt', 'set_actor_required', ARRAY['name', 'boolean'],
	'set_actor_required(name, boolean) exists');

SELECT function_returns('keymgmt', 'generate_key',
	ARRAY['text', 'text', 'text', 'text', 'timestamp with time zone', 'jsonb', 'text'],
	'setof record', 'generate_key returns a set of rows (TABLE)');
SELECT function_returns('keymgmt', 'block_key', ARRAY['text', 'text'], 'keymgmt.keys',
	'block_key returns keymgmt.keys');
SELECT function_returns('keymgmt', 'unblock_key', ARRAY['text', 'text'], 'keymgmt.keys',
	'unblock_key returns keymgmt.keys');
SELECT function_returns('keymgmt', 'delete_key', ARRAY['text', 'text'], 'keymgmt.keys',
	'delete_key returns keymgmt.keys');
SELECT function_returns('keymgmt', 'key_info', ARRAY['text'], 'keymgmt.keys',
	'key_info returns keymgmt.keys');
SELECT function_returns('keymgmt', 'verify_key', ARRAY['text'], 'setof record',
	'verify_key returns a set of rows (TABLE)');
SELECT function_returns('keymgmt', 'grant_admin', ARRAY['text', 'text', 'text'], 'boolean',
	'grant_admin returns boolean');
SELECT function_returns('keymgmt', 'revoke_admin', ARRAY['text', 'text', 'text'], 'boolean',
	'revoke_admin returns boolean');
SELECT function_returns('keymgmt', 'set_actor_required', ARRAY['name', 'boolean'], 'boolean',
	'set_actor_required returns boolean');

-- the output columns of the two TABLE functions, by name and type
SELECT is(pg_get_function_result('keymgmt.generate_key(text, text, text, text, timestamptz, jsonb, text)'::regprocedure),
	'TABLE(key text, token text, key_name text)',
	'generate_key returns TABLE(key text, token text, key_name text)');
SELECT is(pg_get_function_result('keymgmt.verify_key(text)'::regprocedure),
	'TABLE(valid boolean, status text, token text, user_id text, team_id text, organization_id text, expires timestamp with time zone, metadata jsonb, key_id uuid, grace_until timestamp with time zone)',
	'verify_key returns TABLE(valid, status, token, user_id, team_id, organization_id, expires, metadata, key_id, grace_until)');

-- None is SECURITY DEFINER: each notes the calling role (the audit log's
-- db_role), then switches to the table owner's rights in C.
SELECT isnt_definer('keymgmt', 'generate_key',
	ARRAY['text', 'text', 'text', 'text', 'timestamp with time zone', 'jsonb', 'text'],
	'generate_key is not SECURITY DEFINER');
SELECT isnt_definer('keymgmt', 'block_key', ARRAY['text', 'text'], 'block_key is not SECURITY DEFINER');
SELECT isnt_definer('keymgmt', 'unblock_key', ARRAY['text', 'text'], 'unblock_key is not SECURITY DEFINER');
SELECT isnt_definer('keymgmt', 'delete_key', ARRAY['text', 'text'], 'delete_key is not SECURITY DEFINER');
SELECT isnt_definer('keymgmt', 'key_info', ARRAY['text'], 'key_info is not SECURITY DEFINER');
SELECT isnt_definer('keymgmt', 'verify_key', ARRAY['text'], 'verify_key is not SECURITY DEFINER');
SELECT isnt_definer('keymgmt', 'grant_admin', ARRAY['text', 'text', 'text'], 'grant_admin is not SECURITY DEFINER');
SELECT isnt_definer('keymgmt', 'revoke_admin', ARRAY['text', 'text', 'text'], 'revoke_admin is not SECURITY DEFINER');
SELECT isnt_definer('keymgmt', 'set_actor_required', ARRAY['name', 'boolean'],
	'set_actor_required is not SECURITY DEFINER');

-- no settings of their own either: every query inside is schema-qualified,
-- so the caller's search_path reaches nothing (search_path.sql tries)
SELECT results_eq(
	$$SELECT p.oid::regprocedure::text, p.proconfig COLLATE "default" FROM pg_proc p
	   WHERE p.pronamespace = 'keymgmt'::regnamespace ORDER BY 1$$,
	$$VALUES
		('keymgmt.block_key(text,text)', NULL::text[]),
		('keymgmt.block_keys(text,text,text,text)', NULL),
		('keymgmt.changes(text,integer)', NULL),
		('keymgmt.current_cursor()', NULL),
		('keymgmt.delete_key(text,text)', NULL),
		('keymgmt.end_grace(text,text)', NULL),
		('keymgmt.generate_key(text,text,text,text,timestamp with time zone,jsonb,text)', NULL),
		('keymgmt.grant_admin(text,text,text)', NULL),
		('keymgmt.import_key(text,text,text,text,text,text,boolean,timestamp with time zone,jsonb,text)', NULL),
		('keymgmt.key_id_at(timestamp with time zone)', NULL),
		('keymgmt.key_info(text)', NULL),
		('keymgmt.list_keys(text,text,text,text,uuid,integer,text)', NULL),
		('keymgmt.revoke_admin(text,text,text)', NULL),
		('keymgmt.rotate_key(text,interval,text)', NULL),
		('keymgmt.set_actor_required(name,boolean)', NULL),
		('keymgmt.unblock_key(text,text)', NULL),
		('keymgmt.unblock_keys(text,text,text,text)', NULL),
		('keymgmt.update_key(text,jsonb,text)', NULL),
		('keymgmt.verify_key(text)', NULL)$$,
	'no function has settings of its own (no SET search_path)');

-- ---------------------------------------------------------------------------
-- Argument names and defaults, so that named notation works.
-- ---------------------------------------------------------------------------
SELECT is(pg_get_function_arguments('keymgmt.generate_key(text, text, text, text, timestamptz, jsonb, text)'::regprocedure),
	'key_alias text DEFAULT NULL::text, user_id text DEFAULT NULL::text, team_id text DEFAULT NULL::text, organization_id text DEFAULT NULL::text, expires timestamp with time zone DEFAULT NULL::timestamp with time zone, metadata jsonb DEFAULT ''{}''::jsonb, actor text DEFAULT NULL::text',
	'generate_key(key_alias, user_id, team_id, organization_id, expires, metadata DEFAULT {}, actor), all with defaults');
SELECT is(pg_get_function_arguments('keymgmt.block_key(text, text)'::regprocedure),
	'key text, actor text DEFAULT NULL::text', 'block_key(key text, actor text DEFAULT NULL)');
SELECT is(pg_get_function_arguments('keymgmt.unblock_key(text, text)'::regprocedure),
	'key text, actor text DEFAULT NULL::text', 'unblock_key(key text, actor text DEFAULT NULL)');
SELECT is(pg_get_function_arguments('keymgmt.delete_key(text, text)'::regprocedure),
	'key text, actor text DEFAULT NULL::text', 'delete_key(key text, actor text DEFAULT NULL)');
SELECT is(pg_get_function_arguments('keymgmt.key_info(text)'::regprocedure),
	'key text', 'key_info(key text)');
SELECT is(pg_get_function_arguments('keymgmt.verify_key(text)'::regprocedure),
	'key text', 'verify_key(key text)');
SELECT is(pg_get_function_arguments('keymgmt.grant_admin(text, text, text)'::regprocedure),
	'user_id text, team_id text DEFAULT NULL::text, organization_id text DEFAULT NULL::text',
	'grant_admin(user_id text, team_id text DEFAULT NULL, organization_id text DEFAULT NULL)');
SELECT is(pg_get_function_arguments('keymgmt.revoke_admin(text, text, text)'::regprocedure),
	'user_id text, team_id text DEFAULT NULL::text, organization_id text DEFAULT NULL::text',
	'revoke_admin(user_id text, team_id text DEFAULT NULL, organization_id text DEFAULT NULL)');

-- named notation, the way a client that spells out arguments calls them
INSERT INTO keymgmt.keys (token, key_name, created_at, updated_at)
VALUES (encode(sha256('sk-tap-schema-named'::bytea), 'hex'), 'sk-...amed', now(), now());

SELECT is(
	(SELECT blocked FROM keymgmt.block_key(key => 'sk-tap-schema-named', actor => 'tap')),
	true, 'block_key(key => ..., actor => ...) works');
SELECT is(
	(SELECT blocked FROM keymgmt.unblock_key(actor => 'tap', key => 'sk-tap-schema-named')),
	false, 'unblock_key(actor => ..., key => ...) works in any order');
SELECT is(
	(SELECT key_name FROM keymgmt.key_info(key => 'sk-tap-schema-named')),
	'sk-...amed', 'key_info(key => ...) works');
SELECT is(
	(SELECT status FROM keymgmt.verify_key(key => 'sk-tap-schema-named')),
	'valid', 'verify_key(key => ...) works');
SELECT is(
	(SELECT token FROM keymgmt.delete_key(key => 'sk-tap-schema-named', actor => 'tap')),
	encode(sha256('sk-tap-schema-named'::bytea), 'hex'), 'delete_key(key => ..., actor => ...) works');
CREATE TEMP TABLE named_generated ON COMMIT DROP AS
	SELECT * FROM keymgmt.generate_key(team_id => 'team-tap', key_alias => 'tap-schema-alias', actor => 'tap');
CREATE TEMP TABLE default_generated ON COMMIT DROP AS
	SELECT * FROM keymgmt.generate_key();
SELECT results_eq(
	$$SELECT k.key_alias, k.user_id, k.team_id, k.organization_id, k.expires, k.metadata, k.created_by
		FROM named_generated g JOIN keymgmt.keys k USING (token)$$,
	$$VALUES ('tap-schema-alias', NULL::text, 'team-tap', NULL::text, NULL::timestamptz, '{}'::jsonb, 'tap')$$,
	'generate_key(team_id => ..., key_alias => ..., actor => ...) works, the rest defaulted');
SELECT results_eq(
	$$SELECT k.key_alias, k.user_id, k.team_id, k.organization_id, k.expires, k.metadata
		FROM default_generated g JOIN keymgmt.keys k USING (token)$$,
	$$VALUES (NULL::text, NULL::text, NULL::text, NULL::text, NULL::timestamptz, '{}'::jsonb)$$,
	'generate_key() with every argument defaulted: no alias, no owner, never expires, metadata {}');
SELECT is(keymgmt.grant_admin(organization_id => 'org-tap', user_id => 'tap-named'), true,
	'grant_admin(organization_id => ..., user_id => ...) works in any order');
SELECT results_eq(
	$$SELECT team_id, organization_id FROM keymgmt.admins WHERE user_id = 'tap-named'$$,
	$$VALUES (NULL::text, 'org-tap')$$,
	'and grants the organization scope it names, team_id defaulted');
SELECT is(keymgmt.revoke_admin(user_id => 'tap-named', organization_id => 'org-tap'), true,
	'revoke_admin(user_id => ..., organization_id => ...) works');

-- ---------------------------------------------------------------------------
-- The settings: exactly these three, with their defaults, and who may set
-- them (user: anyone; superuser: superusers only).  The keymgmt library is
-- loaded by now: the functions above ran.
-- ---------------------------------------------------------------------------
SELECT results_eq(
	$$SELECT name, vartype, context, boot_val FROM pg_settings
	   WHERE name LIKE 'keymgmt.%' ORDER BY name$$,
	$$VALUES ('keymgmt.actor', 'string', 'user', ''),
			 ('keymgmt.database', 'string', 'sighup', 'postgres'),
			 ('keymgmt.notify', 'enum', 'superuser', 'commit'),
			 ('keymgmt.notify_interval', 'integer', 'sighup', '50'),
			 ('keymgmt.require_actor', 'bool', 'superuser', 'off')$$,
	'settings keymgmt.actor (anyone, empty), keymgmt.database (server, postgres), keymgmt.notify (superuser, commit), keymgmt.notify_interval (server, 50 ms), keymgmt.require_actor (superuser, off)');
-- PostgreSQL reserves a prefix from 15 (MarkGUCPrefixReserved); before, an
-- unknown keymgmt.* setting is a placeholder like any other (src/compat.h)
SELECT CASE WHEN current_setting('server_version_num')::int >= 150000
	THEN throws_ok($$SET LOCAL keymgmt.no_such_setting = 'x'$$, '42602', NULL,
		'keymgmt is a reserved prefix: there are no other keymgmt.* settings')
	ELSE lives_ok($$SET LOCAL keymgmt.no_such_setting = 'x'$$,
		'before PostgreSQL 15 a prefix cannot be reserved: keymgmt.no_such_setting is a placeholder')
	END;

-- ---------------------------------------------------------------------------
-- Every table and function is documented with a COMMENT.
-- ---------------------------------------------------------------------------
SELECT isnt(obj_description('keymgmt.keys'::regclass, 'pg_class'), NULL, 'keymgmt.keys has a comment');
SELECT isnt(obj_description('keymgmt.audit_log'::regclass, 'pg_class'), NULL, 'keymgmt.audit_log has a comment');
SELECT isnt(obj_description('keymgmt.admins'::regclass, 'pg_class'), NULL, 'keymgmt.admins has a comment');
SELECT isnt(obj_description('keymgmt.generate_key(text, text, text, text, timestamptz, jsonb, text)'::regprocedure, 'pg_proc'),
	NULL, 'generate_key has a comment');
SELECT isnt(obj_description('keymgmt.block_key(text, text)'::regprocedure, 'pg_proc'), NULL, 'block_key has a comment');
SELECT isnt(obj_description('keymgmt.unblock_key(text, text)'::regprocedure, 'pg_proc'), NULL, 'unblock_key has a comment');
SELECT isnt(obj_description('keymgmt.delete_key(text, text)'::regprocedure, 'pg_proc'), NULL, 'delete_key has a comment');
SELECT isnt(obj_description('keymgmt.key_info(text)'::regprocedure, 'pg_proc'), NULL, 'key_info has a comment');
SELECT isnt(obj_description('keymgmt.verify_key(text)'::regprocedure, 'pg_proc'), NULL, 'verify_key has a comment');
SELECT isnt(obj_description('keymgmt.grant_admin(text, text, text)'::regprocedure, 'pg_proc'), NULL, 'grant_admin has a comment');
SELECT isnt(obj_description('keymgmt.revoke_admin(text, text, text)'::regprocedure, 'pg_proc'), NULL, 'revoke_admin has a comment');

SELECT * FROM finish();
ROLLBACK;

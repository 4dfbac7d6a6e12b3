/* keymgmt 1.1 */

\echo Use "CREATE EXTENSION keymgmt" to load this file. \quit

-- Roles that are granted EXECUTE on a function can name it; the schema
-- itself exposes nothing (tables and functions are not granted to PUBLIC).
GRANT USAGE ON SCHEMA keymgmt TO PUBLIC;

CREATE TABLE keymgmt.keys (
	token			text PRIMARY KEY CHECK (token ~ '^[0-9a-f]{64}$'),
	key_name		text NOT NULL,
	key_alias		text UNIQUE,
	user_id			text,
	team_id			text,
	organization_id	text,
	blocked			boolean NOT NULL DEFAULT false,
	expires			timestamptz,
	metadata		jsonb NOT NULL DEFAULT '{}',
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	created_by		text,
	updated_by		text
);

COMMENT ON TABLE keymgmt.keys IS
	'API keys, one row per key; change them only through the keymgmt functions, which audit every change';
COMMENT ON COLUMN keymgmt.keys.token IS
	'lowercase hex SHA-256 of the whole raw key (sk- included); the raw key is never stored';
COMMENT ON COLUMN keymgmt.keys.key_name IS 'display form: sk-... and the last 4 characters of the raw key';
COMMENT ON COLUMN keymgmt.keys.key_alias IS 'optional label, unique when not null';
COMMENT ON COLUMN keymgmt.keys.user_id IS 'owner of the key';
COMMENT ON COLUMN keymgmt.keys.team_id IS 'team the key belongs to';
COMMENT ON COLUMN keymgmt.keys.organization_id IS 'organization the key belongs to';
COMMENT ON COLUMN keymgmt.keys.blocked IS 'a blocked key does not verify';
COMMENT ON COLUMN keymgmt.keys.expires IS 'the key does not verify from this moment on; null means never';
COMMENT ON COLUMN keymgmt.keys.created_by IS 'actor that created the key';
COMMENT ON COLUMN keymgmt.keys.updated_by IS 'actor of the last change';

CREATE TABLE keymgmt.audit_log (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	object_type		text NOT NULL,
	changed_at		timestamptz NOT NULL,
	action			text NOT NULL,
	object_id		text NOT NULL,
	changed_by		text NOT NULL,
	db_role			text NOT NULL,
	before_value	jsonb,
	updated_values	jsonb
);

-- the audit trail of one key, in order
CREATE INDEX audit_log_object_id_idx ON keymgmt.audit_log (object_id, id);

COMMENT ON TABLE keymgmt.audit_log IS
	'append-only: one row per state change, written in the same transaction as the change';
COMMENT ON COLUMN keymgmt.audit_log.object_type IS 'key; admin for grant_admin and revoke_admin; role for set_actor_required';
COMMENT ON COLUMN keymgmt.audit_log.changed_at IS 'the changing transaction''s timestamp';
COMMENT ON COLUMN keymgmt.audit_log.action IS 'created, blocked, unblocked or deleted';
COMMENT ON COLUMN keymgmt.audit_log.object_id IS 'the key''s token (never the raw key); for admin rows the user id; for role rows the role';
COMMENT ON COLUMN keymgmt.audit_log.changed_by IS 'the actor: actor argument, else keymgmt.actor, else the calling role';
COMMENT ON COLUMN keymgmt.audit_log.db_role IS 'the database role in effect when the function was called (current_user at the call)';
COMMENT ON COLUMN keymgmt.audit_log.before_value IS 'the key row before the change (null for created)';
COMMENT ON COLUMN keymgmt.audit_log.updated_values IS 'what changed (the new row for created, null for deleted)';

CREATE TABLE keymgmt.admins (
	user_id			text NOT NULL CHECK (user_id <> ''),
	team_id			text CHECK (team_id <> ''),
	organization_id	text CHECK (organization_id <> ''),
	CHECK (team_id IS NULL OR organization_id IS NULL)
);

-- one row per (user, scope); also serves the authority check, by user_id
CREATE UNIQUE INDEX admins_user_scope_idx ON keymgmt.admins
	(user_id, (COALESCE(team_id, '')), (COALESCE(organization_id, '')));

COMMENT ON TABLE keymgmt.admins IS
	'who may block, unblock and delete keys on behalf of others; change it with grant_admin and revoke_admin';
COMMENT ON COLUMN keymgmt.admins.user_id IS 'the actor that is an admin';
COMMENT ON COLUMN keymgmt.admins.team_id IS 'admin of the keys of this team (null with organization_id null: a global admin)';
COMMENT ON COLUMN keymgmt.admins.organization_id IS 'admin of the keys of this organization';

CREATE TABLE keymgmt.actor_required_roles (
	role			regrole PRIMARY KEY
);

COMMENT ON TABLE keymgmt.actor_required_roles IS
	'roles whose members must name an actor for every change; change it with set_actor_required';
COMMENT ON COLUMN keymgmt.actor_required_roles.role IS
	'the role (regrole: it follows a rename; pg_dump writes its name)';

-- pg_dump keeps what these tables hold, and where audit ids continue from
SELECT pg_catalog.pg_extension_config_dump('keymgmt.keys', '');
SELECT pg_catalog.pg_extension_config_dump('keymgmt.admins', '');
SELECT pg_catalog.pg_extension_config_dump('keymgmt.actor_required_roles', '');
SELECT pg_catalog.pg_extension_config_dump('keymgmt.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('keymgmt.audit_log_id_seq', '');

REVOKE ALL ON keymgmt.keys, keymgmt.audit_log, keymgmt.admins,
	keymgmt.actor_required_roles FROM PUBLIC;

-- Every function is a plain C function: it notes the calling role, then
-- runs with the rights of keymgmt.keys' owner, switching in C
-- (SetUserIdAndSecContext) rather than through SECURITY DEFINER, so that
-- the audit log's db_role is the role in effect at the call.  Every query
-- it runs is schema-qualified: no search_path reaches it.

CREATE FUNCTION keymgmt.generate_key(
	key_alias		text DEFAULT NULL,
	user_id			text DEFAULT NULL,
	team_id			text DEFAULT NULL,
	organization_id	text DEFAULT NULL,
	expires			timestamptz DEFAULT NULL,
	metadata		jsonb DEFAULT '{}',
	actor			text DEFAULT NULL)
RETURNS TABLE(key text, token text, key_name text)
AS 'MODULE_PATHNAME', 'generate_key'
LANGUAGE C VOLATILE ROWS 1;

COMMENT ON FUNCTION keymgmt.generate_key(text, text, text, text, timestamptz, jsonb, text) IS
	'creates a key; the raw key is returned this once and never again';

CREATE FUNCTION keymgmt.block_key(key text, actor text DEFAULT NULL)
RETURNS keymgmt.keys
AS 'MODULE_PATHNAME', 'block_key'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION keymgmt.block_key(text, text) IS
	'blocks a key (raw key or token); returns the row as it now is';

CREATE FUNCTION keymgmt.unblock_key(key text, actor text DEFAULT NULL)
RETURNS keymgmt.keys
AS 'MODULE_PATHNAME', 'unblock_key'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION keymgmt.unblock_key(text, text) IS
	'unblocks a key (raw key or token); returns the row as it now is';

CREATE FUNCTION keymgmt.delete_key(key text, actor text DEFAULT NULL)
RETURNS keymgmt.keys
AS 'MODULE_PATHNAME', 'delete_key'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION keymgmt.delete_key(text, text) IS
	'deletes a key (raw key or token); returns the row as it was';

CREATE FUNCTION keymgmt.key_info(key text)
RETURNS keymgmt.keys
AS 'MODULE_PATHNAME', 'key_info'
LANGUAGE C STABLE;

COMMENT ON FUNCTION keymgmt.key_info(text) IS
	'reads one key (raw key or token) without locking it';

CREATE FUNCTION keymgmt.verify_key(key text)
RETURNS TABLE(valid boolean, status text, token text, user_id text,
			  team_id text, organization_id text, expires timestamptz,
			  metadata jsonb)
AS 'MODULE_PATHNAME', 'verify_key'
LANGUAGE C STABLE ROWS 1;

COMMENT ON FUNCTION keymgmt.verify_key(text) IS
	'checks a raw key: exactly one row, status valid, not_found, blocked, expired or malformed; writes nothing';

CREATE FUNCTION keymgmt.grant_admin(user_id text, team_id text DEFAULT NULL,
									organization_id text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'grant_admin'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION keymgmt.grant_admin(text, text, text) IS
	'makes user_id a global admin, or an admin of one team or one organization; false if it already was';

CREATE FUNCTION keymgmt.revoke_admin(user_id text, team_id text DEFAULT NULL,
									 organization_id text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'revoke_admin'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION keymgmt.revoke_admin(text, text, text) IS
	'removes exactly that admin grant; false if there was none';

CREATE FUNCTION keymgmt.set_actor_required(role_name name, required boolean DEFAULT true)
RETURNS boolean
AS 'MODULE_PATHNAME', 'set_actor_required'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION keymgmt.set_actor_required(name, boolean) IS
	'lists a role (and its members) as one that must name an actor for every change, or removes it; false if nothing changed';

REVOKE ALL ON FUNCTION
	keymgmt.set_actor_required(name, boolean),
	keymgmt.grant_admin(text, text, text),
	keymgmt.revoke_admin(text, text, text),
	keymgmt.generate_key(text, text, text, text, timestamptz, jsonb, text),
	keymgmt.block_key(text, text),
	keymgmt.unblock_key(text, text),
	keymgmt.delete_key(text, text),
	keymgmt.key_info(text),
	keymgmt.verify_key(text)
FROM PUBLIC;

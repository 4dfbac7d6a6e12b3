/* keymgmt 1.1 */

\echo Use "CREATE EXTENSION keymgmt" to load this file. \quit

-- Roles that are granted EXECUTE on a function can name it; the schema
-- itself exposes nothing (tables and functions are not granted to PUBLIC).
GRANT USAGE ON SCHEMA keymgmt TO PUBLIC;

-- A new key_id: a UUIDv7 for a key created at created_at (RFC 9562: its
-- time in milliseconds, then pg_strong_random() bits), so key_ids sort in
-- creation order on every PostgreSQL version.
CREATE FUNCTION keymgmt.key_id_at(created_at timestamptz)
RETURNS uuid
AS 'MODULE_PATHNAME', 'key_id_at'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION keymgmt.key_id_at(timestamptz) IS
	'a new UUIDv7 key_id for a key created at created_at (the default of keys.key_id)';

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
	updated_by		text,
	-- last, where the update from 1.0 adds it: the row type is the same
	key_id			uuid NOT NULL DEFAULT keymgmt.key_id_at(now()),
	CONSTRAINT keys_key_id_key UNIQUE (key_id)
);

-- listing and the bulk changes; none on a column block and unblock change,
-- so those stay HOT updates
CREATE INDEX keys_user_id_idx ON keymgmt.keys (user_id);
CREATE INDEX keys_team_id_idx ON keymgmt.keys (team_id);
CREATE INDEX keys_organization_id_idx ON keymgmt.keys (organization_id);

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
COMMENT ON COLUMN keymgmt.keys.key_id IS
	'the key''s identity for its whole life (a UUIDv7: sorts in creation order); the token changes when the key is rotated, the key_id never';

CREATE TABLE keymgmt.audit_log (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	object_type		text NOT NULL,
	changed_at		timestamptz NOT NULL,
	action			text NOT NULL,
	object_id		text NOT NULL,
	changed_by		text NOT NULL,
	db_role			text NOT NULL,
	before_value	jsonb,
	updated_values	jsonb,
	key_id			uuid,
	txid			xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id()
);

-- the audit trail of one token, and of one key across its rotations, in order
CREATE INDEX audit_log_object_id_idx ON keymgmt.audit_log (object_id, id);
CREATE INDEX audit_log_key_id_idx ON keymgmt.audit_log (key_id, id);
-- the change feed: committed rows in (txid, id) order
CREATE INDEX audit_log_txid_idx ON keymgmt.audit_log (txid, id);

COMMENT ON TABLE keymgmt.audit_log IS
	'append-only: one row per state change, written in the same transaction as the change';
COMMENT ON COLUMN keymgmt.audit_log.object_type IS 'key; admin for grant_admin and revoke_admin; role for set_actor_required';
COMMENT ON COLUMN keymgmt.audit_log.changed_at IS 'the changing transaction''s timestamp';
COMMENT ON COLUMN keymgmt.audit_log.action IS 'created, blocked, unblocked, deleted, updated, rotated or grace_ended';
COMMENT ON COLUMN keymgmt.audit_log.object_id IS 'the key''s token (never the raw key); for admin rows the user id; for role rows the role';
COMMENT ON COLUMN keymgmt.audit_log.changed_by IS 'the actor: actor argument, else keymgmt.actor, else the calling role';
COMMENT ON COLUMN keymgmt.audit_log.db_role IS 'the database role in effect when the function was called (current_user at the call)';
COMMENT ON COLUMN keymgmt.audit_log.before_value IS 'the key row before the change (null for created)';
COMMENT ON COLUMN keymgmt.audit_log.updated_values IS 'what changed (the new row for created, null for deleted)';
COMMENT ON COLUMN keymgmt.audit_log.key_id IS 'the key''s key_id (null for admin and role rows, and for rows of keys deleted before 1.1)';
COMMENT ON COLUMN keymgmt.audit_log.txid IS 'the writing transaction''s id (0 for rows written before 1.1)';

CREATE TABLE keymgmt.previous_tokens (
	token			text PRIMARY KEY CHECK (token ~ '^[0-9a-f]{64}$'),
	key_id			uuid NOT NULL,
	valid_until		timestamptz NOT NULL
);

CREATE INDEX previous_tokens_key_id_idx ON keymgmt.previous_tokens (key_id);

COMMENT ON TABLE keymgmt.previous_tokens IS
	'old secrets of rotated keys; each verifies as its key until valid_until (rotate_key, end_grace)';
COMMENT ON COLUMN keymgmt.previous_tokens.token IS 'the old secret''s token';
COMMENT ON COLUMN keymgmt.previous_tokens.key_id IS 'the key it was a secret of';
COMMENT ON COLUMN keymgmt.previous_tokens.valid_until IS
	'the end of its grace: from then on it is not_found, whether or not the row is still here';

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
SELECT pg_catalog.pg_extension_config_dump('keymgmt.previous_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('keymgmt.admins', '');
SELECT pg_catalog.pg_extension_config_dump('keymgmt.actor_required_roles', '');
SELECT pg_catalog.pg_extension_config_dump('keymgmt.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('keymgmt.audit_log_id_seq', '');

REVOKE ALL ON keymgmt.keys, keymgmt.audit_log, keymgmt.admins,
	keymgmt.actor_required_roles, keymgmt.previous_tokens FROM PUBLIC;

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
	'blocks a key (raw key, token or key_id); returns the row as it now is';

CREATE FUNCTION keymgmt.unblock_key(key text, actor text DEFAULT NULL)
RETURNS keymgmt.keys
AS 'MODULE_PATHNAME', 'unblock_key'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION keymgmt.unblock_key(text, text) IS
	'unblocks a key (raw key, token or key_id); returns the row as it now is';

CREATE FUNCTION keymgmt.delete_key(key text, actor text DEFAULT NULL)
RETURNS keymgmt.keys
AS 'MODULE_PATHNAME', 'delete_key'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION keymgmt.delete_key(text, text) IS
	'deletes a key (raw key, token or key_id); returns the row as it was';

CREATE FUNCTION keymgmt.key_info(key text)
RETURNS keymgmt.keys
AS 'MODULE_PATHNAME', 'key_info'
LANGUAGE C STABLE;

COMMENT ON FUNCTION keymgmt.key_info(text) IS
	'reads one key (raw key, token or key_id) without locking it';

CREATE FUNCTION keymgmt.verify_key(key text)
RETURNS TABLE(valid boolean, status text, token text, user_id text,
			  team_id text, organization_id text, expires timestamptz,
			  metadata jsonb, key_id uuid, grace_until timestamptz)
AS 'MODULE_PATHNAME', 'verify_key'
LANGUAGE C STABLE ROWS 1;

COMMENT ON FUNCTION keymgmt.verify_key(text) IS
	'checks a raw key: exactly one row, status valid, not_found, blocked, expired or malformed; grace_until is set for a previous secret in its grace; writes nothing';

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

CREATE FUNCTION keymgmt.update_key(key text, changes jsonb, actor text DEFAULT NULL)
RETURNS keymgmt.keys
AS 'MODULE_PATHNAME', 'update_key'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION keymgmt.update_key(text, jsonb, text) IS
	'changes some of key_alias, user_id, team_id, organization_id, expires, metadata (a JSON object; null clears a field); returns the row as it now is';

CREATE FUNCTION keymgmt.rotate_key(key text, grace interval DEFAULT '0',
								   actor text DEFAULT NULL)
RETURNS TABLE(key text, token text, key_name text, key_id uuid,
			  previous_valid_until timestamptz)
AS 'MODULE_PATHNAME', 'rotate_key'
LANGUAGE C VOLATILE ROWS 1;

COMMENT ON FUNCTION keymgmt.rotate_key(text, interval, text) IS
	'gives a key a new secret, returned this once; the old one keeps working until previous_valid_until (at most grace, never past expires)';

CREATE FUNCTION keymgmt.end_grace(key text, actor text DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'end_grace'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION keymgmt.end_grace(text, text) IS
	'ends now the grace of every previous secret of a key; returns how many were still in grace';

CREATE FUNCTION keymgmt.list_keys(
	user_id			text DEFAULT NULL,
	team_id			text DEFAULT NULL,
	organization_id	text DEFAULT NULL,
	status			text DEFAULT NULL,
	after			uuid DEFAULT NULL,
	max_rows		integer DEFAULT 100,
	actor			text DEFAULT NULL)
RETURNS SETOF keymgmt.keys
AS 'MODULE_PATHNAME', 'list_keys'
LANGUAGE C STABLE ROWS 100;

COMMENT ON FUNCTION keymgmt.list_keys(text, text, text, text, uuid, integer, text) IS
	'one page of keys in key_id (creation) order, after the key_id of the last row of the previous page; with an actor, only keys it may manage or owns';

CREATE FUNCTION keymgmt.block_keys(
	user_id			text DEFAULT NULL,
	team_id			text DEFAULT NULL,
	organization_id	text DEFAULT NULL,
	actor			text DEFAULT NULL)
RETURNS SETOF keymgmt.keys
AS 'MODULE_PATHNAME', 'block_keys'
LANGUAGE C VOLATILE ROWS 100;

COMMENT ON FUNCTION keymgmt.block_keys(text, text, text, text) IS
	'blocks every key matching all the filters given (at least one), all or nothing; returns the rows it changed';

CREATE FUNCTION keymgmt.unblock_keys(
	user_id			text DEFAULT NULL,
	team_id			text DEFAULT NULL,
	organization_id	text DEFAULT NULL,
	actor			text DEFAULT NULL)
RETURNS SETOF keymgmt.keys
AS 'MODULE_PATHNAME', 'unblock_keys'
LANGUAGE C VOLATILE ROWS 100;

COMMENT ON FUNCTION keymgmt.unblock_keys(text, text, text, text) IS
	'unblocks every key matching all the filters given (at least one), all or nothing; returns the rows it changed';

CREATE FUNCTION keymgmt.import_key(
	key				text,
	key_name		text DEFAULT NULL,
	key_alias		text DEFAULT NULL,
	user_id			text DEFAULT NULL,
	team_id			text DEFAULT NULL,
	organization_id	text DEFAULT NULL,
	blocked			boolean DEFAULT false,
	expires			timestamptz DEFAULT NULL,
	metadata		jsonb DEFAULT '{}',
	actor			text DEFAULT NULL)
RETURNS keymgmt.keys
AS 'MODULE_PATHNAME', 'import_key'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION keymgmt.import_key(text, text, text, text, text, text, boolean, timestamptz, jsonb, text) IS
	'brings in a key that exists elsewhere, by its token (with its key_name) or its raw key (hashed, never stored); audited as created';

-- For admins in psql: every key with its computed status, its previous
-- secrets still in grace and its last change.  Granted to nobody; an
-- administrator grants SELECT to the roles that run admin pages.
CREATE VIEW keymgmt.key_status AS
SELECT k.key_id, k.key_name, k.key_alias, k.user_id, k.team_id,
	   k.organization_id,
	   CASE WHEN k.blocked THEN 'blocked'
			WHEN k.expires <= pg_catalog.now() THEN 'expired'
			ELSE 'valid' END AS status,
	   k.expires,
	   p.previous_secrets,
	   p.grace_until,
	   a.action AS last_action,
	   a.changed_by AS last_changed_by,
	   a.changed_at AS last_changed_at,
	   k.created_at
FROM keymgmt.keys k
CROSS JOIN LATERAL (
	SELECT pg_catalog.count(*)::integer AS previous_secrets,
		   pg_catalog.max(pt.valid_until) AS grace_until
	FROM keymgmt.previous_tokens pt
	WHERE pt.key_id = k.key_id AND pt.valid_until > pg_catalog.now()) p
LEFT JOIN LATERAL (
	SELECT l.action, l.changed_by, l.changed_at
	FROM keymgmt.audit_log l
	WHERE l.key_id = k.key_id
	ORDER BY l.id DESC LIMIT 1) a ON true;

COMMENT ON VIEW keymgmt.key_status IS
	'every key with its status (valid, blocked, expired), previous secrets still in grace and last change; for admins, granted to nobody';
COMMENT ON COLUMN keymgmt.key_status.status IS 'valid, blocked or expired, computed as verify_key does';
COMMENT ON COLUMN keymgmt.key_status.previous_secrets IS 'previous secrets still in their grace';
COMMENT ON COLUMN keymgmt.key_status.grace_until IS 'when the last of them stops working';
COMMENT ON COLUMN keymgmt.key_status.last_action IS 'the last audited change of the key';
COMMENT ON COLUMN keymgmt.key_status.last_changed_by IS 'the actor of that change';
COMMENT ON COLUMN keymgmt.key_status.last_changed_at IS 'when it was made';

CREATE FUNCTION keymgmt.current_cursor()
RETURNS text
AS 'MODULE_PATHNAME', 'current_cursor'
LANGUAGE C STABLE;

COMMENT ON FUNCTION keymgmt.current_cursor() IS
	'a cursor of the change feed that stands for now: where a cache that starts empty begins to follow keymgmt.changes()';

CREATE FUNCTION keymgmt.changes(after text, max_rows integer DEFAULT 1000)
RETURNS TABLE(cursor text, id bigint, object_type text, action text,
			  object_id text, key_id uuid, changed_at timestamptz)
AS 'MODULE_PATHNAME', 'changes'
LANGUAGE C STABLE ROWS 100;

COMMENT ON FUNCTION keymgmt.changes(text, integer) IS
	'the change feed: at most max_rows committed audit rows after the cursor after, in an order no late commit can overtake, each with the cursor just after it';

REVOKE ALL ON keymgmt.key_status FROM PUBLIC;

REVOKE ALL ON FUNCTION
	keymgmt.key_id_at(timestamptz),
	keymgmt.update_key(text, jsonb, text),
	keymgmt.rotate_key(text, interval, text),
	keymgmt.end_grace(text, text),
	keymgmt.list_keys(text, text, text, text, uuid, integer, text),
	keymgmt.block_keys(text, text, text, text),
	keymgmt.unblock_keys(text, text, text, text),
	keymgmt.import_key(text, text, text, text, text, text, boolean, timestamptz, jsonb, text),
	keymgmt.current_cursor(),
	keymgmt.changes(text, integer),
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

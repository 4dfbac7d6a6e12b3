/* keymgmt 1.0 -> 1.1 */

\echo Use "ALTER EXTENSION keymgmt UPDATE TO '1.1'" to load this file. \quit

-- The functions switch to the table owner's rights in C and note the
-- calling role first, instead of being SECURITY DEFINER: the audit log's
-- db_role is then the role in effect at the call.  ALTER keeps each
-- function's OID, and so every GRANT made on it.
ALTER FUNCTION keymgmt.generate_key(text, text, text, text, timestamptz, jsonb, text)
	SECURITY INVOKER RESET search_path;
ALTER FUNCTION keymgmt.block_key(text, text) SECURITY INVOKER RESET search_path;
ALTER FUNCTION keymgmt.unblock_key(text, text) SECURITY INVOKER RESET search_path;
ALTER FUNCTION keymgmt.delete_key(text, text) SECURITY INVOKER RESET search_path;
ALTER FUNCTION keymgmt.key_info(text) SECURITY INVOKER RESET search_path;
ALTER FUNCTION keymgmt.grant_admin(text, text, text) SECURITY INVOKER RESET search_path;
ALTER FUNCTION keymgmt.revoke_admin(text, text, text) SECURITY INVOKER RESET search_path;

COMMENT ON COLUMN keymgmt.audit_log.object_type IS 'key; admin for grant_admin and revoke_admin; role for set_actor_required';
COMMENT ON COLUMN keymgmt.audit_log.object_id IS 'the key''s token (never the raw key); for admin rows the user id; for role rows the role';
COMMENT ON COLUMN keymgmt.audit_log.changed_by IS 'the actor: actor argument, else keymgmt.actor, else the calling role';
COMMENT ON COLUMN keymgmt.audit_log.db_role IS 'the database role in effect when the function was called (current_user at the call)';

CREATE TABLE keymgmt.actor_required_roles (
	role			regrole PRIMARY KEY
);

COMMENT ON TABLE keymgmt.actor_required_roles IS
	'roles whose members must name an actor for every change; change it with set_actor_required';
COMMENT ON COLUMN keymgmt.actor_required_roles.role IS
	'the role (regrole: it follows a rename; pg_dump writes its name)';

SELECT pg_catalog.pg_extension_config_dump('keymgmt.actor_required_roles', '');
REVOKE ALL ON keymgmt.actor_required_roles FROM PUBLIC;

CREATE FUNCTION keymgmt.set_actor_required(role_name name, required boolean DEFAULT true)
RETURNS boolean
AS 'MODULE_PATHNAME', 'set_actor_required'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION keymgmt.set_actor_required(name, boolean) IS
	'lists a role (and its members) as one that must name an actor for every change, or removes it; false if nothing changed';

REVOKE ALL ON FUNCTION keymgmt.set_actor_required(name, boolean) FROM PUBLIC;

-- 1.0 told administrators to ALTER ROLE ... SET keymgmt.require_actor = on.
-- That is a session setting a client's startup option lifts unless keymgmt
-- is preloaded; warn of the roles that rely on it (ALTER EXTENSION shows
-- no notices), and say what holds instead.
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT DISTINCT s.setrole::pg_catalog.regrole AS role
		FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) c
		WHERE s.setrole <> 0
		  AND s.setdatabase IN (0, (SELECT d.oid FROM pg_catalog.pg_database d
		                            WHERE d.datname = pg_catalog.current_database()))
		  AND c ~* '^keymgmt\.require_actor=(on|true|yes|1)$'
	LOOP
		RAISE WARNING 'role % relies on keymgmt.require_actor, which a client''s startup option can lift unless keymgmt is preloaded', r.role
			USING HINT = pg_catalog.format('SELECT keymgmt.set_actor_required(%L); makes that role, and its members, name an actor whatever the client sets.', r.role::text);
	END LOOP;
END $$;

-- keymgmt 1.1's lifecycle: key_id, previous secrets, the audit columns.

CREATE FUNCTION keymgmt.key_id_at(created_at timestamptz)
RETURNS uuid
AS 'MODULE_PATHNAME', 'key_id_at'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION keymgmt.key_id_at(timestamptz) IS
	'a new UUIDv7 key_id for a key created at created_at (the default of keys.key_id)';

-- every key gets a key_id made from its created_at, so they sort as made
ALTER TABLE keymgmt.keys ADD COLUMN key_id uuid;
UPDATE keymgmt.keys SET key_id = keymgmt.key_id_at(created_at);
ALTER TABLE keymgmt.keys
	ALTER COLUMN key_id SET NOT NULL,
	ALTER COLUMN key_id SET DEFAULT keymgmt.key_id_at(now()),
	ADD CONSTRAINT keys_key_id_key UNIQUE (key_id);

CREATE INDEX keys_user_id_idx ON keymgmt.keys (user_id);
CREATE INDEX keys_team_id_idx ON keymgmt.keys (team_id);
CREATE INDEX keys_organization_id_idx ON keymgmt.keys (organization_id);

COMMENT ON COLUMN keymgmt.keys.key_id IS
	'the key''s identity for its whole life (a UUIDv7: sorts in creation order); the token changes when the key is rotated, the key_id never';

-- rows written before the update: txid 0, and the key_id of keys that exist
ALTER TABLE keymgmt.audit_log
	ADD COLUMN key_id uuid,
	ADD COLUMN txid xid8 NOT NULL DEFAULT '0';
ALTER TABLE keymgmt.audit_log
	ALTER COLUMN txid SET DEFAULT pg_catalog.pg_current_xact_id();
UPDATE keymgmt.audit_log a SET key_id = k.key_id
FROM keymgmt.keys k
WHERE a.object_type = 'key' AND a.object_id = k.token;

CREATE INDEX audit_log_key_id_idx ON keymgmt.audit_log (key_id, id);
CREATE INDEX audit_log_txid_idx ON keymgmt.audit_log (txid, id);

COMMENT ON COLUMN keymgmt.audit_log.action IS 'created, blocked, unblocked, deleted, updated, rotated or grace_ended';
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

SELECT pg_catalog.pg_extension_config_dump('keymgmt.previous_tokens', '');
REVOKE ALL ON keymgmt.previous_tokens FROM PUBLIC;

COMMENT ON FUNCTION keymgmt.block_key(text, text) IS
	'blocks a key (raw key, token or key_id); returns the row as it now is';
COMMENT ON FUNCTION keymgmt.unblock_key(text, text) IS
	'unblocks a key (raw key, token or key_id); returns the row as it now is';
COMMENT ON FUNCTION keymgmt.delete_key(text, text) IS
	'deletes a key (raw key, token or key_id); returns the row as it was';
COMMENT ON FUNCTION keymgmt.key_info(text) IS
	'reads one key (raw key, token or key_id) without locking it';

-- verify_key's result gains key_id and grace_until: a new result type
-- needs a new function.  Its EXECUTE grants (a gateway role's) are given
-- again, and the extension's initial privileges set back to what a fresh
-- 1.1 install has, so that pg_dump still writes those grants.
DO $$
DECLARE
	old_acl		aclitem[];
	initial_acl	aclitem[];
	fn			oid;
	g			record;
BEGIN
	SELECT p.proacl INTO old_acl FROM pg_catalog.pg_proc p
	WHERE p.oid = 'keymgmt.verify_key(text)'::pg_catalog.regprocedure;

	-- a view or function of the administrator's that calls verify_key
	-- would go with it: say so, and leave everything as it was
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
			   WHERE d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
				 AND d.refobjid = 'keymgmt.verify_key(text)'::pg_catalog.regprocedure
				 AND d.deptype = 'n') THEN
		RAISE EXCEPTION 'keymgmt.verify_key(text) must be recreated for 1.1, and other objects depend on it: %',
			(SELECT pg_catalog.string_agg(pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid), ', ')
			 FROM pg_catalog.pg_depend d
			 WHERE d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
			   AND d.refobjid = 'keymgmt.verify_key(text)'::pg_catalog.regprocedure
			   AND d.deptype = 'n')
			USING ERRCODE = 'dependent_objects_still_exist',
				  HINT = 'Drop them, run ALTER EXTENSION keymgmt UPDATE, then create them again: verify_key''s result gains key_id and grace_until.';
	END IF;

	DROP FUNCTION keymgmt.verify_key(text);
	CREATE FUNCTION keymgmt.verify_key(key text)
	RETURNS TABLE(valid boolean, status text, token text, user_id text,
				  team_id text, organization_id text, expires timestamptz,
				  metadata jsonb, key_id uuid, grace_until timestamptz)
	AS 'MODULE_PATHNAME', 'verify_key'
	LANGUAGE C STABLE ROWS 1;
	COMMENT ON FUNCTION keymgmt.verify_key(text) IS
		'checks a raw key: exactly one row, status valid, not_found, blocked, expired or malformed; grace_until is set for a previous secret in its grace; writes nothing';
	REVOKE ALL ON FUNCTION keymgmt.verify_key(text) FROM PUBLIC;

	fn := 'keymgmt.verify_key(text)'::pg_catalog.regprocedure;
	SELECT p.proacl INTO initial_acl FROM pg_catalog.pg_proc p WHERE p.oid = fn;
	FOR g IN
		SELECT a.grantee, a.is_grantable
		FROM pg_catalog.aclexplode(old_acl) a, pg_catalog.pg_proc p
		WHERE p.oid = fn AND a.privilege_type = 'EXECUTE'
		  AND a.grantee <> p.proowner
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION keymgmt.verify_key(text) TO %s%s',
			CASE WHEN g.grantee = 0 THEN 'PUBLIC'
				 ELSE pg_catalog.quote_ident(g.grantee::pg_catalog.regrole::text) END,
			CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;

	-- a GRANT inside an extension script counts as an initial privilege;
	-- these are the administrator's, not the extension's
	UPDATE pg_catalog.pg_init_privs SET initprivs = initial_acl
	WHERE objoid = fn AND classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass
	  AND objsubid = 0;
	-- and from PostgreSQL 17 on, their record of the grantees with them
	DELETE FROM pg_catalog.pg_shdepend
	WHERE classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND objid = fn
	  AND objsubid = 0 AND deptype = 'i'
	  AND dbid = (SELECT d.oid FROM pg_catalog.pg_database d
				  WHERE d.datname = pg_catalog.current_database());
END $$;

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
	keymgmt.changes(text, integer)
FROM PUBLIC;

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

-- bench/reference.sql
--
-- The PL/pgSQL reference: block_key, unblock_key and verify_key written the
-- way a careful PL/pgSQL author would, with the same semantics as keymgmt's
-- C functions, on the same tables (keymgmt.keys, keymgmt.audit_log,
-- keymgmt.admins).  It exists only so that bench/run.sh can compare keymgmt
-- with it; it is not part of the product and is not installed by the
-- extension.
--
-- Same as keymgmt:
--   * the key is a raw key (sk- and 1 to 252 of [A-Za-z0-9_-]) or a token of
--     64 hex digits; NULL is 22004, anything else 22023;
--   * the actor: the argument, else keymgmt.actor, else the database role (and
--     then keymgmt.require_actor decides); an actor is checked against
--     keymgmt.admins with a SHARE lock on the rows it relied on;
--   * the row is found and locked in one statement (FOR NO KEY UPDATE); a
--     missing key is 42704; a change that changes nothing returns the row and
--     writes nothing;
--   * a real change sets updated_at/updated_by, writes one audit row (before
--     value as jsonb, updated values) and queues pg_notify('keymgmt', ...)
--     unless keymgmt.notify is off;
--   * the owner's rights, every name qualified: here SECURITY DEFINER SET
--     search_path = pg_catalog, pg_temp, the way PL/pgSQL gets them (keymgmt
--     switches in C).
-- Different, because PL/pgSQL cannot see it: db_role records session_user,
-- not the role that called the function; and roles listed by
-- set_actor_required are not looked up (the runs name no actor and list no
-- role).
--
-- block_key and unblock_key are written out in full (they differ only in the
-- lines marked "differs"), so that neither pays for an extra function call.

CREATE SCHEMA bench_ref;

CREATE FUNCTION bench_ref.block_key(key text, actor text DEFAULT NULL)
RETURNS keymgmt.keys
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tok		text;
	who		text;
	given	boolean := true;
	k		keymgmt.keys;
BEGIN
	IF key IS NULL THEN
		RAISE EXCEPTION 'key must not be null' USING ERRCODE = '22004';
	ELSIF key ~ '^sk-[A-Za-z0-9_-]{1,252}$' THEN
		tok := pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(key, 'UTF8')), 'hex');
	ELSIF key ~ '^[0-9A-Fa-f]{64}$' THEN
		tok := pg_catalog.lower(key);
	ELSE
		RAISE EXCEPTION 'malformed key' USING ERRCODE = '22023';
	END IF;

	who := COALESCE(actor, NULLIF(pg_catalog.current_setting('keymgmt.actor', true), ''));
	IF who IS NULL THEN
		given := false;
		who := session_user;
	END IF;

	SELECT * INTO k FROM keymgmt.keys kk
	 WHERE kk.token OPERATOR(pg_catalog.=) tok
	   FOR NO KEY UPDATE OF kk;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'key "%" does not exist', 'sk-...' || pg_catalog.right(key, 4)
			USING ERRCODE = '42704';
	END IF;

	IF NOT given THEN
		IF COALESCE(pg_catalog.current_setting('keymgmt.require_actor', true), 'off') = 'on' THEN
			RAISE EXCEPTION 'block_key() requires an actor' USING ERRCODE = '42501';
		END IF;
	ELSIF k.user_id IS DISTINCT FROM who OR who = '' THEN	-- differs: the owner may block
		PERFORM 1 FROM keymgmt.admins a
		 WHERE a.user_id OPERATOR(pg_catalog.=) who
		   AND ((a.team_id IS NULL AND a.organization_id IS NULL)
				OR a.team_id OPERATOR(pg_catalog.=) k.team_id
				OR a.organization_id OPERATOR(pg_catalog.=) k.organization_id)
		   FOR SHARE OF a;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'actor "%" may not block key "%"', who, k.key_name
				USING ERRCODE = '42501';
		END IF;
	END IF;

	IF k.blocked THEN											-- differs
		RETURN k;
	END IF;

	INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id,
								   changed_by, db_role, before_value, updated_values)
	VALUES ('key', pg_catalog.now(), 'blocked', tok, who, session_user,	-- differs
			pg_catalog.to_jsonb(k), '{"blocked": true}');				-- differs
	UPDATE keymgmt.keys kk
	   SET blocked = true, updated_at = pg_catalog.now(), updated_by = who	-- differs
	 WHERE kk.token OPERATOR(pg_catalog.=) tok
	RETURNING kk.* INTO k;
	IF COALESCE(pg_catalog.current_setting('keymgmt.notify', true), 'on') <> 'off' THEN
		PERFORM pg_catalog.pg_notify('keymgmt',
			'{"action": "blocked", "token": "' || tok || '"}');		-- differs
	END IF;
	RETURN k;
END
$$;

CREATE FUNCTION bench_ref.unblock_key(key text, actor text DEFAULT NULL)
RETURNS keymgmt.keys
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tok		text;
	who		text;
	given	boolean := true;
	k		keymgmt.keys;
BEGIN
	IF key IS NULL THEN
		RAISE EXCEPTION 'key must not be null' USING ERRCODE = '22004';
	ELSIF key ~ '^sk-[A-Za-z0-9_-]{1,252}$' THEN
		tok := pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(key, 'UTF8')), 'hex');
	ELSIF key ~ '^[0-9A-Fa-f]{64}$' THEN
		tok := pg_catalog.lower(key);
	ELSE
		RAISE EXCEPTION 'malformed key' USING ERRCODE = '22023';
	END IF;

	who := COALESCE(actor, NULLIF(pg_catalog.current_setting('keymgmt.actor', true), ''));
	IF who IS NULL THEN
		given := false;
		who := session_user;
	END IF;

	SELECT * INTO k FROM keymgmt.keys kk
	 WHERE kk.token OPERATOR(pg_catalog.=) tok
	   FOR NO KEY UPDATE OF kk;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'key "%" does not exist', 'sk-...' || pg_catalog.right(key, 4)
			USING ERRCODE = '42704';
	END IF;

	IF NOT given THEN
		IF COALESCE(pg_catalog.current_setting('keymgmt.require_actor', true), 'off') = 'on' THEN
			RAISE EXCEPTION 'unblock_key() requires an actor' USING ERRCODE = '42501';
		END IF;
	ELSE													-- differs: the owner may not unblock
		PERFORM 1 FROM keymgmt.admins a
		 WHERE a.user_id OPERATOR(pg_catalog.=) who
		   AND ((a.team_id IS NULL AND a.organization_id IS NULL)
				OR a.team_id OPERATOR(pg_catalog.=) k.team_id
				OR a.organization_id OPERATOR(pg_catalog.=) k.organization_id)
		   FOR SHARE OF a;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'actor "%" may not unblock key "%"', who, k.key_name
				USING ERRCODE = '42501';
		END IF;
	END IF;

	IF NOT k.blocked THEN										-- differs
		RETURN k;
	END IF;

	INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id,
								   changed_by, db_role, before_value, updated_values)
	VALUES ('key', pg_catalog.now(), 'unblocked', tok, who, session_user,	-- differs
			pg_catalog.to_jsonb(k), '{"blocked": false}');				-- differs
	UPDATE keymgmt.keys kk
	   SET blocked = false, updated_at = pg_catalog.now(), updated_by = who	-- differs
	 WHERE kk.token OPERATOR(pg_catalog.=) tok
	RETURNING kk.* INTO k;
	IF COALESCE(pg_catalog.current_setting('keymgmt.notify', true), 'on') <> 'off' THEN
		PERFORM pg_catalog.pg_notify('keymgmt',
			'{"action": "unblocked", "token": "' || tok || '"}');		-- differs
	END IF;
	RETURN k;
END
$$;

-- The gateway's hot path: exactly one row; status valid, not_found, blocked,
-- expired or malformed; only a raw key is looked up; writes nothing.
CREATE FUNCTION bench_ref.verify_key(key text)
RETURNS TABLE(valid boolean, status text, token text, user_id text,
			  team_id text, organization_id text, expires timestamptz,
			  metadata jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 1
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tok		text;
	k		record;
BEGIN
	IF key IS NULL THEN
		RAISE EXCEPTION 'key must not be null' USING ERRCODE = '22004';
	END IF;
	valid := false;
	IF key !~ '^sk-[A-Za-z0-9_-]{1,252}$' THEN
		status := 'malformed';
		RETURN NEXT;
		RETURN;
	END IF;

	tok := pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(key, 'UTF8')), 'hex');
	token := tok;
	SELECT kk.blocked, kk.user_id, kk.team_id, kk.organization_id, kk.expires,
		   kk.metadata
	  INTO k
	  FROM keymgmt.keys kk
	 WHERE kk.token OPERATOR(pg_catalog.=) tok;
	IF NOT FOUND THEN
		status := 'not_found';
		RETURN NEXT;
		RETURN;
	END IF;

	user_id := k.user_id;
	team_id := k.team_id;
	organization_id := k.organization_id;
	expires := k.expires;
	metadata := k.metadata;
	IF k.blocked THEN
		status := 'blocked';
	ELSIF k.expires <= pg_catalog.now() THEN
		status := 'expired';
	ELSE
		status := 'valid';
		valid := true;
	END IF;
	RETURN NEXT;
END
$$;

REVOKE ALL ON FUNCTION bench_ref.block_key(text, text),
					   bench_ref.unblock_key(text, text),
					   bench_ref.verify_key(text) FROM PUBLIC;

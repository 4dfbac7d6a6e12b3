-- Who may change which key.  The check runs on the row the change has
-- locked: a global admin, an admin of the key's team or organization, or
-- the key's owner (block and delete, not unblock).  Anyone else: 42501,
-- with one message shape.  No actor: the database role decides, unless
-- keymgmt.require_actor is on.
CREATE EXTENSION keymgmt;
\set VERBOSITY sqlstate

-- admins are granted through the functions, which audit and are idempotent
SELECT keymgmt.grant_admin('global-admin') AS granted;
SELECT keymgmt.grant_admin('global-admin') AS granted_again;
SELECT keymgmt.grant_admin('team-admin', team_id => 'team-1') AS granted,
       keymgmt.grant_admin('other-team-admin', team_id => 'team-2') AS granted,
       keymgmt.grant_admin('org-admin', organization_id => 'org-1') AS granted,
       keymgmt.grant_admin('other-org-admin', organization_id => 'org-2') AS granted;
SELECT user_id, team_id, organization_id FROM keymgmt.admins ORDER BY user_id;
SELECT object_type, action, object_id, updated_values, before_value
FROM keymgmt.audit_log ORDER BY id;

-- a grant is one scope, named by non-empty ids
SELECT keymgmt.grant_admin(NULL);
SELECT keymgmt.grant_admin('');
SELECT keymgmt.grant_admin('x', team_id => '');
SELECT keymgmt.grant_admin('x', team_id => 'team-1', organization_id => 'org-1');

-- the matrix: every actor x block, unblock, delete, each on a fresh key of
-- owner "owner" in team-1 / org-1 (blocked first for unblock)
CREATE FUNCTION pg_temp.try(n int, action text, actor text, require_actor boolean)
RETURNS TABLE (outcome text, state text, audit_rows bigint, changed_by text)
LANGUAGE plpgsql AS $$
DECLARE
	raw text := format('sk-matrix-%s-%s', action, n);
	tok text := encode(sha256(convert_to(raw, 'UTF8')), 'hex');
BEGIN
	INSERT INTO keymgmt.keys (token, key_name, user_id, team_id, organization_id, blocked, created_at, updated_at)
	VALUES (tok, 'sk-...' || right(raw, 4), 'owner', 'team-1', 'org-1', action = 'unblock', now(), now());
	PERFORM set_config('keymgmt.require_actor', CASE WHEN require_actor THEN 'on' ELSE 'off' END, true);
	BEGIN
		EXECUTE format('SELECT keymgmt.%I($1, $2)', action || '_key') USING raw, actor;
		outcome := 'allowed';
	EXCEPTION WHEN OTHERS THEN
		outcome := SQLSTATE;
	END;
	PERFORM set_config('keymgmt.require_actor', 'off', true);
	SELECT CASE WHEN k.token IS NULL THEN 'gone' WHEN k.blocked THEN 'blocked' ELSE 'unblocked' END
	INTO state FROM (SELECT) d LEFT JOIN keymgmt.keys k ON k.token = tok;
	SELECT count(*), max(CASE WHEN a.changed_by = a.db_role THEN '(calling role)' ELSE a.changed_by END)
	INTO audit_rows, changed_by FROM keymgmt.audit_log a WHERE a.object_id = tok;
	RETURN NEXT;
END $$;

SELECT a.label AS actor, act.action, t.outcome, t.state, t.audit_rows, t.changed_by
FROM (VALUES (1, 'global admin', 'global-admin', false),
             (2, 'admin of the key''s team', 'team-admin', false),
             (3, 'admin of another team', 'other-team-admin', false),
             (4, 'admin of the key''s organization', 'org-admin', false),
             (5, 'admin of another organization', 'other-org-admin', false),
             (6, 'the key''s owner', 'owner', false),
             (7, 'an unrelated user', 'stranger', false),
             (8, 'no actor', NULL, false),
             (9, 'no actor, require_actor on', NULL, true),
             (10, 'empty actor argument', '', false)) AS a(n, label, actor, require_actor),
     (VALUES (1, 'block'), (2, 'unblock'), (3, 'delete')) AS act(m, action),
     LATERAL pg_temp.try(a.n, act.action, a.actor, a.require_actor) t
ORDER BY a.n, act.m;

-- the refusal reads the same whoever is refused: only the actor's name differs
\set VERBOSITY default
SELECT * FROM keymgmt.block_key('sk-matrix-block-1', actor => 'stranger');
SELECT * FROM keymgmt.unblock_key('sk-matrix-unblock-1', actor => 'owner');
\set VERBOSITY sqlstate
CREATE FUNCTION pg_temp.refusal(fn text, raw text, actor text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE msg text; detail text;
BEGIN
	EXECUTE format('SELECT keymgmt.%I($1, $2)', fn) USING raw, actor;
	RETURN 'allowed';
EXCEPTION WHEN insufficient_privilege THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
	RETURN replace(msg || ' ' || detail, '"' || actor || '"', '"<actor>"');
END $$;
SELECT fn, count(DISTINCT pg_temp.refusal(fn, raw, a)) AS message_shapes, count(*) AS refused_actors
FROM (VALUES ('block_key', 'sk-matrix-block-1'), ('delete_key', 'sk-matrix-delete-3'),
             ('unblock_key', 'sk-matrix-unblock-8')) AS f(fn, raw),
     unnest(ARRAY['stranger', 'other-team-admin', 'other-org-admin', 'somebody else']) AS a
GROUP BY fn ORDER BY fn;

-- authority comes after the lock: an unknown key is 42704 for anybody,
-- a malformed one 22023
SELECT * FROM keymgmt.block_key('sk-matrix-no-such-key', actor => 'stranger');
SELECT * FROM keymgmt.block_key('sk-matrix no such key', actor => 'stranger');
-- and before the no-op: a refused block of a blocked key is still 42501
SELECT * FROM keymgmt.block_key('sk-matrix-unblock-3', actor => 'stranger');

-- a gateway names the actor once per transaction
BEGIN;
SET LOCAL keymgmt.actor = 'team-admin';
SELECT blocked, updated_by FROM keymgmt.block_key('sk-matrix-block-3');
COMMIT;
SELECT blocked, updated_by FROM keymgmt.key_info('sk-matrix-block-3');

-- a revoked right is gone for the next change, in the same transaction too
BEGIN;
SELECT keymgmt.revoke_admin('team-admin', team_id => 'team-1') AS revoked;
SELECT * FROM keymgmt.unblock_key('sk-matrix-block-3', actor => 'team-admin');
ROLLBACK;
SELECT keymgmt.revoke_admin('team-admin', team_id => 'team-1') AS revoked,
       keymgmt.revoke_admin('team-admin', team_id => 'team-1') AS revoked_again,
       keymgmt.revoke_admin('team-admin') AS not_a_global_admin;
SELECT * FROM keymgmt.unblock_key('sk-matrix-block-3', actor => 'team-admin');
SELECT action, object_id, changed_by = db_role AS by_calling_role, before_value
FROM keymgmt.audit_log WHERE object_type = 'admin' AND action = 'deleted';

-- require_actor is superuser-only: a role cannot switch it off for itself
CREATE ROLE keymgmt_test_gateway;
GRANT EXECUTE ON FUNCTION keymgmt.block_key(text, text) TO keymgmt_test_gateway;
SET keymgmt.require_actor = on;
SET ROLE keymgmt_test_gateway;
SET keymgmt.require_actor = off;
SELECT blocked FROM keymgmt.block_key('sk-matrix-block-8');
SELECT blocked FROM keymgmt.block_key('sk-matrix-block-8', actor => 'global-admin');
RESET ROLE;
-- an empty actor names nobody, so it does not satisfy require_actor either
SELECT count(*) FROM keymgmt.generate_key(actor => '');
SELECT keymgmt.grant_admin('nobody-grants-this', team_id => 'team-9');
RESET keymgmt.require_actor;
-- admins are granted by roles with EXECUTE on grant_admin only
SET ROLE keymgmt_test_gateway;
SELECT keymgmt.grant_admin('keymgmt_test_gateway');
RESET ROLE;

-- nothing of the refused calls was written: one audit row per allowed change
SELECT action, count(*) FROM keymgmt.audit_log WHERE object_type = 'key'
GROUP BY action ORDER BY action;

REVOKE ALL ON FUNCTION keymgmt.block_key(text, text) FROM keymgmt_test_gateway;
DROP ROLE keymgmt_test_gateway;
DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

-- What an actor may create and grant.  generate_key with an actor creates
-- only a key the actor could block: a global admin any key, an admin of
-- the new key's team or organization (whoever its owner), anyone else only
-- a key of their own with no team and no organization.  grant_admin and
-- revoke_admin with an actor (keymgmt.actor): a global admin anything, an
-- admin of a team admin of that team, an admin of an organization admin of
-- that organization.  Without an actor the database role decides.  A
-- refusal is 42501 and writes nothing.
CREATE EXTENSION keymgmt;
\set VERBOSITY sqlstate

SELECT keymgmt.grant_admin('ga') AND keymgmt.grant_admin('ta', team_id => 'team-a')
   AND keymgmt.grant_admin('oa', organization_id => 'org-1') AS admins_granted;

--
-- generate_key: every actor x every scope of the new key
--
CREATE FUNCTION pg_temp.try_create(actor text, u text, t text, o text, require boolean)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	keys_before bigint := (SELECT count(*) FROM keymgmt.keys);
	audit_before bigint := (SELECT count(*) FROM keymgmt.audit_log);
	tok text;
	outcome text;
BEGIN
	PERFORM set_config('keymgmt.require_actor', require::text, true);
	BEGIN
		SELECT g.token INTO tok FROM keymgmt.generate_key(user_id => u, team_id => t,
			organization_id => o, actor => actor) g;
		-- the key is the one asked for, audited as created by the actor
		SELECT CASE WHEN k.user_id IS NOT DISTINCT FROM u AND k.team_id IS NOT DISTINCT FROM t
		             AND k.organization_id IS NOT DISTINCT FROM o
		             AND a.changed_by = coalesce(actor, current_user::text)
		            THEN 'ok' ELSE 'WRONG ROW' END
		INTO outcome
		FROM keymgmt.keys k JOIN keymgmt.audit_log a ON a.object_id = k.token
		WHERE k.token = tok AND a.action = 'created';
		RAISE SQLSTATE 'KM000';
	EXCEPTION
		WHEN SQLSTATE 'KM000' THEN NULL;
		WHEN OTHERS THEN
			outcome := SQLSTATE;
			IF (SELECT count(*) FROM keymgmt.keys) <> keys_before
			   OR (SELECT count(*) FROM keymgmt.audit_log) <> audit_before THEN
				outcome := outcome || ' BUT WROTE';
			END IF;
	END;
	PERFORM set_config('keymgmt.require_actor', 'off', true);
	RETURN outcome;
END $$;

CREATE TEMP TABLE scopes (n int, label text, u text, t text, o text);
INSERT INTO scopes VALUES
	(1, 'own key: user u, no team, no org', 'u', NULL, NULL),
	(2, 'key of nobody', NULL, NULL, NULL),
	(3, 'key of another user', 'v', NULL, NULL),
	(4, 'user u, team-a', 'u', 'team-a', NULL),
	(5, 'user v, team-a', 'v', 'team-a', NULL),
	(6, 'no user, team-a', NULL, 'team-a', NULL),
	(7, 'user u, team-b', 'u', 'team-b', NULL),
	(8, 'user u, org-1', 'u', NULL, 'org-1'),
	(9, 'user u, org-2', 'u', NULL, 'org-2'),
	(10, 'user v, team-a, org-2', 'v', 'team-a', 'org-2'),
	(11, 'user v, team-b, org-1', 'v', 'team-b', 'org-1'),
	(12, 'user ta, team-b (a team admin''s own key)', 'ta', 'team-b', NULL);

SELECT s.label,
       pg_temp.try_create('ga', s.u, s.t, s.o, false) AS global_admin,
       pg_temp.try_create('ta', s.u, s.t, s.o, false) AS team_a_admin,
       pg_temp.try_create('oa', s.u, s.t, s.o, false) AS org_1_admin,
       pg_temp.try_create('u', s.u, s.t, s.o, false) AS user_u,
       pg_temp.try_create('', s.u, s.t, s.o, false) AS empty_actor,
       pg_temp.try_create(NULL, s.u, s.t, s.o, false) AS no_actor,
       pg_temp.try_create(NULL, s.u, s.t, s.o, true) AS no_actor_required
FROM scopes s ORDER BY s.n;

-- the refusal, in full: the same shape as for a change
\set VERBOSITY default
SELECT * FROM keymgmt.generate_key(user_id => 'u', team_id => 'team-b', actor => 'ta');
SELECT * FROM keymgmt.generate_key(user_id => 'v', actor => 'u');
\set VERBOSITY sqlstate

--
-- grant_admin and revoke_admin: every actor x every scope of the grant
--
CREATE FUNCTION pg_temp.try_grant(actor text, grant_it boolean, who text, t text, o text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	admins_before bigint := (SELECT count(*) FROM keymgmt.admins);
	audit_before bigint := (SELECT count(*) FROM keymgmt.audit_log);
	changed boolean;
	outcome text;
BEGIN
	PERFORM set_config('keymgmt.actor', coalesce(actor, ''), true);
	BEGIN
		IF grant_it THEN
			changed := keymgmt.grant_admin(who, t, o);
		ELSE
			changed := keymgmt.revoke_admin(who, t, o);
		END IF;
		outcome := CASE WHEN changed THEN 'changed' ELSE 'no-op' END;
		IF changed AND (SELECT changed_by FROM keymgmt.audit_log ORDER BY id DESC LIMIT 1)
		               <> coalesce(actor, current_user::text) THEN
			outcome := 'WRONG ACTOR';
		END IF;
		RAISE SQLSTATE 'KM000';
	EXCEPTION
		WHEN SQLSTATE 'KM000' THEN NULL;
		WHEN OTHERS THEN
			outcome := SQLSTATE;
			IF (SELECT count(*) FROM keymgmt.admins) <> admins_before
			   OR (SELECT count(*) FROM keymgmt.audit_log) <> audit_before THEN
				outcome := outcome || ' BUT WROTE';
			END IF;
	END;
	PERFORM set_config('keymgmt.actor', '', true);
	RETURN outcome;
END $$;

-- existing grants to revoke, one per scope
SELECT keymgmt.grant_admin('x') AND keymgmt.grant_admin('x', team_id => 'team-a')
   AND keymgmt.grant_admin('x', team_id => 'team-b')
   AND keymgmt.grant_admin('x', organization_id => 'org-1')
   AND keymgmt.grant_admin('x', organization_id => 'org-2') AS grants_to_revoke;

CREATE TEMP TABLE grant_scopes (n int, label text, t text, o text);
INSERT INTO grant_scopes VALUES
	(1, 'global', NULL, NULL),
	(2, 'team-a', 'team-a', NULL),
	(3, 'team-b', 'team-b', NULL),
	(4, 'org-1', NULL, 'org-1'),
	(5, 'org-2', NULL, 'org-2');

SELECT g.label,
       pg_temp.try_grant('ga', true, 'new', g.t, g.o) AS ga_grants,
       pg_temp.try_grant('ta', true, 'new', g.t, g.o) AS ta_grants,
       pg_temp.try_grant('oa', true, 'new', g.t, g.o) AS oa_grants,
       pg_temp.try_grant('u', true, 'new', g.t, g.o) AS u_grants,
       pg_temp.try_grant(NULL, true, 'new', g.t, g.o) AS no_actor_grants,
       pg_temp.try_grant('ga', false, 'x', g.t, g.o) AS ga_revokes,
       pg_temp.try_grant('ta', false, 'x', g.t, g.o) AS ta_revokes,
       pg_temp.try_grant('oa', false, 'x', g.t, g.o) AS oa_revokes,
       pg_temp.try_grant('u', false, 'x', g.t, g.o) AS u_revokes,
       pg_temp.try_grant(NULL, false, 'x', g.t, g.o) AS no_actor_revokes
FROM grant_scopes g ORDER BY g.n;

-- authority comes before the no-op: an existing grant the actor could not
-- make is still 42501; one it could make is false
SELECT pg_temp.try_grant('ta', true, 'x', NULL, NULL) AS ta_regrants_global,
       pg_temp.try_grant('ta', true, 'x', 'team-a', NULL) AS ta_regrants_team_a,
       pg_temp.try_grant('ta', false, 'nobody', NULL, NULL) AS ta_revokes_missing_global,
       pg_temp.try_grant('ta', false, 'nobody', 'team-a', NULL) AS ta_revokes_missing_team_a;

\set VERBOSITY default
BEGIN;
SET LOCAL keymgmt.actor = 'ta';
SELECT keymgmt.grant_admin('mallory');
ROLLBACK;
BEGIN;
SET LOCAL keymgmt.actor = 'oa';
SELECT keymgmt.revoke_admin('x', team_id => 'team-a');
ROLLBACK;
\set VERBOSITY sqlstate

-- a team admin may revoke its own team grant (and so lose it)
BEGIN;
SET LOCAL keymgmt.actor = 'ta';
SELECT keymgmt.revoke_admin('ta', team_id => 'team-a') AS revoked_self;
SELECT keymgmt.grant_admin('ta', team_id => 'team-a');
ROLLBACK;

-- what the admins table and the audit log hold now: only the setup
SELECT user_id, team_id, organization_id FROM keymgmt.admins
ORDER BY user_id, team_id NULLS FIRST, organization_id NULLS FIRST;
SELECT count(*) AS keys FROM keymgmt.keys;
SELECT object_type, action, count(*) FROM keymgmt.audit_log GROUP BY 1, 2 ORDER BY 1, 2;

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

-- keymgmt: who may change which key (SPEC.md, "Who may change which key").
--
--  - grant_admin / revoke_admin manage keymgmt.admins: idempotent (true when
--    something changed, false otherwise), audited with object_type 'admin',
--    22004 for a NULL user_id, 22023 for empty ids or two scopes at once.
--  - block, unblock, delete: a global admin, an admin of the key's team or
--    organization; the key's owner may block and delete but not unblock.
--    Anyone else: 42501, with one message shape whoever is refused.  A
--    refused change changes nothing and writes no audit row.
--  - No actor: the database role decides, unless keymgmt.require_actor is on.
--  - Validation (22004, 22023) first, then the lock (42704), then authority.
--  - A revoke takes effect for the next change, in the same transaction too.
--
-- Runs as a superuser; everything happens in one transaction that is rolled
-- back.  (Concurrent revokes and changes: test/specs/revoke-vs-change.spec.)

BEGIN;
SELECT plan(116);

-- every key below belongs to owner-a, in team-a and org-a; imported a day
-- ago by 'import', so that an unchanged key is visibly unchanged
CREATE TEMP TABLE tok (raw text PRIMARY KEY, token text NOT NULL, blocked boolean NOT NULL) ON COMMIT DROP;
INSERT INTO tok
SELECT raw, encode(sha256(convert_to(raw, 'UTF8')), 'hex'), raw LIKE '%-blk'
  FROM unnest(ARRAY['sk-tap-auth-denied', 'sk-tap-auth-denied-blk',
					'sk-tap-auth-global', 'sk-tap-auth-team', 'sk-tap-auth-org',
					'sk-tap-auth-owner', 'sk-tap-auth-noactor', 'sk-tap-auth-require',
					'sk-tap-auth-revoke', 'sk-tap-auth-scopes']) raw;
CREATE FUNCTION pg_temp.t(raw text) RETURNS text LANGUAGE sql STABLE
	AS $$SELECT token FROM tok WHERE tok.raw = t.raw$$;

INSERT INTO keymgmt.keys (token, key_name, user_id, team_id, organization_id, blocked,
						  created_at, updated_at, created_by, updated_by)
SELECT token, 'sk-...' || right(raw, 4), 'owner-a', 'team-a', 'org-a', blocked,
	   now() - interval '1 day', now() - interval '1 day', 'import', 'import'
  FROM tok;

-- The error a statement raises, in parts (NULLs if it raises none).
CREATE FUNCTION pg_temp.error_parts(stmt text,
	OUT state text, OUT message text, OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
		detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END
$$;

-- ===========================================================================
-- grant_admin and revoke_admin: idempotent, audited.
-- ===========================================================================
SELECT function_privs_are('keymgmt', 'grant_admin', ARRAY['text', 'text', 'text'], 'public', '{}',
	'PUBLIC may not execute grant_admin');
SELECT function_privs_are('keymgmt', 'revoke_admin', ARRAY['text', 'text', 'text'], 'public', '{}',
	'PUBLIC may not execute revoke_admin');
SELECT table_privs_are('keymgmt', 'admins', 'public', '{}',
	'PUBLIC has no privilege on keymgmt.admins');

-- boss, who grants below as keymgmt.actor, is a global admin: an actor may
-- grant only what it could revoke (the grant matrix is in creation.sql)
INSERT INTO keymgmt.admins (user_id) VALUES ('boss');
-- what the database held before this file, so that the counts below are ours
SELECT (SELECT count(*) FROM keymgmt.admins) AS admins_before,
	   (SELECT count(*) FROM keymgmt.audit_log WHERE object_type = 'admin') AS admin_audit_before \gset

-- with no actor: changed_by is the calling role
SELECT is(keymgmt.grant_admin('root'), true, 'grant_admin of a new global admin returns true');
SELECT is(keymgmt.grant_admin('root'), false, 'granting it again returns false');
SELECT is(keymgmt.grant_admin('ta', 'team-a'), true, 'grant_admin(user, team) of a new team admin returns true');
SELECT is(keymgmt.grant_admin('ta', team_id => 'team-a'), false, 'granting it again returns false');
SELECT is(keymgmt.grant_admin('oa', organization_id => 'org-a'), true,
	'grant_admin(user, organization_id => org) of a new organization admin returns true');
SELECT is(keymgmt.grant_admin('oa', NULL, 'org-a'), false, 'granting it again returns false');
-- admins of other scopes: another team, another organization, and an
-- organization that happens to be called like the key's team
SELECT is(keymgmt.grant_admin('tb', 'team-b'), true, 'a team admin of team-b is granted');
SELECT is(keymgmt.grant_admin('ob', organization_id => 'org-b'), true, 'an organization admin of org-b is granted');
SELECT is(keymgmt.grant_admin('ot', organization_id => 'team-a'), true,
	'an organization admin of an organization called team-a is granted');

-- with keymgmt.actor: changed_by is that actor
SET LOCAL keymgmt.actor = 'boss';
SELECT is(keymgmt.grant_admin('multi'), true, 'multi becomes a global admin');
SELECT is(keymgmt.grant_admin('multi', 'team-a'), true, 'and also an admin of team-a: another grant, true');
SELECT results_eq(
	$$SELECT team_id, organization_id FROM keymgmt.admins WHERE user_id = 'multi' ORDER BY team_id NULLS FIRST$$,
	$$VALUES (NULL::text, NULL::text), ('team-a', NULL)$$,
	'keymgmt.admins holds one row per grant: global and team-a');
SELECT is(keymgmt.revoke_admin('multi', 'team-a'), true, 'revoke_admin of an existing grant returns true');
SELECT is(keymgmt.revoke_admin('multi', 'team-a'), false, 'revoking it again returns false');
SELECT is(keymgmt.revoke_admin('multi', organization_id => 'team-a'), false,
	'a grant is named by its scope: there is no organization grant team-a to revoke');
SELECT results_eq(
	$$SELECT team_id, organization_id FROM keymgmt.admins WHERE user_id = 'multi'$$,
	$$VALUES (NULL::text, NULL::text)$$,
	'revoke_admin removed exactly that grant: the global one is still there');
SELECT is(keymgmt.revoke_admin('multi'), true, 'revoking the global grant returns true');
SELECT is(keymgmt.revoke_admin('multi'), false, 'revoking it again returns false');
SELECT is_empty($$SELECT 1 FROM keymgmt.admins WHERE user_id = 'multi'$$, 'multi is no admin any more');
SELECT is(keymgmt.revoke_admin('nobody-ever'), false, 'revoking what was never granted returns false');
SET LOCAL keymgmt.actor = '';

-- the audit rows: one per true, none for a false
SELECT results_eq(
	$$SELECT object_type, action, object_id, changed_by, db_role, before_value, updated_values
		FROM keymgmt.audit_log WHERE object_id IN ('root', 'multi') ORDER BY id$$,
	$$VALUES
		('admin', 'created', 'root', current_user::text COLLATE "default", current_user::text COLLATE "default",
		 NULL::jsonb, '{"user_id": "root", "team_id": null, "organization_id": null}'::jsonb),
		('admin', 'created', 'multi', 'boss', current_user::text COLLATE "default",
		 NULL::jsonb, '{"user_id": "multi", "team_id": null, "organization_id": null}'::jsonb),
		('admin', 'created', 'multi', 'boss', current_user::text COLLATE "default",
		 NULL::jsonb, '{"user_id": "multi", "team_id": "team-a", "organization_id": null}'::jsonb),
		('admin', 'deleted', 'multi', 'boss', current_user::text COLLATE "default",
		 '{"user_id": "multi", "team_id": "team-a", "organization_id": null}'::jsonb, NULL::jsonb),
		('admin', 'deleted', 'multi', 'boss', current_user::text COLLATE "default",
		 '{"user_id": "multi", "team_id": null, "organization_id": null}'::jsonb, NULL::jsonb)$$,
	'audit_log: object_type admin, action created/deleted, object_id the user id, changed_by the actor, the grant as updated_values / before_value');
SELECT results_eq(
	$$SELECT object_id, team_id, organization_id FROM keymgmt.audit_log a,
			 LATERAL jsonb_to_record(a.updated_values) AS r(team_id text, organization_id text)
	   WHERE object_type = 'admin' AND action = 'created' AND object_id IN ('ta', 'oa') ORDER BY id$$,
	$$VALUES ('ta', 'team-a', NULL::text), ('oa', NULL, 'org-a')$$,
	'the created rows name the team or organization granted');
SELECT is((SELECT count(*) FROM keymgmt.audit_log WHERE object_type = 'admin'), :admin_audit_before + 10::bigint,
	'ten admin audit rows: one for each grant or revoke that returned true, none for a false');
SELECT is((SELECT bool_and(changed_at = now()) FROM keymgmt.audit_log WHERE object_type = 'admin'), true,
	'changed_at is the transaction''s timestamp');

-- ---------------------------------------------------------------------------
-- One grant is one scope, named by non-empty ids.
-- ---------------------------------------------------------------------------
SELECT throws_ok($$SELECT keymgmt.grant_admin(NULL)$$, '22004', 'user_id must not be null',
	'grant_admin(NULL) raises 22004');
SELECT throws_ok($$SELECT keymgmt.revoke_admin(NULL)$$, '22004', 'user_id must not be null',
	'revoke_admin(NULL) raises 22004');
SELECT throws_ok($$SELECT keymgmt.grant_admin(NULL, 'team-a')$$, '22004', NULL,
	'grant_admin(NULL, team) raises 22004');
SELECT throws_ok($$SELECT keymgmt.grant_admin('x', 'team-a', 'org-a')$$, '22023',
	'an admin is of a team or of an organization, not both',
	'grant_admin with both a team and an organization raises 22023');
SELECT throws_ok($$SELECT keymgmt.revoke_admin('ta', team_id => 'team-a', organization_id => 'org-a')$$, '22023',
	'an admin is of a team or of an organization, not both',
	'revoke_admin with both a team and an organization raises 22023');
SELECT throws_ok($$SELECT keymgmt.grant_admin('')$$, '22023', 'user_id must not be empty',
	'grant_admin('''') raises 22023');
SELECT throws_ok($$SELECT keymgmt.grant_admin('x', '')$$, '22023', 'team_id must not be empty',
	'grant_admin(user, team '''') raises 22023');
SELECT throws_ok($$SELECT keymgmt.grant_admin('x', organization_id => '')$$, '22023', 'organization_id must not be empty',
	'grant_admin(user, organization '''') raises 22023');
SELECT throws_ok($$SELECT keymgmt.revoke_admin('')$$, '22023', 'user_id must not be empty',
	'revoke_admin('''') raises 22023');
SELECT throws_ok($$SELECT keymgmt.revoke_admin('ta', '')$$, '22023', 'team_id must not be empty',
	'revoke_admin(user, team '''') raises 22023 (it does not revoke the global grant)');
SELECT results_eq(
	$$SELECT (SELECT count(*) FROM keymgmt.admins), (SELECT count(*) FROM keymgmt.audit_log WHERE object_type = 'admin')$$,
	format('VALUES (%s::bigint, %s::bigint)', :admins_before + 6, :admin_audit_before + 10),
	'the refused grants and revokes changed no admin and wrote no audit row');

-- a role that may execute block_key only cannot make itself an admin
CREATE ROLE keymgmt_tap_auth_gateway NOLOGIN;
GRANT EXECUTE ON FUNCTION keymgmt.block_key(text, text) TO keymgmt_tap_auth_gateway;
SET LOCAL ROLE keymgmt_tap_auth_gateway;
SELECT throws_ok($$SELECT keymgmt.grant_admin('keymgmt_tap_auth_gateway')$$, '42501', NULL,
	'a role without EXECUTE on grant_admin gets 42501');
SELECT throws_ok($$INSERT INTO keymgmt.admins (user_id) VALUES ('keymgmt_tap_auth_gateway')$$, '42501', NULL,
	'and cannot INSERT into keymgmt.admins');
RESET ROLE;

-- ===========================================================================
-- Refused: anyone who is neither an admin of the key nor (for block and
-- delete) its owner.
-- ===========================================================================
CREATE TEMP TABLE refused_actor (n int, actor text, label text) ON COMMIT DROP;
INSERT INTO refused_actor VALUES
	(1, 'eve', 'an unrelated actor'),
	(2, 'tb', 'an admin of another team'),
	(3, 'ob', 'an admin of another organization'),
	(4, 'ot', 'an admin of an organization called like the key''s team'),
	(5, '', 'an empty actor argument'),
	(6, 'root ', 'a global admin''s name with a trailing space');
CREATE TEMP TABLE refused_change (m int, fn text, raw text) ON COMMIT DROP;
INSERT INTO refused_change VALUES
	(1, 'block_key', 'sk-tap-auth-denied'),
	(2, 'unblock_key', 'sk-tap-auth-denied-blk'),
	(3, 'delete_key', 'sk-tap-auth-denied');

SELECT throws_ok(
	format('SELECT keymgmt.%I(%L, actor => %L)', c.fn, c.raw, a.actor),
	'42501', NULL, format('%s by %s raises 42501', c.fn, a.label))
  FROM refused_change c CROSS JOIN refused_actor a
 ORDER BY c.m, a.n;

SELECT throws_ok($$SELECT keymgmt.unblock_key('sk-tap-auth-denied-blk', actor => 'owner-a')$$, '42501', NULL,
	'unblock_key by the key''s owner raises 42501 (an owner may not unblock)');
SELECT throws_ok($$SELECT keymgmt.block_key('sk-tap-auth-denied-blk', actor => 'eve')$$, '42501', NULL,
	'block_key of an already blocked key by an unrelated actor still raises 42501 (authority before the no-op)');
SET LOCAL keymgmt.actor = 'eve';
SELECT throws_ok($$SELECT keymgmt.block_key('sk-tap-auth-denied')$$, '42501', NULL,
	'an unrelated actor named by keymgmt.actor gets 42501 too');
SET LOCAL keymgmt.actor = '';

-- the refusal reads the same whoever is refused: only the actor's name differs
SELECT results_eq(
	$$SELECT c.fn, count(DISTINCT e.state), count(DISTINCT replace(e.message, format('"%s"', a.actor), '"<actor>"')),
			 count(DISTINCT e.detail), count(DISTINCT e.hint), count(*)
		FROM refused_change c,
			 refused_actor a,
			 LATERAL pg_temp.error_parts(format('SELECT keymgmt.%I(%L, actor => %L)', c.fn, c.raw, a.actor)) e
	   GROUP BY c.fn ORDER BY c.fn$$,
	$$VALUES ('block_key', 1::bigint, 1::bigint, 1::bigint, 1::bigint, 6::bigint),
			 ('delete_key', 1, 1, 1, 1, 6),
			 ('unblock_key', 1, 1, 1, 1, 6)$$,
	'every refused actor (a stranger, an admin of another team, of another organization, ...) gets the same refusal, apart from its name');
SELECT results_eq(
	$$SELECT replace(e.message, format('"%s"', a), '"<actor>"'), e.detail
		FROM unnest(ARRAY['eve', 'owner-a']) a,
			 LATERAL pg_temp.error_parts(format('SELECT keymgmt.unblock_key(%L, actor => %L)', 'sk-tap-auth-denied-blk', a)) e$$,
	$$VALUES ('actor "<actor>" may not unblock key "sk-...-blk"',
			  'To unblock this key, the actor must be a global admin, an admin of team "team-a" or an admin of organization "org-a".'),
			 ('actor "<actor>" may not unblock key "sk-...-blk"',
			  'To unblock this key, the actor must be a global admin, an admin of team "team-a" or an admin of organization "org-a".')$$,
	'the owner refused an unblock gets the same refusal as a stranger');
SELECT results_eq(
	$$SELECT e.state, e.message, e.detail FROM refused_change c,
			 LATERAL pg_temp.error_parts(format('SELECT keymgmt.%I(%L, actor => %L)', c.fn, c.raw, 'eve')) e
	   ORDER BY c.m$$,
	$$VALUES
		('42501', 'actor "eve" may not block key "sk-...nied"',
		 'To block this key, the actor must be a global admin, an admin of team "team-a", an admin of organization "org-a" or the key''s owner.'),
		('42501', 'actor "eve" may not unblock key "sk-...-blk"',
		 'To unblock this key, the actor must be a global admin, an admin of team "team-a" or an admin of organization "org-a".'),
		('42501', 'actor "eve" may not delete key "sk-...nied"',
		 'To delete this key, the actor must be a global admin, an admin of team "team-a", an admin of organization "org-a" or the key''s owner.')$$,
	'the refusal names the actor, the key''s display form and who would have been needed');
SELECT results_eq(
	$$SELECT e.state, e.message FROM pg_temp.error_parts(
		format('SELECT keymgmt.block_key(%L, actor => %L)', pg_temp.t('sk-tap-auth-denied'), 'eve')) e$$,
	$$SELECT '42501', format('actor "eve" may not block key "%s..."', left(pg_temp.t('sk-tap-auth-denied'), 12))$$,
	'a key given as a token is named by its first 12 hex digits only');

-- validation first, then the lock, then authority
SELECT throws_ok($$SELECT keymgmt.block_key(NULL, actor => 'eve')$$, '22004', NULL,
	'an unrelated actor with a NULL key gets 22004');
SELECT throws_ok($$SELECT keymgmt.block_key('sk-tap auth', actor => 'eve')$$, '22023', NULL,
	'an unrelated actor with a malformed key gets 22023');
SELECT throws_ok($$SELECT keymgmt.block_key('sk-tap-auth-no-such-key', actor => 'eve')$$, '42704', NULL,
	'an unrelated actor with an unknown key gets 42704');

-- nothing of the refused changes happened
SELECT results_eq(
	$$SELECT raw, k.blocked, k.updated_at, k.updated_by FROM keymgmt.keys k JOIN tok USING (token)
	   WHERE raw IN ('sk-tap-auth-denied', 'sk-tap-auth-denied-blk') ORDER BY raw$$,
	$$VALUES ('sk-tap-auth-denied', false, now() - interval '1 day', 'import'),
			 ('sk-tap-auth-denied-blk', true, now() - interval '1 day', 'import')$$,
	'the refused changes left both keys as they were');
SELECT is_empty(
	$$SELECT 1 FROM keymgmt.audit_log
	   WHERE object_id IN (pg_temp.t('sk-tap-auth-denied'), pg_temp.t('sk-tap-auth-denied-blk'))$$,
	'the refused changes wrote no audit row');

-- ===========================================================================
-- Allowed: a global admin, an admin of the key's team, an admin of the
-- key's organization may block, unblock and delete it.
-- ===========================================================================
SELECT is(blocked, true, 'a global admin may block the key')
  FROM keymgmt.block_key('sk-tap-auth-global', actor => 'root');
SELECT is(blocked, false, 'a global admin may unblock it')
  FROM keymgmt.unblock_key('sk-tap-auth-global', actor => 'root');
SELECT is(token, pg_temp.t('sk-tap-auth-global'), 'a global admin may delete it')
  FROM keymgmt.delete_key('sk-tap-auth-global', actor => 'root');

-- the team admin acts through keymgmt.actor, as a gateway would
SET LOCAL keymgmt.actor = 'ta';
SELECT is(blocked, true, 'an admin of the key''s team may block the key')
  FROM keymgmt.block_key('sk-tap-auth-team');
SELECT is(blocked, false, 'an admin of the key''s team may unblock it')
  FROM keymgmt.unblock_key('sk-tap-auth-team');
SELECT is(token, pg_temp.t('sk-tap-auth-team'), 'an admin of the key''s team may delete it')
  FROM keymgmt.delete_key('sk-tap-auth-team');
SET LOCAL keymgmt.actor = '';

SELECT is(blocked, true, 'an admin of the key''s organization may block the key')
  FROM keymgmt.block_key('sk-tap-auth-org', actor => 'oa');
SELECT is(blocked, false, 'an admin of the key''s organization may unblock it')
  FROM keymgmt.unblock_key('sk-tap-auth-org', actor => 'oa');
SELECT is(token, pg_temp.t('sk-tap-auth-org'), 'an admin of the key''s organization may delete it')
  FROM keymgmt.delete_key('sk-tap-auth-org', actor => 'oa');

SELECT results_eq(
	$$SELECT raw, a.action, a.changed_by FROM keymgmt.audit_log a JOIN tok ON a.object_id = tok.token
	   WHERE raw IN ('sk-tap-auth-global', 'sk-tap-auth-team', 'sk-tap-auth-org') ORDER BY a.id$$,
	$$VALUES ('sk-tap-auth-global', 'blocked', 'root'), ('sk-tap-auth-global', 'unblocked', 'root'),
			 ('sk-tap-auth-global', 'deleted', 'root'),
			 ('sk-tap-auth-team', 'blocked', 'ta'), ('sk-tap-auth-team', 'unblocked', 'ta'),
			 ('sk-tap-auth-team', 'deleted', 'ta'),
			 ('sk-tap-auth-org', 'blocked', 'oa'), ('sk-tap-auth-org', 'unblocked', 'oa'),
			 ('sk-tap-auth-org', 'deleted', 'oa')$$,
	'each allowed change is audited once, by the admin who made it');

-- ===========================================================================
-- The key's owner may block and delete it, not unblock it.
-- ===========================================================================
SELECT is(blocked, true, 'the key''s owner may block it')
  FROM keymgmt.block_key('sk-tap-auth-owner', actor => 'owner-a');
SELECT throws_ok($$SELECT keymgmt.unblock_key('sk-tap-auth-owner', actor => 'owner-a')$$, '42501', NULL,
	'the key''s owner may not unblock it');
SELECT is(token, pg_temp.t('sk-tap-auth-owner'), 'the key''s owner may delete it')
  FROM keymgmt.delete_key('sk-tap-auth-owner', actor => 'owner-a');
SELECT results_eq(
	$$SELECT action, changed_by, before_value ->> 'blocked' FROM keymgmt.audit_log
	   WHERE object_id = pg_temp.t('sk-tap-auth-owner') ORDER BY id$$,
	$$VALUES ('blocked', 'owner-a', 'false'), ('deleted', 'owner-a', 'true')$$,
	'the owner''s block and delete are audited; the refused unblock is not');

-- ===========================================================================
-- No actor: the database role is the authority.
-- ===========================================================================
SELECT is(blocked, true, 'with no actor, the calling role may block the key')
  FROM keymgmt.block_key('sk-tap-auth-noactor');
SELECT is(blocked, false, 'with no actor, the calling role may unblock it')
  FROM keymgmt.unblock_key('sk-tap-auth-noactor');
SELECT is(token, pg_temp.t('sk-tap-auth-noactor'), 'with no actor, the calling role may delete it')
  FROM keymgmt.delete_key('sk-tap-auth-noactor');
SELECT results_eq(
	$$SELECT action, changed_by FROM keymgmt.audit_log WHERE object_id = pg_temp.t('sk-tap-auth-noactor') ORDER BY id$$,
	$$VALUES ('blocked', current_user::text COLLATE "default"), ('unblocked', current_user::text COLLATE "default"),
			 ('deleted', current_user::text COLLATE "default")$$,
	'with no actor, the changes are audited as the calling role''s');

-- ===========================================================================
-- keymgmt.require_actor = on: no actor is 42501; an actor is checked as usual.
-- ===========================================================================
SET LOCAL keymgmt.require_actor = on;

SELECT throws_ok($$SELECT keymgmt.block_key('sk-tap-auth-require')$$, '42501', 'block_key() needs an actor',
	'require_actor on: block_key without an actor raises 42501');
SELECT throws_ok($$SELECT keymgmt.unblock_key('sk-tap-auth-require')$$, '42501', 'unblock_key() needs an actor',
	'require_actor on: unblock_key without an actor raises 42501');
SELECT throws_ok($$SELECT keymgmt.delete_key('sk-tap-auth-require')$$, '42501', 'delete_key() needs an actor',
	'require_actor on: delete_key without an actor raises 42501');
SELECT throws_ok($$SELECT * FROM keymgmt.generate_key()$$, '42501', 'generate_key() needs an actor',
	'require_actor on: generate_key without an actor raises 42501');
SELECT throws_ok($$SELECT keymgmt.grant_admin('x')$$, '42501', 'grant_admin() needs an actor',
	'require_actor on: grant_admin without an actor raises 42501');
SELECT throws_ok($$SELECT keymgmt.revoke_admin('root')$$, '42501', 'revoke_admin() needs an actor',
	'require_actor on: revoke_admin without an actor raises 42501');
SELECT throws_ok($$SELECT keymgmt.block_key('sk-tap-auth-no-such-key')$$, '42704', NULL,
	'require_actor on: an unknown key without an actor is still 42704 (the lock comes first)');
SELECT throws_ok($$SELECT keymgmt.block_key('sk-tap-auth-require', actor => 'eve')$$, '42501',
	'actor "eve" may not block key "sk-...uire"',
	'require_actor on: an actor is still checked');
SELECT is_empty($$SELECT 1 FROM keymgmt.audit_log WHERE object_id = pg_temp.t('sk-tap-auth-require')$$,
	'require_actor on: the refused changes wrote no audit row');

SELECT is(blocked, true, 'require_actor on: block_key with an actor argument is allowed')
  FROM keymgmt.block_key('sk-tap-auth-require', actor => 'root');
SET LOCAL keymgmt.actor = 'ta';
SELECT is(blocked, false, 'require_actor on: unblock_key with keymgmt.actor set is allowed')
  FROM keymgmt.unblock_key('sk-tap-auth-require');
-- ta, an admin of team-a, may grant and revoke admin of team-a
SELECT is(keymgmt.grant_admin('req-admin', team_id => 'team-a'), true,
	'require_actor on: grant_admin with keymgmt.actor set is allowed');
SELECT is(keymgmt.revoke_admin('req-admin', team_id => 'team-a'), true,
	'require_actor on: revoke_admin with keymgmt.actor set is allowed');
SET LOCAL keymgmt.actor = '';
SELECT results_eq(
	$$SELECT action, changed_by FROM keymgmt.audit_log WHERE object_id = pg_temp.t('sk-tap-auth-require') ORDER BY id$$,
	$$VALUES ('blocked', 'root'), ('unblocked', 'ta')$$,
	'require_actor on: only the changes that named an actor happened');

SET LOCAL keymgmt.require_actor = off;

-- require_actor is superuser-only; keymgmt.actor may be set by anyone
SET LOCAL ROLE keymgmt_tap_auth_gateway;
SELECT throws_ok($$SET LOCAL keymgmt.require_actor = off$$, '42501', NULL,
	'a role that is not a superuser cannot set keymgmt.require_actor');
SELECT lives_ok($$SET LOCAL keymgmt.actor = 'someone'$$,
	'any role may set keymgmt.actor');
RESET ROLE;
SET LOCAL keymgmt.actor = '';

-- ===========================================================================
-- A revoke takes effect for the next change, in the same transaction.
-- ===========================================================================
SELECT is(keymgmt.grant_admin('temp', 'team-a'), true, 'temp becomes an admin of team-a');
SELECT is(blocked, true, 'a grant takes effect at once: temp may block the key')
  FROM keymgmt.block_key('sk-tap-auth-revoke', actor => 'temp');
SELECT is(keymgmt.revoke_admin('temp', 'team-a'), true, 'temp''s grant is revoked');
SELECT throws_ok($$SELECT keymgmt.unblock_key('sk-tap-auth-revoke', actor => 'temp')$$, '42501', NULL,
	'after the revoke, in the same transaction, temp may not unblock the key');
SELECT throws_ok($$SELECT keymgmt.delete_key('sk-tap-auth-revoke', actor => 'temp')$$, '42501', NULL,
	'nor delete it');
SELECT results_eq(
	$$SELECT k.blocked, k.updated_by, (SELECT count(*) FROM keymgmt.audit_log a WHERE a.object_id = k.token)
		FROM keymgmt.keys k WHERE k.token = pg_temp.t('sk-tap-auth-revoke')$$,
	$$VALUES (true, 'temp', 1::bigint)$$,
	'the key is as temp''s block left it, with one audit row');

-- revoking one of two grants leaves the other one's right
SELECT is(keymgmt.grant_admin('two', organization_id => 'org-a'), true, 'two becomes an admin of org-a');
SELECT is(keymgmt.grant_admin('two'), true, 'and a global admin');
SELECT is(keymgmt.revoke_admin('two'), true, 'the global grant is revoked');
SELECT is(blocked, true, 'two may still block the key, as an admin of its organization')
  FROM keymgmt.block_key('sk-tap-auth-scopes', actor => 'two');
SELECT is(keymgmt.revoke_admin('two', organization_id => 'org-a'), true, 'the organization grant is revoked too');
SELECT throws_ok($$SELECT keymgmt.unblock_key('sk-tap-auth-scopes', actor => 'two')$$, '42501', NULL,
	'now two may not unblock the key');

SELECT * FROM finish();
ROLLBACK;

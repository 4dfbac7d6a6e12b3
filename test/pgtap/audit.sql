-- keymgmt: what a change does, as the audit log and the returned rows show it,
-- and what verify_key answers.
--
-- Keys are imported directly, the way LiteLLM tokens are (token = lowercase
-- hex SHA-256 of the raw key), so every token here is known in advance.
-- Each change happens in this one transaction: changed_at is its now().

BEGIN;
SELECT plan(45);

-- the actors used below are global admins, so that the checks of who may
-- change which key let their changes through (authority is tested in
-- authority.sql; carol only creates a key, which needs no admin right)
INSERT INTO keymgmt.admins (user_id) VALUES ('alice'), ('bob'), ('carol'), ('mallory');

-- the tokens of the raw keys used below
CREATE TEMP TABLE tok (raw text PRIMARY KEY, token text NOT NULL) ON COMMIT DROP;
INSERT INTO tok
SELECT raw, encode(sha256(convert_to(raw, 'UTF8')), 'hex')
  FROM unnest(ARRAY['sk-tap-one', 'sk-tap-two', 'sk-tap-three', 'sk-tap-four',
					'sk-tap-valid', 'sk-tap-blocked', 'sk-tap-expired',
					'sk-tap-expires-now', 'sk-tap-blocked-expired', 'sk-tap-nowhere']) raw;
CREATE FUNCTION pg_temp.t(raw text) RETURNS text LANGUAGE sql STABLE
	AS $$SELECT token FROM tok WHERE tok.raw = t.raw$$;

-- imported a day ago, so that a change visibly moves updated_at
INSERT INTO keymgmt.keys (token, key_name, created_at, updated_at, created_by, updated_by)
SELECT token, 'sk-...' || right(raw, 4), now() - interval '1 day', now() - interval '1 day', 'import', 'import'
  FROM tok WHERE raw IN ('sk-tap-one', 'sk-tap-two', 'sk-tap-three', 'sk-tap-four');

-- ===========================================================================
-- A full lifecycle: block, block again, unblock, delete.
-- ===========================================================================

-- block, with the actor as an argument: returns the row as it now is
SELECT results_eq(
	$$SELECT token, key_name, blocked, updated_by, updated_at = now(), created_at = now() - interval '1 day'
		FROM keymgmt.block_key('sk-tap-one', 'alice')$$,
	$$SELECT pg_temp.t('sk-tap-one'), 'sk-...-one', true, 'alice', true, true$$,
	'block_key returns the row as it now is: blocked, updated by alice at now()');
SELECT results_eq(
	$$SELECT blocked, updated_by, updated_at FROM keymgmt.keys WHERE token = pg_temp.t('sk-tap-one')$$,
	$$VALUES (true, 'alice', now())$$,
	'the stored key is blocked, updated_by alice, updated_at now()');

-- block again: a no-op that returns the row and writes nothing
SELECT results_eq(
	$$SELECT token, blocked, updated_by FROM keymgmt.block_key('sk-tap-one', 'mallory')$$,
	$$SELECT pg_temp.t('sk-tap-one'), true, 'alice'$$,
	'blocking a blocked key returns the row unchanged (updated_by is still alice)');
SELECT is((SELECT count(*) FROM keymgmt.audit_log WHERE object_id = pg_temp.t('sk-tap-one')),
	1::bigint, 'blocking a blocked key writes no audit row');

-- unblock, with the actor from the keymgmt.actor setting
SET LOCAL keymgmt.actor = 'bob';
SELECT results_eq(
	$$SELECT token, blocked, updated_by FROM keymgmt.unblock_key('sk-tap-one')$$,
	$$SELECT pg_temp.t('sk-tap-one'), false, 'bob'$$,
	'unblock_key returns the row as it now is: unblocked, updated by bob (keymgmt.actor)');
SELECT results_eq(
	$$SELECT token, blocked, updated_by FROM keymgmt.unblock_key('sk-tap-one')$$,
	$$SELECT pg_temp.t('sk-tap-one'), false, 'bob'$$,
	'unblocking an unblocked key returns the row unchanged');
SET LOCAL keymgmt.actor = '';

-- delete, with no actor at all: the calling role is the actor
SELECT results_eq(
	$$SELECT token, key_name, blocked, updated_by FROM keymgmt.delete_key('sk-tap-one')$$,
	$$SELECT pg_temp.t('sk-tap-one'), 'sk-...-one', false, 'bob'$$,
	'delete_key returns the row as it was');
SELECT is_empty($$SELECT 1 FROM keymgmt.keys WHERE token = pg_temp.t('sk-tap-one')$$,
	'the key is gone');

-- the audit trail of that key: one row per real change, in order
SELECT results_eq(
	$$SELECT action, object_type, object_id, changed_by, db_role,
			 before_value -> 'blocked', updated_values
		FROM keymgmt.audit_log WHERE object_id = pg_temp.t('sk-tap-one') ORDER BY id$$,
	$$VALUES
		('blocked',   'key', pg_temp.t('sk-tap-one'), 'alice', current_user::text COLLATE "default",
		 'false'::jsonb, '{"blocked": true}'::jsonb),
		('unblocked', 'key', pg_temp.t('sk-tap-one'), 'bob', current_user::text COLLATE "default",
		 'true'::jsonb, '{"blocked": false}'::jsonb),
		('deleted',   'key', pg_temp.t('sk-tap-one'), current_user::text COLLATE "default", current_user::text COLLATE "default",
		 'false'::jsonb, NULL::jsonb)$$,
	'audit_log: blocked by alice, unblocked by bob, deleted by the calling role; db_role the calling role');
SELECT is(
	(SELECT bool_and(changed_at = now()) FROM keymgmt.audit_log WHERE object_id = pg_temp.t('sk-tap-one')),
	true, 'changed_at is the transaction''s timestamp');
SELECT results_eq(
	$$SELECT before_value ->> 'updated_by', before_value ->> 'key_name', before_value ->> 'token'
		FROM keymgmt.audit_log WHERE object_id = pg_temp.t('sk-tap-one') ORDER BY id$$,
	$$VALUES ('import', 'sk-...-one', pg_temp.t('sk-tap-one')),
			 ('alice', 'sk-...-one', pg_temp.t('sk-tap-one')),
			 ('bob', 'sk-...-one', pg_temp.t('sk-tap-one'))$$,
	'before_value is the key row as it was before each change');
SELECT set_eq(
	$$SELECT jsonb_object_keys(before_value) FROM keymgmt.audit_log
	   WHERE object_id = pg_temp.t('sk-tap-one') AND action = 'deleted'$$,
	$$SELECT attname::text FROM pg_attribute
	   WHERE attrelid = 'keymgmt.keys'::regclass AND attnum > 0 AND NOT attisdropped$$,
	'before_value of deleted holds every column of the row');
SELECT is(
	(SELECT count(*) FROM keymgmt.audit_log a
	  WHERE a.object_id = pg_temp.t('sk-tap-one') AND strpos(to_jsonb(a)::text, 'sk-tap-one') > 0),
	0::bigint, 'no audit row holds the raw key');

-- the actor argument wins over keymgmt.actor
SET LOCAL keymgmt.actor = 'bob';
SELECT results_eq(
	$$SELECT updated_by FROM keymgmt.block_key('sk-tap-four', 'alice')$$,
	$$VALUES ('alice')$$,
	'an actor argument wins over keymgmt.actor');
SELECT results_eq(
	$$SELECT changed_by FROM keymgmt.audit_log WHERE object_id = pg_temp.t('sk-tap-four')$$,
	$$VALUES ('alice')$$,
	'and is the audited changed_by');
SET LOCAL keymgmt.actor = '';

-- ===========================================================================
-- A change that is rolled back leaves nothing.
-- ===========================================================================
SAVEPOINT before_block;
SELECT blocked AS blocked_inside, updated_by AS updated_by_inside
  FROM keymgmt.block_key('sk-tap-two', 'alice') \gset
SELECT count(*) AS audit_rows_inside FROM keymgmt.audit_log
 WHERE object_id = pg_temp.t('sk-tap-two') \gset
ROLLBACK TO SAVEPOINT before_block;

SELECT is(:'blocked_inside' || ' ' || :'updated_by_inside' || ' ' || :'audit_rows_inside', 't alice 1',
	'inside the savepoint the key was blocked and audited');
SELECT results_eq(
	$$SELECT blocked, updated_by, updated_at FROM keymgmt.keys WHERE token = pg_temp.t('sk-tap-two')$$,
	$$VALUES (false, 'import', now() - interval '1 day')$$,
	'after ROLLBACK TO SAVEPOINT the key is unblocked and unchanged');
SELECT is_empty(
	$$SELECT 1 FROM keymgmt.audit_log WHERE object_id = pg_temp.t('sk-tap-two')$$,
	'after ROLLBACK TO SAVEPOINT there is no audit row');
SELECT results_eq(
	$$SELECT blocked FROM keymgmt.block_key('sk-tap-two', 'alice')$$,
	ARRAY[true],
	'the key can be blocked again after the rollback (it is a real change)');
SELECT is((SELECT count(*) FROM keymgmt.audit_log WHERE object_id = pg_temp.t('sk-tap-two')),
	1::bigint, 'that block is audited once');

-- ===========================================================================
-- A token in uppercase is the same key.
-- ===========================================================================
SELECT results_eq(
	$$SELECT token, blocked FROM keymgmt.block_key(upper(pg_temp.t('sk-tap-three')), 'alice')$$,
	$$SELECT pg_temp.t('sk-tap-three'), true$$,
	'block_key with an uppercase token blocks the key');
SELECT results_eq(
	$$SELECT action, object_id FROM keymgmt.audit_log WHERE object_id = pg_temp.t('sk-tap-three')$$,
	$$SELECT 'blocked', pg_temp.t('sk-tap-three')$$,
	'the audit row names the lowercase token');
SELECT results_eq(
	$$SELECT token, blocked FROM keymgmt.block_key(pg_temp.t('sk-tap-three'), 'alice')$$,
	$$SELECT pg_temp.t('sk-tap-three'), true$$,
	'block_key with the lowercase token then finds it already blocked');
SELECT results_eq(
	$$SELECT token, blocked FROM keymgmt.block_key('sk-tap-three', 'alice')$$,
	$$SELECT pg_temp.t('sk-tap-three'), true$$,
	'and so does block_key with the raw key');
SELECT is((SELECT count(*) FROM keymgmt.audit_log WHERE object_id = pg_temp.t('sk-tap-three')),
	1::bigint, 'one audit row for three blocks of the same key in its three forms');
SELECT results_eq(
	$$SELECT token, blocked FROM keymgmt.key_info(upper(pg_temp.t('sk-tap-three')))$$,
	$$SELECT pg_temp.t('sk-tap-three'), true$$,
	'key_info with an uppercase token reads the key');

-- ===========================================================================
-- verify_key: exactly one row, whatever it is given.
-- ===========================================================================
INSERT INTO keymgmt.keys (token, key_name, user_id, team_id, organization_id, blocked, expires, metadata, created_at, updated_at)
SELECT token, 'sk-...' || right(raw, 4), 'u-1', 't-1', 'o-1',
	   raw IN ('sk-tap-blocked', 'sk-tap-blocked-expired'),
	   CASE raw WHEN 'sk-tap-valid' THEN now() + interval '1 day'
				WHEN 'sk-tap-expires-now' THEN now()
				WHEN 'sk-tap-blocked' THEN NULL
				ELSE now() - interval '1 minute' END,
	   '{"tier": "gold"}', now() - interval '1 day', now() - interval '1 day'
  FROM tok WHERE raw IN ('sk-tap-valid', 'sk-tap-blocked', 'sk-tap-expired',
						  'sk-tap-expires-now', 'sk-tap-blocked-expired');
SELECT count(*) AS audit_rows_before_verify FROM keymgmt.audit_log \gset

SELECT results_eq(
	$$SELECT * FROM keymgmt.verify_key('sk-tap-valid')$$,
	$$SELECT true, 'valid', pg_temp.t('sk-tap-valid'), 'u-1', 't-1', 'o-1',
			 now() + interval '1 day', '{"tier": "gold"}'::jsonb,
			 (SELECT key_id FROM keymgmt.keys WHERE token = pg_temp.t('sk-tap-valid')),
			 NULL::timestamptz$$,
	'a good key: valid, with its token, owner, scope, expiry and metadata');
SELECT results_eq(
	$$SELECT valid, status, token, user_id, team_id, organization_id, expires, metadata
		FROM keymgmt.verify_key('sk-tap-nowhere')$$,
	$$SELECT false, 'not_found', pg_temp.t('sk-tap-nowhere'), NULL::text, NULL::text, NULL::text,
			 NULL::timestamptz, NULL::jsonb$$,
	'an unknown raw key: not_found, with the token of the key given');
SELECT results_eq(
	$$SELECT valid, status, token FROM keymgmt.verify_key('sk-tap-blocked')$$,
	$$SELECT false, 'blocked', pg_temp.t('sk-tap-blocked')$$,
	'a blocked key: blocked');
SELECT results_eq(
	$$SELECT valid, status, token FROM keymgmt.verify_key('sk-tap-expired')$$,
	$$SELECT false, 'expired', pg_temp.t('sk-tap-expired')$$,
	'a key that expired a minute ago: expired');
SELECT results_eq(
	$$SELECT valid, status FROM keymgmt.verify_key('sk-tap-expires-now')$$,
	$$VALUES (false, 'expired')$$,
	'a key that expires at now(): expired (it does not verify from that moment on)');
SELECT results_eq(
	$$SELECT valid, status FROM keymgmt.verify_key('sk-tap-blocked-expired')$$,
	$$VALUES (false, 'blocked')$$,
	'a key that is blocked and expired: blocked (checked before expired)');
SELECT results_eq(
	$$SELECT valid, status, token, user_id, team_id, organization_id, expires, metadata
		FROM keymgmt.verify_key(pg_temp.t('sk-tap-valid'))$$,
	$$SELECT false, 'malformed', NULL::text, NULL::text, NULL::text, NULL::text,
			 NULL::timestamptz, NULL::jsonb$$,
	'a token is not a credential: malformed, and nothing of the key is returned');
SELECT results_eq(
	$$SELECT valid, status FROM keymgmt.verify_key(upper(pg_temp.t('sk-tap-valid')))$$,
	$$VALUES (false, 'malformed')$$,
	'an uppercase token: malformed');
SELECT results_eq(
	$$SELECT valid, status, token FROM keymgmt.verify_key('junk')$$,
	$$VALUES (false, 'malformed', NULL::text)$$,
	'junk: malformed');
SELECT results_eq(
	$$SELECT valid, status FROM keymgmt.verify_key('')$$,
	$$VALUES (false, 'malformed')$$,
	'the empty string: malformed');
SELECT results_eq(
	$$SELECT valid, status FROM keymgmt.verify_key('sk-has space')$$,
	$$VALUES (false, 'malformed')$$,
	'a raw key with a space: malformed');
SELECT results_eq(
	$$SELECT valid, status FROM keymgmt.verify_key('sk-' || repeat('a', 253))$$,
	$$VALUES (false, 'malformed')$$,
	'a raw key one character too long: malformed');
SELECT results_eq(
	$$SELECT valid, status FROM keymgmt.verify_key(repeat('a', 10 * 1024 * 1024))$$,
	$$VALUES (false, 'malformed')$$,
	'a 10 MB string: malformed');
SELECT results_eq(
	$$SELECT count(*) FROM unnest(ARRAY['sk-tap-valid', 'sk-tap-nowhere', 'sk-tap-blocked',
		'sk-tap-expired', 'sk-tap-blocked-expired', pg_temp.t('sk-tap-valid'), 'junk', '']) k,
		LATERAL keymgmt.verify_key(k) v GROUP BY k$$,
	$$SELECT 1::bigint FROM generate_series(1, 8)$$,
	'verify_key returns exactly one row for every input');
SELECT is((SELECT count(*) FROM keymgmt.audit_log), :'audit_rows_before_verify'::bigint,
	'verify_key writes no audit row');
SELECT results_eq(
	$$SELECT blocked, updated_at FROM keymgmt.keys WHERE token = pg_temp.t('sk-tap-valid')$$,
	$$VALUES (false, now() - interval '1 day')$$,
	'verify_key changes nothing in the key');

-- ===========================================================================
-- generate_key: the created row.
-- ===========================================================================
CREATE TEMP TABLE generated ON COMMIT DROP AS
SELECT * FROM keymgmt.generate_key(key_alias => 'tap-audit-gen', user_id => 'u-2', actor => 'carol');

SELECT results_eq(
	$$SELECT a.action, a.object_type, a.changed_by, a.db_role, a.changed_at = now(), a.before_value IS NULL,
			 a.updated_values ->> 'key_alias', a.updated_values ->> 'user_id', a.updated_values ->> 'token'
		FROM keymgmt.audit_log a JOIN generated g ON a.object_id = g.token$$,
	$$SELECT 'created', 'key', 'carol', current_user::text COLLATE "default", true, true,
			 'tap-audit-gen', 'u-2', token FROM generated$$,
	'generate_key writes one created row: the new row in updated_values, no before_value');
SELECT is((SELECT count(*) FROM keymgmt.audit_log a, generated g
			WHERE strpos(to_jsonb(a)::text, g.key) > 0),
	0::bigint, 'no audit row holds the generated raw key');
SELECT results_eq(
	$$SELECT k.created_by, k.updated_by, k.created_at = now(), k.updated_at = now()
		FROM keymgmt.keys k JOIN generated g USING (token)$$,
	$$VALUES ('carol', 'carol', true, true)$$,
	'the created key has created_by = updated_by = the actor, at now()');

SELECT * FROM finish();
ROLLBACK;

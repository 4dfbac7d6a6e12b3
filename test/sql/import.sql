-- import_key: bring in keys that exist elsewhere (LiteLLM's
-- LiteLLM_VerificationToken rows) by token with their key_name, or by raw
-- key (hashed here, never stored), audited and notified as created.
CREATE EXTENSION keymgmt;
INSERT INTO keymgmt.admins (user_id, team_id) VALUES ('root-admin', NULL), ('team-admin', 'team-i');
CREATE FUNCTION pg_temp.t(raw text) RETURNS text LANGUAGE sql
AS $$ SELECT encode(sha256(convert_to(raw, 'UTF8')), 'hex') $$;

-- by token (either case), with LiteLLM's display form
SELECT token = pg_temp.t('sk-import-test-one') AS token, key_name, key_alias, user_id, team_id,
       blocked, expires, metadata, created_by, key_id IS NOT NULL AS key_id
FROM keymgmt.import_key(upper(pg_temp.t('sk-import-test-one')), 'sk-...-one',
                        key_alias => 'imported', user_id => 'u-1', team_id => 'team-i',
                        metadata => '{"spend": 1.5}', actor => 'root-admin');
SELECT valid, status, user_id FROM keymgmt.verify_key('sk-import-test-one');
-- by raw key: the key_name is derived, the argument ignored, the raw key not kept
SELECT token = pg_temp.t('sk-import-test-two-abcd') AS token, key_name
FROM keymgmt.import_key('sk-import-test-two-abcd', 'sk-...nope');
SELECT count(*) AS rows_holding_the_raw_key FROM keymgmt.keys k
WHERE to_jsonb(k)::text LIKE '%import-test-two%';
-- blocked and expiring keys come in as they were
SELECT blocked, expires IS NOT NULL AS expires
FROM keymgmt.import_key(pg_temp.t('sk-import-test-3'), 'sk-...st-3', blocked => true,
                        expires => now() + interval '1 day');
SELECT status FROM keymgmt.verify_key('sk-import-test-3');
-- metadata null means {}, as in generate_key
SELECT metadata FROM keymgmt.import_key(pg_temp.t('sk-import-test-4'), 'sk-...t-4', metadata => NULL);

-- audited as created (the new row); notified as created (isolation spec
-- notify-on-commit and the TAP storm read the notifications)
SELECT action, object_id = pg_temp.t('sk-import-test-one') AS token, changed_by,
       updated_values->>'key_alias' AS alias, updated_values->>'metadata' AS metadata,
       before_value IS NULL AS no_before
FROM keymgmt.audit_log ORDER BY id LIMIT 1;
SELECT count(*) AS created_rows FROM keymgmt.audit_log WHERE action = 'created';
SELECT key_name FROM keymgmt.import_key(pg_temp.t('sk-import-test-5'), 'sk-...t-5');

-- conflicts are 23505: an existing token (whichever form), an alias taken,
-- a previous secret still in its grace
SELECT * FROM keymgmt.import_key(pg_temp.t('sk-import-test-one'), 'sk-...-one');
SELECT * FROM keymgmt.import_key('sk-import-test-two-abcd');
SELECT * FROM keymgmt.import_key(pg_temp.t('sk-import-test-6'), 'sk-...t-6', key_alias => 'imported');
SELECT key_id AS kid FROM keymgmt.keys WHERE token = pg_temp.t('sk-import-test-5') \gset
SELECT previous_valid_until IS NOT NULL AS in_grace FROM keymgmt.rotate_key(:'kid', '1 hour');
SELECT * FROM keymgmt.import_key(pg_temp.t('sk-import-test-5'), 'sk-...t-5');
-- after its grace, the old token may be a key again
SELECT keymgmt.end_grace(:'kid') AS ended;
SELECT key_name FROM keymgmt.import_key(pg_temp.t('sk-import-test-5'), 'sk-...t-5');

-- arguments: 22004, then 22023
SELECT * FROM keymgmt.import_key(NULL);
SELECT * FROM keymgmt.import_key(pg_temp.t('sk-import-test-7'));
SELECT * FROM keymgmt.import_key(pg_temp.t('sk-import-test-7'), NULL);
SELECT * FROM keymgmt.import_key(pg_temp.t('sk-import-test-7'), 'sk-...t-7', blocked => NULL);
SELECT * FROM keymgmt.import_key('sk-not a key', 'sk-...abcd');
SELECT * FROM keymgmt.import_key('00000000-0000-7000-8000-000000000000', 'sk-...abcd');
SELECT * FROM keymgmt.import_key(pg_temp.t('sk-import-test-7'), 'sk-...');
SELECT * FROM keymgmt.import_key(pg_temp.t('sk-import-test-7'), 'sk-...abcde');
SELECT * FROM keymgmt.import_key(pg_temp.t('sk-import-test-7'), 'sk-1234');
SELECT * FROM keymgmt.import_key(pg_temp.t('sk-import-test-7'), 'sk-...a b');
SELECT * FROM keymgmt.import_key(pg_temp.t('sk-import-test-7'), 'sk-...t-7', metadata => '[]');
SELECT * FROM keymgmt.import_key(pg_temp.t('sk-import-test-7'), 'sk-...t-7', team_id => E'a\nb');
SELECT * FROM keymgmt.import_key(pg_temp.t('sk-import-test-7'), 'sk-...t-7', actor => repeat('a', 256));

-- authority as generate_key: an actor creates only a key it could block
SELECT * FROM keymgmt.import_key(pg_temp.t('sk-import-test-7'), 'sk-...t-7', team_id => 'team-x',
                                 actor => 'team-admin');
SELECT team_id FROM keymgmt.import_key(pg_temp.t('sk-import-test-7'), 'sk-...t-7', team_id => 'team-i',
                                       actor => 'team-admin');
SELECT user_id FROM keymgmt.import_key(pg_temp.t('sk-import-test-8'), 'sk-...t-8', user_id => 'me',
                                       actor => 'me');
SELECT * FROM keymgmt.import_key(pg_temp.t('sk-import-test-9'), 'sk-...t-9', user_id => 'someone-else',
                                 actor => 'me');
SELECT count(*) AS keys FROM keymgmt.keys;

-- read-only: 25006
BEGIN READ ONLY;
SELECT * FROM keymgmt.import_key(pg_temp.t('sk-import-test-9'), 'sk-...t-9');
ROLLBACK;

-- a LiteLLM migration in one statement, with keymgmt.notify off for the load
CREATE TEMP TABLE "LiteLLM_VerificationToken" (token text, key_name text, key_alias text,
	user_id text, team_id text, organization_id text, blocked boolean, expires timestamptz,
	metadata jsonb);
INSERT INTO "LiteLLM_VerificationToken"
SELECT pg_temp.t('sk-litellm-' || i), 'sk-...' || right('000' || i, 4), 'litellm-' || i,
       'user-' || (i % 7), 'team-' || (i % 3), NULL, i % 10 = 0, NULL, '{}'
FROM generate_series(1, 1000) i;
INSERT INTO keymgmt.admins (user_id) VALUES ('migration');
SET keymgmt.notify = off;
SELECT count(*) AS imported FROM "LiteLLM_VerificationToken" v,
  LATERAL keymgmt.import_key(v.token, v.key_name, v.key_alias, v.user_id, v.team_id,
                             v.organization_id, v.blocked, v.expires, v.metadata,
                             actor => 'migration') k;
RESET keymgmt.notify;
SELECT count(*) FILTER (WHERE blocked) AS blocked, count(DISTINCT key_id) AS key_ids
FROM keymgmt.keys WHERE key_alias LIKE 'litellm-%';
SELECT status, count(*) FROM generate_series(1, 1000, 97) i,
  keymgmt.verify_key('sk-litellm-' || i) GROUP BY status ORDER BY status;

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

-- generate_key: a new key is returned once, stored only as its SHA-256,
-- audited as "created" and announced on channel keymgmt.
CREATE EXTENSION keymgmt;
-- alice is a global admin: she may create keys of any team (who may create
-- what: creation.sql)
INSERT INTO keymgmt.admins (user_id) VALUES ('alice');
\set VERBOSITY sqlstate

-- the raw key goes into a psql variable and is never printed
BEGIN;
SELECT key AS raw, token AS tok, key_name AS name
FROM keymgmt.generate_key(key_alias => 'billing', user_id => 'u-1',
                          team_id => 't-1', organization_id => 'o-1',
                          metadata => '{"tier": "gold"}', actor => 'alice')
\gset

-- shape of the raw key: sk- and 43 characters of URL-safe base64 (256 bits)
SELECT :'raw' ~ '^sk-[A-Za-z0-9_-]{43}$' AS raw_key_shape;
-- the token is the lowercase hex SHA-256 of the whole raw key
SELECT :'tok' = encode(sha256(convert_to(:'raw', 'UTF8')), 'hex') AS token_is_sha256;
-- key_name is sk-... and the last 4 characters
SELECT :'name' = 'sk-...' || right(:'raw', 4) AS key_name_form;

-- the stored row holds the token, never the raw key
SELECT key_alias, user_id, team_id, organization_id, blocked, expires,
       metadata, created_by, updated_by, created_at = now() AS created_now,
       updated_at = created_at AS updated_eq_created,
       key_name = :'name' AS name_stored
FROM keymgmt.keys WHERE token = :'tok';
COMMIT;
SELECT count(*) AS rows_holding_raw_key
FROM keymgmt.keys k WHERE to_jsonb(k)::text LIKE '%' || :'raw' || '%';

-- one audit row: created, the new row as updated_values, no before_value
SELECT object_type, action, object_id = :'tok' AS object_is_token, changed_by,
       db_role = current_user AS db_role_is_caller,
       changed_at = (updated_values ->> 'created_at')::timestamptz AS at_creation,
       before_value IS NULL AS no_before,
       updated_values ->> 'key_alias' AS alias_in_audit,
       updated_values ->> 'token' = :'tok' AS token_in_audit
FROM keymgmt.audit_log ORDER BY id;
SELECT count(*) AS audit_rows_holding_raw_key
FROM keymgmt.audit_log a WHERE to_jsonb(a)::text LIKE '%' || :'raw' || '%';

-- defaults: no alias, no owner, metadata {}; two keys never collide
SELECT count(DISTINCT token) AS distinct_tokens, count(DISTINCT key) AS distinct_keys
FROM (SELECT * FROM keymgmt.generate_key() UNION ALL
      SELECT * FROM keymgmt.generate_key()) g;
-- many keys in one statement, with an actor (the authority check runs
-- first): every raw key returned is the one whose hash was stored
SELECT count(*) AS generated,
       count(*) FILTER (WHERE g.key !~ '^sk-[A-Za-z0-9_-]{43}$') AS misshapen,
       count(*) FILTER (WHERE encode(sha256(convert_to(g.key, 'UTF8')), 'hex') <> g.token) AS wrong_hash,
       count(*) FILTER (WHERE g.key_name <> 'sk-...' || right(g.key, 4)) AS wrong_name
FROM generate_series(1, 50) i,
     LATERAL keymgmt.generate_key(key_alias => 'many-' || i, actor => 'alice') g;
DELETE FROM keymgmt.keys WHERE key_alias LIKE 'many-%';
DELETE FROM keymgmt.audit_log WHERE updated_values ->> 'key_alias' LIKE 'many-%';
SELECT count(*) AS keys_without_alias, bool_and(metadata = '{}') AS empty_metadata,
       bool_and(user_id IS NULL) AS no_owner
FROM keymgmt.keys WHERE key_alias IS NULL;
-- metadata => NULL means none, as the column default says
SELECT token AS tok2 FROM keymgmt.generate_key(metadata => NULL) \gset
SELECT metadata FROM keymgmt.keys WHERE token = :'tok2';

-- metadata is a JSON object: anything else is 22023, and nothing is written
SELECT count(*) AS keys_before FROM keymgmt.keys \gset
SELECT * FROM keymgmt.generate_key(metadata => '[1, 2]');
SELECT * FROM keymgmt.generate_key(metadata => '"gold"');
SELECT * FROM keymgmt.generate_key(metadata => 'null');
SELECT count(*) = :keys_before AS nothing_added FROM keymgmt.keys;

-- the new key verifies
SELECT valid, status, user_id, team_id, organization_id, metadata
FROM keymgmt.verify_key(:'raw');

-- a taken alias: 23505, and nothing of the failed call remains
SELECT count(*) AS keys_before FROM keymgmt.keys \gset
SELECT * FROM keymgmt.generate_key(key_alias => 'billing');
SELECT count(*) = :keys_before AS no_key_added FROM keymgmt.keys;
SELECT count(*) AS created_rows FROM keymgmt.audit_log WHERE action = 'created';

-- a rolled-back generate_key leaves no key and no audit row
BEGIN;
SELECT token AS rolled_back_tok FROM keymgmt.generate_key(key_alias => 'gone') \gset
ROLLBACK;
SELECT count(*) AS alias_gone FROM keymgmt.keys WHERE key_alias = 'gone';
SELECT count(*) AS audit_gone FROM keymgmt.audit_log WHERE object_id = :'rolled_back_tok';

-- expires is kept as given
SELECT token AS tok3 FROM keymgmt.generate_key(expires => '2030-01-01 00:00:00+00') \gset
SELECT expires = '2030-01-01 00:00:00+00' AS expires_kept FROM keymgmt.keys WHERE token = :'tok3';

-- in a read-only transaction: 25006
BEGIN READ ONLY;
SELECT * FROM keymgmt.generate_key();
ROLLBACK;

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

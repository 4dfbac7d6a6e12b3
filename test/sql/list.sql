-- list_keys: pages in key_id (creation) order, filters, status computed
-- as verify_key does, keyset pagination that survives a deleted key, and
-- the actor's scope.
CREATE EXTENSION keymgmt;
INSERT INTO keymgmt.admins (user_id, team_id, organization_id) VALUES
	('root-admin', NULL, NULL), ('team-a-admin', 'team-a', NULL), ('org-admin', NULL, 'org-1');
-- 12 keys, made one after the other: key_id order is creation order
INSERT INTO keymgmt.keys (token, key_name, key_alias, user_id, team_id, organization_id,
                          blocked, expires, created_at, updated_at, key_id)
SELECT encode(sha256(convert_to('sk-list-test-' || i, 'UTF8')), 'hex'), 'sk-...' || i,
       'k' || lpad(i::text, 2, '0'),
       CASE WHEN i % 4 = 0 THEN 'owner-4' END,
       CASE WHEN i <= 6 THEN 'team-a' ELSE 'team-b' END,
       CASE WHEN i % 2 = 0 THEN 'org-1' ELSE 'org-2' END,
       i IN (3, 8),
       CASE WHEN i IN (6, 8) THEN now() - interval '1 day' WHEN i = 9 THEN now() + interval '1 day' END,
       now(), now(),
       keymgmt.key_id_at(timestamptz '2026-01-01' + i * interval '1 second')
FROM generate_series(1, 12) i;

-- the first page, and the next one after its last key_id
SELECT key_alias FROM keymgmt.list_keys(max_rows => 5);
SELECT key_id AS last FROM keymgmt.list_keys(max_rows => 5) ORDER BY key_id DESC LIMIT 1 \gset
SELECT key_alias FROM keymgmt.list_keys(after => :'last', max_rows => 5);
-- after the last key of the previous page even when it is gone
SELECT key_alias FROM keymgmt.delete_key(:'last');
SELECT key_alias FROM keymgmt.list_keys(after => :'last', max_rows => 3);
-- the default page is 100 rows: all 11 here
SELECT count(*) FROM keymgmt.list_keys();
-- filters, all of those given at once
SELECT key_alias FROM keymgmt.list_keys(team_id => 'team-a');
SELECT key_alias FROM keymgmt.list_keys(team_id => 'team-b', organization_id => 'org-1');
SELECT key_alias FROM keymgmt.list_keys(user_id => 'owner-4');
SELECT key_alias FROM keymgmt.list_keys(user_id => 'nobody');
-- status: blocked first, then expired, else valid (expiring tomorrow is valid)
SELECT key_alias, blocked, expires < now() AS past FROM keymgmt.list_keys(status => 'blocked');
SELECT key_alias FROM keymgmt.list_keys(status => 'expired');
SELECT key_alias FROM keymgmt.list_keys(status => 'valid', team_id => 'team-b');
SELECT count(*) FILTER (WHERE l.key_id IS NOT NULL) AS listed_valid,
       count(*) FILTER (WHERE v.status = 'valid') AS verify_valid
FROM generate_series(1, 12) i
CROSS JOIN LATERAL keymgmt.verify_key('sk-list-test-' || i) v
LEFT JOIN keymgmt.list_keys(status => 'valid') l ON l.key_id = v.key_id;

-- with an actor: only keys it may manage (global, team, organization
-- admin) or owns
SELECT count(*) AS root_sees FROM keymgmt.list_keys(actor => 'root-admin');
SELECT key_alias FROM keymgmt.list_keys(actor => 'team-a-admin');
SELECT key_alias FROM keymgmt.list_keys(actor => 'org-admin', team_id => 'team-b');
SELECT key_alias FROM keymgmt.list_keys(actor => 'owner-4');
SELECT count(*) AS stranger_sees FROM keymgmt.list_keys(actor => 'stranger');
SET keymgmt.actor = 'team-a-admin';
SELECT count(*) AS setting_sees FROM keymgmt.list_keys();
RESET keymgmt.actor;

-- arguments: 22004 for max_rows null, 22023 for the rest
SELECT * FROM keymgmt.list_keys(max_rows => NULL);
SELECT * FROM keymgmt.list_keys(max_rows => 0);
SELECT * FROM keymgmt.list_keys(max_rows => 1001);
SELECT count(*) FROM keymgmt.list_keys(max_rows => 1000);
SELECT * FROM keymgmt.list_keys(status => 'revoked');
SELECT * FROM keymgmt.list_keys(status => 'Valid');
SELECT * FROM keymgmt.list_keys(status => 'not_found');
SELECT * FROM keymgmt.list_keys(team_id => repeat('t', 256));
SELECT * FROM keymgmt.list_keys(actor => E'a\tb');

-- under keymgmt.require_actor, no actor is 42501, as for a change
SET keymgmt.require_actor = on;
SELECT * FROM keymgmt.list_keys();
SELECT count(*) FROM keymgmt.list_keys(actor => 'root-admin');
RESET keymgmt.require_actor;

-- read-only: it works in a read-only transaction, and writes nothing
SELECT count(*) AS audit_rows FROM keymgmt.audit_log \gset
BEGIN READ ONLY;
SELECT count(*) FROM keymgmt.list_keys(team_id => 'team-b');
COMMIT;
SELECT count(*) - :audit_rows AS new_audit_rows FROM keymgmt.audit_log;

-- no grant to PUBLIC: a role without EXECUTE cannot list
CREATE ROLE keymgmt_test_lister;
SET ROLE keymgmt_test_lister;
SELECT * FROM keymgmt.list_keys();
RESET ROLE;
DROP ROLE keymgmt_test_lister;

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

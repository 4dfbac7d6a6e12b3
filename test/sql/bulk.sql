-- block_keys and unblock_keys: every key matching all the filters, all or
-- nothing, keys already in the wanted state untouched (20,000 keys in one
-- call: bulk_many.sql).
CREATE EXTENSION keymgmt;
INSERT INTO keymgmt.admins (user_id, team_id, organization_id) VALUES
	('root-admin', NULL, NULL), ('team-a-admin', 'team-a', NULL), ('org-admin', NULL, 'org-1');
-- made one after the other: key_id order (the order bulk changes lock in) is i's
INSERT INTO keymgmt.keys (token, key_name, key_alias, user_id, team_id, organization_id,
                          blocked, created_at, updated_at, key_id)
SELECT encode(sha256(convert_to('sk-bulk-test-' || i, 'UTF8')), 'hex'), 'sk-...' || i,
       'b' || lpad(i::text, 2, '0'),
       CASE WHEN i % 3 = 0 THEN 'owner-3' END,
       CASE WHEN i <= 6 THEN 'team-a' ELSE 'team-b' END,
       CASE WHEN i % 2 = 0 THEN 'org-1' END,
       i = 2, now(), now(),
       keymgmt.key_id_at(timestamptz '2026-01-01' + i * interval '1 second')
FROM generate_series(1, 10) i;
SELECT count(*) AS audit_rows FROM keymgmt.audit_log \gset

-- at least one filter: 22023; ids checked like every name
SELECT * FROM keymgmt.block_keys();
SELECT * FROM keymgmt.unblock_keys(actor => 'root-admin');
SELECT * FROM keymgmt.block_keys(team_id => repeat('t', 256));
SELECT * FROM keymgmt.block_keys(user_id => 'sk-' || repeat('B', 40));

-- the keys of team-a: the one already blocked is not changed or returned
SELECT key_alias, blocked, updated_by FROM keymgmt.block_keys(team_id => 'team-a', actor => 'team-a-admin')
ORDER BY key_alias;
SELECT key_alias FROM keymgmt.keys WHERE team_id = 'team-a' AND NOT blocked;
-- one audit row per changed key, with its key_id and the row before
SELECT l.action, count(*) AS keys, bool_and(l.key_id = k.key_id) AS key_ids,
       bool_and(l.before_value->>'blocked' = 'false') AS before_unblocked,
       bool_and(l.updated_values = '{"blocked": true}') AS only_blocked
FROM keymgmt.audit_log l JOIN keymgmt.keys k ON k.token = l.object_id
WHERE l.id > :audit_rows GROUP BY l.action;
-- again: nothing to change, nothing returned, nothing written
SELECT count(*) AS audit_rows FROM keymgmt.audit_log \gset
SELECT count(*) AS changed FROM keymgmt.block_keys(team_id => 'team-a');
SELECT count(*) - :audit_rows AS new_audit_rows FROM keymgmt.audit_log;

-- all filters at once
SELECT key_alias FROM keymgmt.block_keys(team_id => 'team-b', organization_id => 'org-1', user_id => 'owner-3');
-- unblock: the same, the other way
SELECT key_alias FROM keymgmt.unblock_keys(team_id => 'team-a') ORDER BY key_alias;

-- all or nothing: team-a's admin may not block org-1's keys of team-b;
-- nothing is blocked, not even team-a's
SELECT count(*) AS audit_rows FROM keymgmt.audit_log \gset
SELECT * FROM keymgmt.block_keys(organization_id => 'org-1', actor => 'team-a-admin');
SELECT count(*) FILTER (WHERE blocked) AS blocked FROM keymgmt.keys WHERE organization_id = 'org-1';
SELECT count(*) - :audit_rows AS new_audit_rows FROM keymgmt.audit_log;
-- the organization's admin may
SELECT count(*) AS blocked FROM keymgmt.block_keys(organization_id => 'org-1', actor => 'org-admin');
-- an owner may block their own keys, not unblock them
SELECT key_alias FROM keymgmt.block_keys(user_id => 'owner-3', actor => 'owner-3') ORDER BY 1;
SELECT * FROM keymgmt.unblock_keys(user_id => 'owner-3', actor => 'owner-3');
-- a stranger: 42501; a filter that matches nothing: an empty result, whoever asks
SELECT * FROM keymgmt.unblock_keys(team_id => 'team-b', actor => 'stranger');
SELECT count(*) FROM keymgmt.block_keys(team_id => 'no-such-team', actor => 'stranger');
-- under require_actor, no actor is 42501 -- also when nothing would change
SET keymgmt.require_actor = on;
SELECT * FROM keymgmt.unblock_keys(team_id => 'team-b');
SELECT * FROM keymgmt.block_keys(team_id => 'no-such-team');
SELECT * FROM keymgmt.unblock_keys(team_id => 'team-a');
SELECT count(*) FROM keymgmt.block_keys(team_id => 'no-such-team', actor => 'root-admin');
RESET keymgmt.require_actor;
-- a rolled-back bulk change leaves nothing
BEGIN;
SELECT count(*) AS unblocked FROM keymgmt.unblock_keys(team_id => 'team-b');
ROLLBACK;
SELECT count(*) FILTER (WHERE blocked) AS still_blocked FROM keymgmt.keys WHERE team_id = 'team-b';

-- 2,500 keys in one call cross two batch boundaries (the bulk changes lock,
-- check and write 1,000 keys at a time): each key once (bulk_many.sql
-- does 20,000, outside valgrind's runs)
INSERT INTO keymgmt.keys (token, key_name, team_id, created_at, updated_at)
SELECT encode(sha256(convert_to('sk-bulk-batch-' || i, 'UTF8')), 'hex'), 'sk-...' || i,
       'team-batch', now(), now()
FROM generate_series(1, 2500) i;
SELECT count(*) AS audit_rows FROM keymgmt.audit_log \gset
SELECT count(*) AS returned, count(DISTINCT token) AS distinct_keys
FROM keymgmt.block_keys(team_id => 'team-batch', actor => 'root-admin');
SELECT count(*) AS audited, count(DISTINCT key_id) AS distinct_keys FROM keymgmt.audit_log
WHERE id > :audit_rows;
SELECT count(*) AS unblocked FROM keymgmt.unblock_keys(team_id => 'team-batch');

-- read-only: 25006
BEGIN READ ONLY;
SELECT * FROM keymgmt.block_keys(team_id => 'team-a');
ROLLBACK;

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

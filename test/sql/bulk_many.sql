-- block_keys of 20,000 keys in one call: every key once, and all or nothing
-- when the refusal comes after nineteen batches were written.  (Its own
-- file: the valgrind and ASan passes leave it out, as too slow there.)
CREATE EXTENSION keymgmt;
INSERT INTO keymgmt.admins (user_id) VALUES ('root-admin');
-- 20,000 keys of one organization in one call, past a batch boundary many
-- times.  The last of them in key_id order is of another team than the
-- others, so team-big's admin is refused only after every earlier batch
-- was written: all of it is undone.
INSERT INTO keymgmt.admins (user_id, team_id) VALUES ('big-admin', 'team-big');
INSERT INTO keymgmt.keys (token, key_name, team_id, organization_id, created_at, updated_at, key_id)
SELECT encode(sha256(convert_to('sk-bulk-many-' || i, 'UTF8')), 'hex'), 'sk-...' || i,
       'team-big', 'org-big', now(), now(),
       keymgmt.key_id_at(timestamptz '2026-01-01' + i * interval '1 millisecond')
FROM generate_series(1, 20000) i;
UPDATE keymgmt.keys SET team_id = 'team-other'
WHERE key_id = (SELECT key_id FROM keymgmt.keys WHERE organization_id = 'org-big' ORDER BY key_id DESC LIMIT 1);
SELECT count(*) AS audit_rows FROM keymgmt.audit_log \gset
SELECT * FROM keymgmt.block_keys(organization_id => 'org-big', actor => 'big-admin');
SELECT count(*) - :audit_rows AS new_audit_rows,
       (SELECT count(*) FROM keymgmt.keys WHERE blocked AND organization_id = 'org-big') AS blocked
FROM keymgmt.audit_log;
-- a global admin may: every key blocked once, audited once, returned once
CREATE TEMP TABLE big AS SELECT * FROM keymgmt.block_keys(organization_id => 'org-big', actor => 'root-admin');
SELECT count(*) AS returned, count(DISTINCT token) AS distinct_keys, bool_and(blocked) AS all_blocked FROM big;
SELECT count(*) AS audited, count(DISTINCT key_id) AS distinct_keys FROM keymgmt.audit_log
WHERE id > :audit_rows AND action = 'blocked';
SELECT count(*) AS left_unblocked FROM keymgmt.keys WHERE organization_id = 'org-big' AND NOT blocked;
-- and they verify as blocked
SELECT status, count(*) FROM generate_series(1, 20000, 997) i,
  keymgmt.verify_key('sk-bulk-many-' || i) GROUP BY status;
SELECT count(*) AS unblocked FROM keymgmt.unblock_keys(organization_id => 'org-big');

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

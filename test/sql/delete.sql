-- delete_key: returns the row as it was, audits "deleted" with the whole
-- row as before_value, and the key is then gone for every function.
CREATE EXTENSION keymgmt;
-- the actors of this story are global admins (who may do what: authority.sql)
INSERT INTO keymgmt.admins (user_id) VALUES ('alice');
\set VERBOSITY sqlstate

INSERT INTO keymgmt.keys (token, key_name, key_alias, user_id, blocked, metadata, created_at, updated_at)
VALUES (encode(sha256('sk-test-delete-1'::bytea), 'hex'), 'sk-...te-1', 'doomed', 'u-1', true,
        '{"n": 1}', '2026-01-01', '2026-01-01'),
       (encode(sha256('sk-test-delete-2'::bytea), 'hex'), 'sk-...te-2', NULL, 'u-2', false,
        '{}', '2026-01-01', '2026-01-01');

-- returns the row as it was (still blocked, old updated_by)
SELECT key_name, key_alias, user_id, blocked, metadata, updated_by
FROM keymgmt.delete_key('sk-test-delete-1', actor => 'alice');

-- one audit row: deleted, before_value is the whole row, updated_values null
SELECT object_type, action, changed_by, db_role = current_user AS db_role_is_caller,
       before_value ->> 'key_alias' AS before_alias, before_value -> 'metadata' AS before_metadata,
       before_value ->> 'token' = object_id AS before_token, updated_values
FROM keymgmt.audit_log ORDER BY id;

-- gone: 42704 from every function, not_found from verify_key
SELECT count(*) AS rows_left FROM keymgmt.keys WHERE key_alias = 'doomed';
SELECT * FROM keymgmt.delete_key('sk-test-delete-1');
SELECT * FROM keymgmt.block_key('sk-test-delete-1');
SELECT * FROM keymgmt.unblock_key('sk-test-delete-1');
SELECT * FROM keymgmt.key_info('sk-test-delete-1');
SELECT valid, status FROM keymgmt.verify_key('sk-test-delete-1');
SELECT count(*) AS audit_rows FROM keymgmt.audit_log;

-- the alias is free again
SELECT count(*) AS reused FROM keymgmt.generate_key(key_alias => 'doomed');

-- delete by token; a rolled-back delete leaves the key and no audit row
BEGIN;
SELECT key_name FROM keymgmt.delete_key(encode(sha256('sk-test-delete-2'::bytea), 'hex'));
ROLLBACK;
SELECT key_name, blocked FROM keymgmt.key_info('sk-test-delete-2');
SELECT count(*) AS deleted_rows FROM keymgmt.audit_log WHERE action = 'deleted';

-- deleting twice in one transaction: the second is 42704 and aborts it all
BEGIN;
SELECT key_name FROM keymgmt.delete_key('sk-test-delete-2');
SELECT key_name FROM keymgmt.delete_key('sk-test-delete-2');
COMMIT;
SELECT key_name FROM keymgmt.key_info('sk-test-delete-2');

-- read-only transaction: 25006
BEGIN READ ONLY;
SELECT * FROM keymgmt.delete_key('sk-test-delete-2');
ROLLBACK;

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

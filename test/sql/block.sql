-- block_key / unblock_key: with the raw key or its token, a real change
-- writes one audit row with before/after values; a no-op writes nothing.
CREATE EXTENSION keymgmt;
-- the actors of this story are global admins (who may do what: authority.sql)
INSERT INTO keymgmt.admins (user_id) VALUES ('alice'), ('bob'), ('carol'), ('dave'), ('eve'), ('frank');
\set VERBOSITY sqlstate

-- keys imported as a LiteLLM table would hold them: token = sha256(raw key)
INSERT INTO keymgmt.keys (token, key_name, user_id, team_id, created_at, updated_at)
VALUES (encode(sha256('sk-test-block-1'::bytea), 'hex'), 'sk-...ck-1', 'u-1', 't-1',
        '2026-01-01', '2026-01-01'),
       (encode(sha256('sk-test-block-2'::bytea), 'hex'), 'sk-...ck-2', 'u-2', 't-1',
        '2026-01-01', '2026-01-01');
SELECT encode(sha256('sk-test-block-2'::bytea), 'hex') AS tok2 \gset

-- block with the raw key: returns the row as it now is
BEGIN;
SELECT key_name, blocked, updated_by, updated_at = now() AS updated_now,
       created_at = '2026-01-01' AS created_kept
FROM keymgmt.block_key('sk-test-block-1', actor => 'alice');
COMMIT;

-- the audit row: action, object, actor, role, before and after
SELECT object_type, action, object_id = encode(sha256('sk-test-block-1'::bytea), 'hex') AS object_is_token,
       changed_by, db_role = current_user AS db_role_is_caller,
       before_value ->> 'blocked' AS before_blocked, before_value ->> 'updated_by' AS before_updated_by,
       updated_values
FROM keymgmt.audit_log ORDER BY id;

-- blocking a blocked key changes nothing: same row, no audit row
SELECT key_name, blocked, updated_by FROM keymgmt.block_key('sk-test-block-1', actor => 'bob');
SELECT count(*) AS audit_rows FROM keymgmt.audit_log;

-- unblock with the token, in upper case: normalised to the same key
SELECT key_name, blocked, updated_by
FROM keymgmt.unblock_key(upper(encode(sha256('sk-test-block-1'::bytea), 'hex')), 'carol');
SELECT action, changed_by, before_value ->> 'blocked' AS before_blocked, updated_values
FROM keymgmt.audit_log ORDER BY id;

-- unblocking an unblocked key: no-op
SELECT blocked FROM keymgmt.unblock_key('sk-test-block-1');
SELECT count(*) AS audit_rows FROM keymgmt.audit_log;

-- named and positional notation both work; the other key is untouched
SELECT blocked FROM keymgmt.block_key(key => :'tok2', actor => 'dave');
SELECT token = :'tok2' AS is_key_2, blocked FROM keymgmt.keys ORDER BY key_name;

-- a block that rolls back leaves the key, the audit log and updated_by as they were
BEGIN;
SELECT blocked FROM keymgmt.block_key('sk-test-block-1', actor => 'eve');
ROLLBACK;
SELECT blocked, updated_by FROM keymgmt.keys WHERE key_name = 'sk-...ck-1';
SELECT count(*) FILTER (WHERE changed_by = 'eve') AS eve_rows, count(*) AS audit_rows
FROM keymgmt.audit_log;

-- ... also inside a savepoint
BEGIN;
SAVEPOINT s;
SELECT blocked FROM keymgmt.block_key('sk-test-block-1', actor => 'eve');
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT blocked FROM keymgmt.keys WHERE key_name = 'sk-...ck-1';
SELECT count(*) AS audit_rows FROM keymgmt.audit_log;

-- several changes in one transaction: each is audited, in order
BEGIN;
SELECT blocked FROM keymgmt.block_key('sk-test-block-1', 'frank');
SELECT blocked FROM keymgmt.unblock_key('sk-test-block-1', 'frank');
SELECT blocked FROM keymgmt.block_key('sk-test-block-1', 'frank');
COMMIT;
SELECT action, changed_by FROM keymgmt.audit_log WHERE changed_by = 'frank' ORDER BY id;

-- the audit trail of key 1 replays to its current state
SELECT (SELECT (updated_values ->> 'blocked')::boolean FROM keymgmt.audit_log
        WHERE object_id = k.token AND action IN ('blocked', 'unblocked')
        ORDER BY id DESC LIMIT 1) = k.blocked AS trail_matches_state
FROM keymgmt.keys k WHERE key_name = 'sk-...ck-1';

-- unknown keys: 42704, nothing written
SELECT * FROM keymgmt.block_key('sk-test-block-unknown');
SELECT * FROM keymgmt.unblock_key(repeat('ab', 32));
SELECT count(*) AS audit_rows FROM keymgmt.audit_log;

-- in a read-only transaction: 25006, even for what would be a no-op
BEGIN READ ONLY;
SELECT * FROM keymgmt.block_key('sk-test-block-1');
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM keymgmt.unblock_key('sk-test-block-unknown');
ROLLBACK;

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

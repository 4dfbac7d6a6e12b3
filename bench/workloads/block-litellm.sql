-- block/unblock, the LiteLLM pattern: the application finds the key, writes an
-- audit row, updates the key -- three separate autocommit statements per change,
-- no lock, no no-op check, no notification.  The application hashes the raw key
-- (here: the first statement does, and the token comes back to the client).
-- One pgbench transaction = one block and one unblock of the same random key = 2 changes.
\set i random(1, :nkeys)
SELECT k.token, to_jsonb(k) AS before FROM keymgmt.keys k WHERE k.token = encode(sha256(convert_to('sk-bench-' || :i, 'UTF8')), 'hex') \gset
INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id, changed_by, db_role, before_value, updated_values) VALUES ('key', now(), 'blocked', :token, session_user, session_user, :before, '{"blocked": true}');
UPDATE keymgmt.keys SET blocked = true, updated_at = now(), updated_by = session_user WHERE token = :token;
SELECT k.token, to_jsonb(k) AS before FROM keymgmt.keys k WHERE k.token = encode(sha256(convert_to('sk-bench-' || :i, 'UTF8')), 'hex') \gset
INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id, changed_by, db_role, before_value, updated_values) VALUES ('key', now(), 'unblocked', :token, session_user, session_user, :before, '{"blocked": false}');
UPDATE keymgmt.keys SET blocked = false, updated_at = now(), updated_by = session_user WHERE token = :token;

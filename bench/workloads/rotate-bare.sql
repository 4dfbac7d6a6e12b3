-- rotate, the bare statement that does the same writes: read the row, give it
-- a new token and key_name, keep the old token for a minute, write the audit
-- row -- no lock taken first (two clients rotating one key both try to keep
-- its old token: the second skips it), no checks, no earlier grace cut, no
-- notification.
\set i random(:half + 1, :nkeys)
WITH o AS (SELECT k.token, k.key_id, to_jsonb(k) AS before FROM keymgmt.keys k WHERE k.key_id = ('01800000-0000-7000-8000-' || lpad(to_hex(:i::bigint), 12, '0'))::uuid), n AS (SELECT encode(sha256(convert_to('sk-' || gen_random_uuid(), 'UTF8')), 'hex') AS token), u AS (UPDATE keymgmt.keys k SET token = n.token, key_name = 'sk-...' || left(n.token, 4), updated_at = now(), updated_by = session_user FROM o, n WHERE k.key_id = o.key_id RETURNING k.key_id, o.token AS old_token, n.token AS new_token, k.key_name, o.before), p AS (INSERT INTO keymgmt.previous_tokens (token, key_id, valid_until) SELECT u.old_token, u.key_id, now() + interval '1 minute' FROM u ON CONFLICT (token) DO NOTHING) INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id, key_id, changed_by, db_role, before_value, updated_values) SELECT 'key', now(), 'rotated', u.old_token, u.key_id, session_user, session_user, u.before, jsonb_build_object('token', u.new_token, 'key_name', u.key_name) FROM u RETURNING object_id;

-- update, the bare statement that does the same writes: the new metadata and
-- the audit row with the row before and what changed -- no lock taken first,
-- no checks, no comparison, no notification.
\set i random(:half + 1, :nkeys)
\set n random(1, 1000000000)
WITH o AS (SELECT k.token, k.key_id, to_jsonb(k) AS before FROM keymgmt.keys k WHERE k.key_id = ('01800000-0000-7000-8000-' || lpad(to_hex(:i::bigint), 12, '0'))::uuid), u AS (UPDATE keymgmt.keys k SET metadata = jsonb_build_object('rpm_limit', :n::bigint), updated_at = now(), updated_by = session_user FROM o WHERE k.key_id = o.key_id RETURNING k.token, k.key_id, k.metadata, k.updated_at, o.before) INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id, key_id, changed_by, db_role, before_value, updated_values) SELECT 'key', now(), 'updated', u.token, u.key_id, session_user, session_user, u.before, jsonb_build_object('metadata', u.metadata) FROM u RETURNING changed_at;

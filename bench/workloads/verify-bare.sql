-- verify, a bare primary-key SELECT with the SHA-256 computed in SQL (no status,
-- no format check).  :unknown percent of the keys do not exist.
\set i case when random(1, 100) <= :unknown then :nkeys + random(1, :nkeys) else random(1, :nkeys) end
SELECT k.blocked, k.user_id, k.team_id, k.organization_id, k.expires, k.metadata FROM keymgmt.keys k WHERE k.token = encode(sha256(convert_to('sk-bench-' || :i, 'UTF8')), 'hex');

-- verify, a bare primary-key SELECT with the SHA-256 computed in SQL (no
-- status, no format check), of the keys that were not rotated.
\set i random(:prev + 1, :half)
SELECT k.blocked, k.user_id, k.team_id, k.organization_id, k.expires, k.metadata, k.key_id FROM keymgmt.keys k WHERE k.token = encode(sha256(convert_to('sk-bench-' || :i, 'UTF8')), 'hex');

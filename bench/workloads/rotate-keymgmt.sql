-- rotate, keymgmt: a new secret for a key named by its key_id, the old one
-- kept for a minute (a previous secret written, earlier ones cut).
\set i random(:half + 1, :nkeys)
SELECT token FROM keymgmt.rotate_key(('01800000-0000-7000-8000-' || lpad(to_hex(:i::bigint), 12, '0')), '1 minute');

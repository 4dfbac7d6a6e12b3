-- update, keymgmt: a key's metadata, the key named by its key_id.
\set i random(:half + 1, :nkeys)
\set n random(1, 1000000000)
SELECT updated_at FROM keymgmt.update_key(('01800000-0000-7000-8000-' || lpad(to_hex(:i::bigint), 12, '0')), jsonb_build_object('metadata', jsonb_build_object('rpm_limit', :n::bigint)));

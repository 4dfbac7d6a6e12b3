-- list, the bare keyset query: the 100 keys after a random key_id, sent to the client.
\set i random(1, :nkeys - 100)
SELECT k.* FROM keymgmt.keys k WHERE k.key_id > ('01800000-0000-7000-8000-' || lpad(to_hex(:i::bigint), 12, '0'))::uuid ORDER BY k.key_id LIMIT 100;

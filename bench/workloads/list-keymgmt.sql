-- list, keymgmt: one page of 100 keys after a random key_id, sent to the client.
\set i random(1, :nkeys - 100)
SELECT * FROM keymgmt.list_keys(after => ('01800000-0000-7000-8000-' || lpad(to_hex(:i::bigint), 12, '0'))::uuid, max_rows => 100);

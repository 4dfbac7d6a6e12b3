-- rotate_key and end_grace: a new secret, the old one working for a grace
-- period capped by the key's expiry, never lengthened and shortened by
-- later rotations, gone after its grace (not_found, 42704) and ended at
-- once by end_grace.
CREATE EXTENSION keymgmt;
INSERT INTO keymgmt.admins (user_id) VALUES ('root-admin');
-- whole minutes from now: each statement is its own transaction, with its own now()
CREATE FUNCTION pg_temp.minutes(t timestamptz) RETURNS numeric LANGUAGE sql
AS $$ SELECT round(extract(epoch FROM t - now()) / 60) $$;
SELECT token AS tok, key_id AS kid
FROM keymgmt.import_key('sk-rotate-test-first-secret', user_id => 'owner', team_id => 'team-r',
                        metadata => '{"tier": "gold"}') \gset

-- rotate with an hour of grace: a new raw key, token and key_name, the same key_id
SELECT length(key) > 40 AS new_raw_key, token <> :'tok' AS new_token, key_name LIKE 'sk-...%' AS key_name,
       key_id = :'kid' AS same_key_id,
       pg_temp.minutes(previous_valid_until) = 60 AS grace_an_hour
FROM keymgmt.rotate_key(:'tok', '1 hour') \gset r_
SELECT :'r_new_raw_key', :'r_new_token', :'r_same_key_id', :'r_grace_an_hour';
SELECT token AS tok2 FROM keymgmt.keys WHERE key_id = :'kid' \gset
-- everything but the secret stays
SELECT user_id, team_id, blocked, metadata, key_id = :'kid' AS same_key_id FROM keymgmt.key_info(:'tok2');
-- the old secret is a previous secret of the key until then
SELECT token = :'tok' AS old_token, key_id = :'kid' AS of_key, pg_temp.minutes(valid_until) AS grace_minutes
FROM keymgmt.previous_tokens;
-- it verifies as its key does, with grace_until, and its own token
SELECT valid, status, token = :'tok' AS own_token, key_id = :'kid' AS key_id, user_id,
       pg_temp.minutes(grace_until) AS grace_until_minutes
FROM keymgmt.verify_key('sk-rotate-test-first-secret');
-- the audit row: rotated, object_id the old token, the new token and key_name
SELECT action, object_id = :'tok' AS old_token, key_id = :'kid' AS key_id,
       updated_values->>'token' = :'tok2' AS new_token, updated_values ? 'key_name' AS key_name,
       (SELECT array_agg(k) FROM jsonb_object_keys(updated_values) k) AS changed,
       before_value->>'token' = :'tok' AS before
FROM keymgmt.audit_log ORDER BY id DESC LIMIT 1;
-- the admin functions resolve the old secret to its key
SELECT token = :'tok2' AS the_key, key_id = :'kid' AS key_id FROM keymgmt.key_info(:'tok');
SELECT blocked, token = :'tok2' AS the_key FROM keymgmt.block_key(:'tok');
SELECT status, grace_until IS NOT NULL AS in_grace FROM keymgmt.verify_key('sk-rotate-test-first-secret');
SELECT blocked FROM keymgmt.unblock_key(:'tok2');

-- a second rotation with a longer grace does not lengthen the first's,
-- and one with a shorter grace cuts it
SELECT pg_temp.minutes(previous_valid_until) AS a_day_in_minutes
FROM keymgmt.rotate_key(:'tok2', '1 day');
SELECT token AS tok3 FROM keymgmt.keys WHERE key_id = :'kid' \gset
SELECT token = :'tok' AS first, token = :'tok2' AS second, pg_temp.minutes(valid_until) AS grace_minutes
FROM keymgmt.previous_tokens ORDER BY valid_until;
SELECT pg_temp.minutes(previous_valid_until) AS grace_minutes FROM keymgmt.rotate_key(:'tok3', '10 minutes');
SELECT token AS tok4 FROM keymgmt.keys WHERE key_id = :'kid' \gset
SELECT count(*) AS previous, max(pg_temp.minutes(valid_until)) AS longest_minutes FROM keymgmt.previous_tokens;

-- the grace never runs past the key's expiry
SELECT pg_temp.minutes(expires) AS expires_minutes FROM keymgmt.update_key(:'tok4', jsonb_build_object('expires', now() + interval '5 minutes'));
SELECT pg_temp.minutes(previous_valid_until) AS capped_minutes FROM keymgmt.rotate_key(:'tok4', '1 hour');
SELECT token AS tok5 FROM keymgmt.keys WHERE key_id = :'kid' \gset
SELECT count(*) AS previous, max(pg_temp.minutes(valid_until)) AS longest_minutes FROM keymgmt.previous_tokens;

-- end_grace ends them all now: one audit row, the count, then a no-op
SELECT count(*) AS audit_rows FROM keymgmt.audit_log \gset
SELECT keymgmt.end_grace(:'kid') AS ended;
SELECT action, key_id = :'kid' AS key_id, object_id = :'tok5' AS current_token, updated_values
FROM keymgmt.audit_log WHERE id > (SELECT max(id) - 1 FROM keymgmt.audit_log);
SELECT count(*) AS previous FROM keymgmt.previous_tokens;
SELECT status, grace_until FROM keymgmt.verify_key('sk-rotate-test-first-secret');
SELECT keymgmt.end_grace(:'kid') AS ended_again;
SELECT count(*) - :audit_rows AS new_audit_rows FROM keymgmt.audit_log;
-- after its grace an old secret is no key: 42704 for the admin functions
SELECT * FROM keymgmt.block_key(:'tok');
SELECT * FROM keymgmt.end_grace(:'tok');

-- rotate_key(k, '0'): the old secret stops at once and every earlier one too
SELECT previous_valid_until IS NULL AS none_kept FROM keymgmt.rotate_key(:'tok5', '1 hour');
SELECT token AS tok6 FROM keymgmt.keys WHERE key_id = :'kid' \gset
SELECT previous_valid_until IS NULL AS none_kept FROM keymgmt.rotate_key(:'tok6');
SELECT count(*) AS previous FROM keymgmt.previous_tokens;
SELECT token AS tok7 FROM keymgmt.keys WHERE key_id = :'kid' \gset
SELECT status FROM keymgmt.verify_key('sk-rotate-test-first-secret');

-- an expired key rotates, but keeps no previous secret
SELECT expires < now() AS expired FROM keymgmt.update_key(:'tok7', jsonb_build_object('expires', now() - interval '1 minute'));
SELECT previous_valid_until IS NULL AS none_kept FROM keymgmt.rotate_key(:'tok7', '1 day');
SELECT count(*) AS previous FROM keymgmt.previous_tokens;

-- a previous secret whose valid_until has passed is not_found even before
-- it is cleaned up
SELECT token AS tok8 FROM keymgmt.keys WHERE key_id = :'kid' \gset
SELECT expires FROM keymgmt.update_key(:'tok8', '{"expires": null}');
SELECT key AS raw8 FROM keymgmt.rotate_key(:'tok8', '1 hour') \gset
SELECT token AS tok9 FROM keymgmt.keys WHERE key_id = :'kid' \gset
SELECT previous_valid_until IS NOT NULL AS kept FROM keymgmt.rotate_key(:'tok9', '2 hours');
UPDATE keymgmt.previous_tokens SET valid_until = now() - interval '1 second';
SELECT count(*) AS lapsed_rows FROM keymgmt.previous_tokens;
SELECT status, grace_until FROM keymgmt.verify_key(:'raw8');
SELECT keymgmt.end_grace(:'kid') AS ended;

-- a grace past the last timestamp PostgreSQL has is a grace without end,
-- cut by the key's expiry as any grace is; checked before the lock
SELECT token AS tok10 FROM keymgmt.keys WHERE key_id = :'kid' \gset
SELECT previous_valid_until = 'infinity' AS endless FROM keymgmt.rotate_key(:'tok10', '300000 years');
SELECT token AS tok11 FROM keymgmt.keys WHERE key_id = :'kid' \gset
SELECT pg_temp.minutes(expires) AS expires_minutes FROM keymgmt.update_key(:'tok11', jsonb_build_object('expires', now() + interval '1 day'));
SELECT pg_temp.minutes(previous_valid_until) AS capped_minutes FROM keymgmt.rotate_key(:'tok11', '300000 years');
SELECT token AS tok12 FROM keymgmt.keys WHERE key_id = :'kid' \gset
SELECT expires FROM keymgmt.update_key(:'tok12', '{"expires": null}');
SELECT * FROM keymgmt.rotate_key(repeat('0', 64), '300000 years');
SELECT keymgmt.end_grace(:'kid') AS ended;

-- arguments: 22004, 22023, then 42704, then 42501
SELECT * FROM keymgmt.rotate_key(NULL);
SELECT * FROM keymgmt.rotate_key(:'kid', NULL);
SELECT * FROM keymgmt.rotate_key(:'kid', '-1 second');
SELECT * FROM keymgmt.rotate_key(:'kid', '1 day -25 hours');
SELECT * FROM keymgmt.rotate_key('sk-not a key');
SELECT * FROM keymgmt.rotate_key(repeat('0', 64));
SELECT * FROM keymgmt.rotate_key(repeat('0', 64), '-1 day');
SELECT * FROM keymgmt.end_grace(NULL);
SELECT * FROM keymgmt.end_grace('00000000-0000-7000-8000-000000000000');
SELECT count(*) AS audit_rows FROM keymgmt.audit_log \gset
\set VERBOSITY sqlstate
SELECT * FROM keymgmt.rotate_key(:'kid', actor => 'stranger');
SELECT * FROM keymgmt.end_grace(:'kid', actor => 'stranger');
\set VERBOSITY default
-- the owner may rotate their own key and end its grace (as for block)
SELECT key_id = :'kid' AS rotated FROM keymgmt.rotate_key(:'kid', '1 minute', actor => 'owner');
SELECT keymgmt.end_grace(:'kid', actor => 'owner') AS ended;
SELECT count(*) - :audit_rows AS new_audit_rows FROM keymgmt.audit_log;

-- deleting the key deletes its previous secrets
SELECT key_id = :'kid' AS rotated FROM keymgmt.rotate_key(:'kid', '1 hour');
SELECT count(*) AS previous FROM keymgmt.previous_tokens;
SELECT key_id = :'kid' AS deleted FROM keymgmt.delete_key(:'kid');
SELECT count(*) AS previous FROM keymgmt.previous_tokens;

-- the trail of the key across its secrets, by key_id
SELECT action, count(*) FROM keymgmt.audit_log WHERE key_id = :'kid' GROUP BY action ORDER BY action;

-- read-only: 25006
BEGIN READ ONLY;
SELECT * FROM keymgmt.rotate_key(repeat('0', 64));
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM keymgmt.end_grace(repeat('0', 64));
ROLLBACK;

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

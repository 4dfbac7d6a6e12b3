-- verify_key: the gateway's check.  Exactly one row per call; status is
-- not_found, blocked, expired (checked in that order) or valid, or
-- malformed; only a raw key is a credential; nothing is written.
CREATE EXTENSION keymgmt;
\set VERBOSITY sqlstate

INSERT INTO keymgmt.keys (token, key_name, user_id, team_id, organization_id, blocked, expires, metadata, created_at, updated_at)
VALUES (encode(sha256('sk-test-verify-ok'::bytea), 'hex'), 'sk-...y-ok', 'u-1', 't-1', 'o-1', false, NULL, '{"rpm": 60}', now(), now()),
       (encode(sha256('sk-test-verify-later'::bytea), 'hex'), 'sk-...ater', 'u-1', NULL, NULL, false, now() + interval '1 day', '{}', now(), now()),
       (encode(sha256('sk-test-verify-blocked'::bytea), 'hex'), 'sk-...cked', 'u-2', NULL, NULL, true, NULL, '{}', now(), now()),
       (encode(sha256('sk-test-verify-expired'::bytea), 'hex'), 'sk-...ired', 'u-3', NULL, NULL, false, now() - interval '1 second', '{}', now(), now()),
       (encode(sha256('sk-test-verify-both'::bytea), 'hex'), 'sk-...both', 'u-4', NULL, NULL, true, now() - interval '1 day', '{}', now(), now());

-- valid: the key's scope and metadata come back with it
SELECT valid, status, token = encode(sha256('sk-test-verify-ok'::bytea), 'hex') AS token_ok,
       user_id, team_id, organization_id, expires, metadata
FROM keymgmt.verify_key('sk-test-verify-ok');
SELECT valid, status FROM keymgmt.verify_key('sk-test-verify-later');

-- not_found: the token of what was given comes back (a negative cache key)
SELECT valid, status, token = encode(sha256('sk-test-verify-nope'::bytea), 'hex') AS token_ok,
       user_id IS NULL AND metadata IS NULL AS no_details
FROM keymgmt.verify_key('sk-test-verify-nope');

-- blocked, expired, and blocked wins over expired
SELECT valid, status, user_id FROM keymgmt.verify_key('sk-test-verify-blocked');
SELECT valid, status, user_id FROM keymgmt.verify_key('sk-test-verify-expired');
SELECT valid, status, user_id FROM keymgmt.verify_key('sk-test-verify-both');

-- a key expires at its expires timestamp (now() is the transaction's start)
BEGIN;
UPDATE keymgmt.keys SET expires = now() WHERE key_name = 'sk-...ater';
SELECT status FROM keymgmt.verify_key('sk-test-verify-later');
ROLLBACK;

-- a token is not a credential: malformed, never looked up
SELECT valid, status, token, user_id
FROM keymgmt.verify_key(encode(sha256('sk-test-verify-ok'::bytea), 'hex'));
-- junk of every kind: malformed, one row, nothing echoed
SELECT k.label, v.valid, v.status, v.token IS NULL AS no_token
FROM (VALUES ('empty', ''), ('prefix only', 'sk-'), ('space', 'sk-has space'),
             ('non-ascii', 'sk-ümlaut'), ('wrong prefix', 'pk-abc'),
             ('256 chars', 'sk-' || repeat('a', 253)), ('10 MB', repeat('a', 10 * 1024 * 1024)),
             ('newline', E'sk-abc\n'), ('backslash', 'sk-abc\0')) AS k(label, input),
     LATERAL keymgmt.verify_key(k.input) v;
-- the longest raw key, 255 characters, is well-formed
SELECT valid, status FROM keymgmt.verify_key('sk-' || repeat('a', 252));
-- NULL is not a key: 22004, as for every function
SELECT * FROM keymgmt.verify_key(NULL);

-- exactly one row per call, also over many keys in one query
SELECT count(*) AS rows, count(*) FILTER (WHERE v.valid) AS valid_rows
FROM generate_series(1, 100) i,
     LATERAL keymgmt.verify_key(CASE WHEN i % 2 = 0 THEN 'sk-test-verify-ok'
                                     ELSE 'sk-test-verify-missing-' || i END) v;

-- verify_key writes nothing: it runs in a read-only transaction and leaves
-- no audit row
BEGIN READ ONLY;
SELECT status FROM keymgmt.verify_key('sk-test-verify-ok');
COMMIT;
SELECT count(*) AS audit_rows FROM keymgmt.audit_log;

-- block and unblock are seen by the next verify
SELECT blocked FROM keymgmt.block_key('sk-test-verify-ok');
SELECT valid, status FROM keymgmt.verify_key('sk-test-verify-ok');
SELECT blocked FROM keymgmt.unblock_key('sk-test-verify-ok');
SELECT valid, status FROM keymgmt.verify_key('sk-test-verify-ok');

-- key_info reads the same key by raw key or token, without a lock or audit
SELECT key_name, user_id, blocked FROM keymgmt.key_info('sk-test-verify-blocked');
SELECT key_name FROM keymgmt.key_info(upper(encode(sha256('sk-test-verify-blocked'::bytea), 'hex')));
SELECT * FROM keymgmt.key_info('sk-test-verify-nope');
SELECT count(*) AS audit_rows FROM keymgmt.audit_log;

-- verify_key is not SECURITY DEFINER: it reads the table as its owner in C.
-- A role with EXECUTE and no privilege on the table verifies, and is itself
-- again afterwards, also after an error.
CREATE ROLE keymgmt_test_verifier;
GRANT EXECUTE ON FUNCTION keymgmt.verify_key(text) TO keymgmt_test_verifier;
SET ROLE keymgmt_test_verifier;
SELECT count(*) FROM keymgmt.keys;
SELECT current_user, v.valid, v.status, v.user_id
FROM keymgmt.verify_key('sk-test-verify-ok') v;
SELECT valid, status FROM keymgmt.verify_key(NULL);
SELECT current_user;
RESET ROLE;

-- verify_key keeps keymgmt.keys' OID between calls and looks it up again
-- when the table changes: renamed away it is missing (42P01), renamed back
-- it is found
ALTER TABLE keymgmt.keys RENAME TO keys_renamed;
SELECT valid, status FROM keymgmt.verify_key('sk-test-verify-ok');
ALTER TABLE keymgmt.keys_renamed RENAME TO keys;
SELECT valid, status FROM keymgmt.verify_key('sk-test-verify-ok');

-- and a new extension in the same session is a new table
DROP EXTENSION keymgmt;
CREATE EXTENSION keymgmt;
INSERT INTO keymgmt.keys (token, key_name)
VALUES (encode(sha256('sk-test-verify-new'::bytea), 'hex'), 'sk-...-new');
SELECT valid, status FROM keymgmt.verify_key('sk-test-verify-new');
SELECT valid, status FROM keymgmt.verify_key('sk-test-verify-ok');
REVOKE ALL ON FUNCTION keymgmt.verify_key(text) FROM keymgmt_test_verifier;
DROP ROLE keymgmt_test_verifier;

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

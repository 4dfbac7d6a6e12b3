-- The three forms of a key argument of the admin functions (raw key,
-- token, key_id) name the same key; verify_key takes only the raw key.
CREATE EXTENSION keymgmt;
INSERT INTO keymgmt.keys (token, key_name, key_alias, created_at, updated_at, key_id)
VALUES (encode(sha256('sk-forms-test-key'::bytea), 'hex'), 'sk-...-key', 'forms', now(), now(),
        '01a233f0-1234-7abc-8def-0123456789ab');

-- each form finds the key: key_info, block_key, unblock_key, update_key
SELECT key_alias FROM keymgmt.key_info('sk-forms-test-key');
SELECT key_alias FROM keymgmt.key_info(encode(sha256('sk-forms-test-key'::bytea), 'hex'));
SELECT key_alias FROM keymgmt.key_info(upper(encode(sha256('sk-forms-test-key'::bytea), 'hex')));
SELECT key_alias FROM keymgmt.key_info('01a233f0-1234-7abc-8def-0123456789ab');
SELECT key_alias FROM keymgmt.key_info('01A233F0-1234-7ABC-8DEF-0123456789AB');
SELECT blocked FROM keymgmt.block_key('01a233f0-1234-7abc-8def-0123456789ab');
SELECT blocked FROM keymgmt.unblock_key('01A233F0-1234-7ABC-8DEF-0123456789AB');
SELECT metadata FROM keymgmt.update_key('01a233f0-1234-7abc-8def-0123456789ab', '{"metadata": {"via": "key_id"}}');
-- the audit rows name the key by its token and its key_id, whatever form was given
SELECT action, object_id = encode(sha256('sk-forms-test-key'::bytea), 'hex') AS token, key_id
FROM keymgmt.audit_log ORDER BY id;
-- a key_id that names no key: 42704, shown as given (it is not a secret)
SELECT * FROM keymgmt.block_key('01a233f0-1234-7abc-8def-000000000000');
SELECT * FROM keymgmt.delete_key('01a233f0-1234-7abc-8def-000000000000');
-- only the canonical text form: no braces, no missing hyphens, no other length
SELECT * FROM keymgmt.key_info('{01a233f0-1234-7abc-8def-0123456789ab}');
SELECT * FROM keymgmt.key_info('01a233f012347abc8def0123456789ab');
SELECT * FROM keymgmt.key_info('01a233f0-1234-7abc-8def-0123456789a');
SELECT * FROM keymgmt.key_info('01a233f0-1234-7abc-8def-0123456789ag');
SELECT * FROM keymgmt.key_info('01a233f0+1234-7abc-8def-0123456789ab');
-- verify_key: only a raw key is a credential; a token or a key_id is malformed
SELECT valid, status, token IS NULL AS no_token, key_id IS NULL AS no_key_id
FROM keymgmt.verify_key('01a233f0-1234-7abc-8def-0123456789ab');
SELECT status FROM keymgmt.verify_key(encode(sha256('sk-forms-test-key'::bytea), 'hex'));
SELECT status, key_id FROM keymgmt.verify_key('sk-forms-test-key');
-- delete by key_id
SELECT key_alias FROM keymgmt.delete_key('01a233f0-1234-7abc-8def-0123456789ab');
SELECT status FROM keymgmt.verify_key('sk-forms-test-key');

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

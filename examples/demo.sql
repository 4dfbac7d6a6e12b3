-- keymgmt in five minutes (run by examples/demo.sh)
\pset footer off
\echo '== CREATE EXTENSION keymgmt'
CREATE EXTENSION keymgmt;

\echo
\echo '== a cache listens for invalidations on channel keymgmt'
LISTEN keymgmt;

\echo
\echo '== who may manage keys: a global admin, and an admin of team-a'
SELECT keymgmt.grant_admin('admin@example.com') AS granted,
       keymgmt.grant_admin('lead@example.com', team_id => 'team-a') AS granted;

\echo
\echo '== generate a key: the raw key is returned this once and never stored'
SELECT key, token, key_name
FROM keymgmt.generate_key(key_alias => 'demo', user_id => 'user-1', team_id => 'team-a',
                          metadata => '{"rpm": 600}', actor => 'admin@example.com') \gset
\echo 'key name:' :key_name
\echo 'token   :' :token
SELECT valid, status, user_id, team_id, metadata FROM keymgmt.verify_key(:'key');

\echo
\echo '== block it (with its raw key or its token); the notification arrives at commit'
SELECT key_name, blocked, updated_by FROM keymgmt.block_key(:'key', actor => 'admin@example.com');
SELECT valid, status FROM keymgmt.verify_key(:'key');

\echo
\echo '== blocking again is a no-op: same row, no audit row, no notification'
SELECT key_name, blocked FROM keymgmt.block_key(:'token');

\echo
\echo '== an unknown key is 42704 (HTTP 404), never a success with no row'
\set VERBOSITY default
\set SHOW_CONTEXT never
\set ON_ERROR_STOP 0
SELECT * FROM keymgmt.block_key('sk-no-such-key-anywhere');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE
\echo
\echo '== a malformed key is 22023 (HTTP 400) and is not echoed back'
SELECT * FROM keymgmt.block_key('Bearer something-that-is-not-a-key');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE

\echo
\echo '== an actor without rights on the key is 42501 (HTTP 403), whoever it is'
SELECT * FROM keymgmt.unblock_key(:'key', actor => 'intern@example.com');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE

\echo
\echo '== a gateway names the actor once per transaction: the team admin may unblock'
BEGIN;
SET LOCAL keymgmt.actor = 'lead@example.com';
SELECT key_name, blocked, updated_by FROM keymgmt.unblock_key(:'key');
COMMIT;
SELECT valid, status FROM keymgmt.verify_key(:'key');

\echo
\echo '== the audit log: one row per real change, written in the same transaction'
SELECT id, object_type, action,
       CASE object_type WHEN 'key' THEN left(object_id, 12) || '...' ELSE object_id END AS object,
       changed_by, db_role,
       before_value ->> 'blocked' AS was_blocked, updated_values ->> 'blocked' AS now_blocked
FROM keymgmt.audit_log ORDER BY id;

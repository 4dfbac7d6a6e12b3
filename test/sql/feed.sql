-- The change feed: keymgmt.changes() after a cursor, keymgmt.current_cursor(),
-- the cursor's form and its errors, and keymgmt.notify's three modes.
CREATE EXTENSION keymgmt;
INSERT INTO keymgmt.admins (user_id) VALUES ('ops');
INSERT INTO keymgmt.keys (token, key_name, user_id, team_id, created_at, updated_at)
SELECT encode(sha256(convert_to('sk-feed-test-' || i, 'UTF8')), 'hex'), 'sk-...' || i,
       'user-' || i, 'team-f', now(), now()
FROM generate_series(1, 5) i;

-- a cache that starts empty takes current_cursor(): nothing is after it yet
SELECT keymgmt.current_cursor() AS start \gset
SELECT :'start' ~ '^[0-9]+:[0-9]+:[0-9]+:0$' AS cursor_form,
       split_part(:'start', ':', 1) = (SELECT system_identifier::text FROM pg_control_system()) AS names_cluster,
       split_part(:'start', ':', 2) = (SELECT oid::text FROM pg_database WHERE datname = current_database()) AS names_database;
SELECT count(*) FROM keymgmt.changes(:'start');

-- changes, each in its own transaction, come back in commit order with
-- the key_id and the token the key had; admin rows are in the feed too
SELECT blocked FROM keymgmt.block_key('sk-feed-test-1');
SELECT blocked FROM keymgmt.unblock_key('sk-feed-test-1');
SELECT keymgmt.grant_admin('team-lead', team_id => 'team-f');
SELECT count(*) FROM keymgmt.block_keys(team_id => 'team-f');
SELECT c.action, c.object_type, k.user_id,
       c.object_id = a.object_id AND c.key_id IS NOT DISTINCT FROM a.key_id
         AND c.changed_at = a.changed_at AS is_the_audit_row
FROM keymgmt.changes(:'start') c
JOIN keymgmt.audit_log a ON a.id = c.id
LEFT JOIN keymgmt.keys k ON k.key_id = c.key_id
ORDER BY c.id;

-- each row's cursor stands just after it: paging one row at a time from
-- the start visits every row once, and after the last there is nothing
WITH RECURSIVE page(n, cursor, id) AS (
	SELECT 0, :'start'::text, NULL::bigint
	UNION ALL
	SELECT p.n + 1, c.cursor, c.id
	FROM page p, LATERAL keymgmt.changes(p.cursor, 1) c
)
SELECT count(*) FILTER (WHERE n > 0) AS pages,
       count(DISTINCT id) AS distinct_rows,
       (SELECT count(*) FROM keymgmt.audit_log) AS audit_rows
FROM page;
SELECT cursor AS last FROM keymgmt.changes(:'start') ORDER BY id DESC LIMIT 1 \gset
SELECT count(*) FROM keymgmt.changes(:'last');
-- max_rows: the first rows only, in feed order
SELECT action FROM keymgmt.changes(:'start', max_rows => 2);
-- a no-op changes nothing, so the feed has nothing new
SELECT blocked FROM keymgmt.block_key('sk-feed-test-2');
SELECT count(*) FROM keymgmt.changes(:'last');
-- a change rolled back never appears
BEGIN;
SELECT blocked FROM keymgmt.unblock_key('sk-feed-test-2');
ROLLBACK;
SELECT count(*) FROM keymgmt.changes(:'last');

-- errors: 22004 for NULL, 22023 for a malformed cursor (never repeated),
-- for another cluster and another database, and for max_rows out of range
\set VERBOSITY sqlstate
SELECT * FROM keymgmt.changes(NULL);
SELECT * FROM keymgmt.changes(:'start', NULL);
SELECT * FROM keymgmt.changes('');
SELECT * FROM keymgmt.changes('not a cursor');
SELECT * FROM keymgmt.changes(:'start' || ':1');
SELECT * FROM keymgmt.changes(replace(:'start', ':0', ':-1'));
SELECT * FROM keymgmt.changes(replace(:'start', ':0', ':99999999999999999999'));
SELECT * FROM keymgmt.changes(' ' || :'start');
SELECT * FROM keymgmt.changes(repeat('9', 100000));
SELECT * FROM keymgmt.changes('1:' || split_part(:'start', ':', 2) || ':1:0');
SELECT * FROM keymgmt.changes(split_part(:'start', ':', 1) || ':1:1:0');
SELECT * FROM keymgmt.changes(:'start', 0);
SELECT * FROM keymgmt.changes(:'start', 1001);
-- in a transaction that has changed data: refused (25000)
BEGIN;
SELECT blocked FROM keymgmt.unblock_key('sk-feed-test-2');
SELECT * FROM keymgmt.changes(:'start');
ROLLBACK;
\set VERBOSITY default
SELECT * FROM keymgmt.changes('not a cursor');
SELECT * FROM keymgmt.changes('1:' || split_part(:'start', ':', 2) || ':1:0');
SELECT * FROM keymgmt.changes(split_part(:'start', ':', 1) || ':1:1:0');
BEGIN;
SELECT blocked FROM keymgmt.unblock_key('sk-feed-test-2');
SELECT * FROM keymgmt.changes(:'start');
ROLLBACK;
-- reading first, then changing, is fine
BEGIN;
SELECT count(*) FROM keymgmt.changes(:'last');
SELECT blocked FROM keymgmt.unblock_key('sk-feed-test-2');
COMMIT;
SELECT action FROM keymgmt.changes(:'last');

-- keymgmt.notify: commit (the default; on and the other boolean spellings
-- are commit, false is off), batched, off; superuser-only
SHOW keymgmt.notify;
SET keymgmt.notify = on;
SHOW keymgmt.notify;
SET keymgmt.notify = false;
SHOW keymgmt.notify;
SET keymgmt.notify = batched;
SHOW keymgmt.notify;
\set VERBOSITY sqlstate
SET keymgmt.notify = sometimes;
\set VERBOSITY default
SELECT name, setting, context, enumvals FROM pg_settings WHERE name LIKE 'keymgmt.%' ORDER BY name;

-- batched and off: the changing transaction notifies nothing (a listener
-- in this session would print what it got after each statement: the
-- isolation spec notify-on-commit shows it does in commit mode); the feed
-- still has the changes.
LISTEN keymgmt;
SELECT keymgmt.current_cursor() AS before_modes \gset
SET keymgmt.notify = batched;
SELECT blocked FROM keymgmt.block_key('sk-feed-test-2');
SET keymgmt.notify = off;
SELECT blocked FROM keymgmt.unblock_key('sk-feed-test-2');
RESET keymgmt.notify;
UNLISTEN *;
SELECT action, k.user_id FROM keymgmt.changes(:'before_modes') c JOIN keymgmt.keys k USING (key_id) ORDER BY c.id;

-- only a superuser sets keymgmt.notify; a role that may read the feed
-- needs only EXECUTE on changes() and current_cursor()
CREATE ROLE feed_reader;
GRANT USAGE ON SCHEMA keymgmt TO feed_reader;
GRANT EXECUTE ON FUNCTION keymgmt.changes(text, integer), keymgmt.current_cursor() TO feed_reader;
SET ROLE feed_reader;
\set VERBOSITY sqlstate
SET keymgmt.notify = off;
SELECT count(*) FROM keymgmt.audit_log;
\set VERBOSITY default
SELECT count(*) > 0 AS reads_the_feed FROM keymgmt.changes(:'start');
SELECT keymgmt.current_cursor() = keymgmt.current_cursor() AS stable;
RESET ROLE;
DROP OWNED BY feed_reader;
DROP ROLE feed_reader;
DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

-- The change feed's signatures and the SQLSTATEs the SPEC lists for it.
-- The rows it returns are in test/sql/feed.sql and the isolation specs
-- feed-*: this file runs in one transaction that has written (pgTAP's own
-- tables), which is exactly where changes() must refuse to read.

BEGIN;
SELECT plan(16);

SELECT has_function('keymgmt', 'changes', ARRAY['text', 'integer'], 'changes(after, max_rows) exists');
SELECT has_function('keymgmt', 'current_cursor', ARRAY[]::text[], 'current_cursor() exists');
SELECT function_returns('keymgmt', 'current_cursor', ARRAY[]::text[], 'text', 'current_cursor returns text');
SELECT function_returns('keymgmt', 'changes', ARRAY['text', 'integer'], 'setof record', 'changes returns a table');
SELECT is(
	(SELECT pg_get_function_arguments('keymgmt.changes(text, integer)'::regprocedure)),
	'after text, max_rows integer DEFAULT 1000', 'changes takes after and max_rows, 1000 by default');
SELECT is(
	(SELECT pg_get_function_result('keymgmt.changes(text, integer)'::regprocedure)),
	'TABLE(cursor text, id bigint, object_type text, action text, object_id text, key_id uuid, changed_at timestamp with time zone)',
	'changes returns the SPEC''s columns');
SELECT volatility_is('keymgmt', 'changes', ARRAY['text', 'integer'], 'stable', 'changes is STABLE: it only reads');
SELECT matches(keymgmt.current_cursor(), '^[0-9]+:[0-9]+:[0-9]+:0$', 'a cursor names cluster, database and position');

SELECT throws_ok($$SELECT * FROM keymgmt.changes(NULL)$$, '22004', NULL, 'changes(NULL) is 22004');
SELECT throws_ok($$SELECT * FROM keymgmt.changes(keymgmt.current_cursor(), NULL)$$, '22004', NULL,
	'max_rows NULL is 22004');
SELECT throws_ok($$SELECT * FROM keymgmt.changes('x')$$, '22023', 'cursor is malformed', 'a malformed cursor is 22023');
SELECT throws_ok($$SELECT * FROM keymgmt.changes('1:1:1:1')$$, '22023', 'cursor is from another cluster',
	'a cursor of another cluster is 22023');
SELECT throws_ok(
	format($$SELECT * FROM keymgmt.changes('%s:%s:1:1')$$,
		   (SELECT system_identifier FROM pg_control_system()),
		   (SELECT oid::int8 + 1 FROM pg_database WHERE datname = current_database())),
	'22023', 'cursor is from another database', 'a cursor of another database is 22023');
SELECT throws_ok($$SELECT * FROM keymgmt.changes(keymgmt.current_cursor(), 0)$$, '22023', NULL, 'max_rows 0 is 22023');
SELECT throws_ok($$SELECT * FROM keymgmt.changes(keymgmt.current_cursor(), 1001)$$, '22023', NULL, 'max_rows 1001 is 22023');
SELECT throws_ok($$SELECT * FROM keymgmt.changes(keymgmt.current_cursor())$$, '25000', NULL,
	'changes in a transaction that has changed data is 25000');

SELECT * FROM finish();
ROLLBACK;

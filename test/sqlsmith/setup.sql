-- The database sqlsmith fuzzes: keymgmt with keys, admins and audit rows,
-- a table of hostile key arguments, and a role that may call every keymgmt
-- function and read its tables but do nothing else of note.  Run by
-- test/sqlsmith/run.sh as a superuser, with psql variables smith_role,
-- smith_password and focus (on or off).  Synthetic keys only, in a database
-- of its own.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE EXTENSION keymgmt;
-- every call counted in pg_stat_user_functions, for the report
ALTER DATABASE :"DBNAME" SET track_functions = 'all';

SELECT keymgmt.grant_admin('alice'),
       keymgmt.grant_admin('bob', team_id => 'team-a'),
       keymgmt.grant_admin('carol', organization_id => 'org-1');

CREATE SCHEMA smith;

-- what sqlsmith passes as a key, besides the columns of keymgmt's tables:
-- keys that exist (some blocked, expired or deleted), their tokens in both
-- cases, and near misses of every kind
CREATE TABLE smith.key_inputs (label text NOT NULL, input text);

INSERT INTO smith.key_inputs
SELECT 'raw ' || i, g.key
FROM generate_series(1, 24) AS i,
	 LATERAL keymgmt.generate_key(
		key_alias => CASE WHEN i % 3 = 0 THEN NULL ELSE 'alias-' || i END,
		user_id => 'user-' || (i % 5),
		team_id => CASE WHEN i % 2 = 0 THEN 'team-' || chr(97 + i % 3) END,
		organization_id => CASE WHEN i % 2 = 1 THEN 'org-' || (i % 3) END,
		expires => CASE i % 4 WHEN 0 THEN now() - interval '1 day'
							  WHEN 1 THEN now() + interval '1 day' END,
		metadata => jsonb_build_object('i', i, 'tags', jsonb_build_array('a', i)),
		actor => 'alice') AS g;

SELECT count(keymgmt.block_key(input, actor => 'alice'))
FROM smith.key_inputs WHERE label IN ('raw 2', 'raw 5', 'raw 6', 'raw 7', 'raw 11');
-- bob is admin of team-a, the team of raw 6; carol of org-1, raw 13's
SELECT count(keymgmt.unblock_key(input, actor => 'bob'))
FROM smith.key_inputs WHERE label = 'raw 6';
SELECT count(keymgmt.delete_key(input, actor => 'carol'))
FROM smith.key_inputs WHERE label = 'raw 13';
SELECT count(keymgmt.delete_key(input))
FROM smith.key_inputs WHERE label = 'raw 17';
-- admin rows in the audit log too
SELECT keymgmt.revoke_admin('carol', organization_id => 'org-1'),
       keymgmt.grant_admin('dave', team_id => 'team-b');

INSERT INTO smith.key_inputs
SELECT 'token ' || label, encode(sha256(convert_to(input, 'UTF8')), 'hex')
FROM smith.key_inputs WHERE label LIKE 'raw %';
INSERT INTO smith.key_inputs
SELECT 'TOKEN ' || label, upper(encode(sha256(convert_to(input, 'UTF8')), 'hex'))
FROM smith.key_inputs WHERE label LIKE 'raw %' AND label <= 'raw 3';
INSERT INTO smith.key_inputs VALUES
	('null', NULL),
	('empty', ''),
	('prefix only', 'sk-'),
	('shortest', 'sk-a'),
	('short', 'sk-abc1234'),
	('longest', 'sk-' || repeat('Ab_-9', 50) || 'xy'),
	('too long', 'sk-' || repeat('Ab_-9', 50) || 'xyz'),
	('4 kB', 'sk-' || repeat('a', 4096)),
	('1 MB', repeat('f', 1024 * 1024)),
	('63 hex', repeat('ab', 31) || 'c'),
	('65 hex', repeat('ab', 32) || 'c'),
	('64 non-hex', repeat('ag', 32)),
	('wrong prefix', 'pk-abcdefgh'),
	('upper prefix', 'SK-abcdefgh'),
	('space', 'sk-has space'),
	('newline', E'sk-abcdefgh\n'),
	('non-ascii', 'sk-ümlaut-ключ-鍵'),
	('percent', 'sk-%s%n%x%d'),
	('quote', 'sk-''; DROP TABLE keymgmt.keys; --'),
	('backslash', E'sk-abc\\def');

-- the actors and scopes sqlsmith may name
CREATE TABLE smith.actors (actor text);
INSERT INTO smith.actors VALUES
	(NULL), (''), ('alice'), ('bob'), ('carol'), ('dave'), ('user-1'), ('nobody'),
	(repeat('x', 10000)), ('team-a'), ('org-1');

-- sqlsmith never calls a set-returning function, and generate_key and
-- verify_key return TABLE(...); it rarely asks for a keymgmt.keys value;
-- and most arguments it makes up are NULL.  So it also gets text-returning
-- wrappers of keymgmt's functions (text is what it asks for most), which
-- replace a NULL key or actor with a random one of the inputs above.
CREATE FUNCTION smith.any_input() RETURNS text
LANGUAGE sql VOLATILE
AS $$ SELECT input FROM smith.key_inputs ORDER BY random() LIMIT 1 $$;
CREATE FUNCTION smith.any_actor() RETURNS text
LANGUAGE sql VOLATILE
AS $$ SELECT actor FROM smith.actors ORDER BY random() LIMIT 1 $$;

CREATE FUNCTION smith.verify_key_status(key text) RETURNS text
LANGUAGE sql VOLATILE
AS $$ SELECT status FROM keymgmt.verify_key(coalesce(key, smith.any_input())) $$;
CREATE FUNCTION smith.verify_key_row(key text) RETURNS text
LANGUAGE sql VOLATILE
AS $$ SELECT v::text FROM keymgmt.verify_key(coalesce(key, smith.any_input())) AS v $$;
CREATE FUNCTION smith.key_info_name(key text) RETURNS text
LANGUAGE sql VOLATILE
AS $$ SELECT (keymgmt.key_info(coalesce(key, smith.any_input()))).key_name $$;
CREATE FUNCTION smith.block_key_name(key text, actor text) RETURNS text
LANGUAGE sql VOLATILE
AS $$ SELECT (keymgmt.block_key(coalesce(key, smith.any_input()),
							   coalesce(actor, smith.any_actor()))).key_name $$;
CREATE FUNCTION smith.unblock_key_name(key text, actor text) RETURNS text
LANGUAGE sql VOLATILE
AS $$ SELECT (keymgmt.unblock_key(coalesce(key, smith.any_input()),
								 coalesce(actor, smith.any_actor()))).key_name $$;
CREATE FUNCTION smith.delete_key_name(key text, actor text) RETURNS text
LANGUAGE sql VOLATILE
AS $$ SELECT (keymgmt.delete_key(coalesce(key, smith.any_input()),
								coalesce(actor, smith.any_actor()))).key_name $$;
CREATE FUNCTION smith.generate_key_token(key_alias text, user_id text, team_id text,
										 organization_id text, expires timestamptz,
										 metadata jsonb, actor text) RETURNS text
LANGUAGE sql VOLATILE
AS $$ SELECT token FROM keymgmt.generate_key(key_alias, user_id, team_id,
		organization_id, expires, coalesce(metadata, '{}'),
		coalesce(actor, smith.any_actor())) $$;
CREATE FUNCTION smith.grant_admin_any(user_id text, team_id text,
									  organization_id text) RETURNS boolean
LANGUAGE sql VOLATILE
AS $$ SELECT keymgmt.grant_admin(coalesce(user_id, smith.any_actor()), team_id,
								 organization_id) $$;
CREATE FUNCTION smith.revoke_admin_any(user_id text, team_id text,
									   organization_id text) RETURNS boolean
LANGUAGE sql VOLATILE
AS $$ SELECT keymgmt.revoke_admin(coalesce(user_id, smith.any_actor()), team_id,
								  organization_id) $$;

-- the role sqlsmith connects as: no superuser, no membership in any
-- predefined role, only what keymgmt's administrator would grant
CREATE ROLE :"smith_role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
	PASSWORD :'smith_password';
GRANT CONNECT ON DATABASE :"DBNAME" TO :"smith_role";
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA keymgmt TO :"smith_role";
GRANT SELECT ON ALL TABLES IN SCHEMA keymgmt TO :"smith_role";
GRANT USAGE ON SCHEMA smith TO :"smith_role";
GRANT SELECT ON ALL TABLES IN SCHEMA smith TO :"smith_role";
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA smith TO :"smith_role";
-- nothing may hang, and the role cannot end its own session (which would
-- look like a crash to sqlsmith) or lift its statement_timeout
ALTER ROLE :"smith_role" SET statement_timeout = '5s';
ALTER ROLE :"smith_role" SET lock_timeout = '2s';
ALTER ROLE :"smith_role" SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE :"smith_role" SET temp_file_limit = '256MB';
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_terminate_backend(integer, bigint),
	pg_catalog.pg_cancel_backend(integer),
	pg_catalog.set_config(text, text, boolean)
FROM PUBLIC;

-- Focus (psql variable focus, on by default in run.sh): sqlsmith picks
-- each function it calls among all it finds in pg_proc, some 3000, where
-- keymgmt's are lost.  It reads pg_proc unqualified, so a view of that name
-- earlier in the role's search_path than pg_catalog shows it keymgmt's and
-- smith's functions, some string functions that make odd keys, and one in
-- 64 of the other built-in functions, none polymorphic.  Only sqlsmith's
-- own catalog queries see the view: the queries it generates name every
-- function and table with its schema.
\if :focus
CREATE SCHEMA smith_focus;
CREATE VIEW smith_focus.pg_proc AS
SELECT p.*
FROM pg_catalog.pg_proc AS p
WHERE p.pronamespace IN ('keymgmt'::regnamespace, 'smith'::regnamespace)
   OR (p.pronamespace = 'pg_catalog'::regnamespace
	   AND (p.proname IN ('repeat', 'upper', 'lower', 'substr', 'replace',
						  'lpad', 'rpad', 'chr', 'md5', 'sha256', 'encode',
						  'convert_to', 'to_hex', 'quote_literal', 'btrim',
						  'textcat', 'overlay', 'translate', 'initcap')
			OR p.oid::int8 % 64 = 0)
	   AND (SELECT t.typtype FROM pg_catalog.pg_type AS t
			WHERE t.oid = p.prorettype) <> 'p'
	   AND NOT EXISTS (SELECT FROM pg_catalog.unnest(p.proargtypes::oid[]) AS a(oid)
					   JOIN pg_catalog.pg_type AS t ON t.oid = a.oid
					   WHERE t.typtype = 'p'));
GRANT USAGE ON SCHEMA smith_focus TO :"smith_role";
GRANT SELECT ON smith_focus.pg_proc TO :"smith_role";
ALTER ROLE :"smith_role" IN DATABASE :"DBNAME"
	SET search_path = smith_focus, pg_catalog, public;
\endif

-- the counts start here
SELECT pg_stat_reset();

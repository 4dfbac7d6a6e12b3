-- No raw key ever reaches a message: not in errors, details, hints or
-- context, whatever went wrong; and a token shows at most 12 hex digits.
CREATE EXTENSION keymgmt;
\set VERBOSITY sqlstate

-- every field of the error a call raises, as one string; the key is passed
-- as a parameter so that only the extension could put it in the text
CREATE FUNCTION pg_temp.error_text(fn text, arg text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	msg text; detail text; hint text; ctx text; state text;
BEGIN
	EXECUTE format('SELECT keymgmt.%I($1)', fn) USING arg;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
		hint = PG_EXCEPTION_HINT, ctx = PG_EXCEPTION_CONTEXT, state = RETURNED_SQLSTATE;
	RETURN concat_ws(' | ', state, msg, detail, hint, ctx);
END $$;

-- real keys, generated here and never printed; the second one is deleted
SELECT key AS raw, token AS tok FROM keymgmt.generate_key() \gset
SELECT key AS raw2, token AS tok2 FROM keymgmt.generate_key() \gset
SELECT key_name IS NOT NULL AS deleted FROM keymgmt.delete_key(:'raw2');

-- calls that fail with those keys, their tokens, or damaged forms of them
CREATE TEMP TABLE failures AS
SELECT label, pg_temp.error_text(fn, arg) AS err, raw, tok
FROM (VALUES
	('damaged raw key', 'block_key', :'raw' || '!', :'raw', :'tok'),
	('raw key too long', 'block_key', :'raw' || repeat('x', 250), :'raw', :'tok'),
	('raw key in junk', 'unblock_key', 'Bearer ' || :'raw', :'raw', :'tok'),
	('token with junk', 'delete_key', :'tok' || 'z', :'raw', :'tok'),
	('token damaged', 'key_info', 'x' || substr(:'tok', 2), :'raw', :'tok'),
	('deleted raw key', 'delete_key', :'raw2', :'raw2', :'tok2'),
	('deleted raw key, block', 'block_key', :'raw2', :'raw2', :'tok2'),
	('deleted token', 'unblock_key', :'tok2', :'raw2', :'tok2'),
	('deleted token, info', 'key_info', upper(:'tok2'), :'raw2', :'tok2'),
	-- so short that its key_name form would show all of it: not shown at all
	('short unknown raw key', 'block_key', 'sk-x7q', 'sk-x7q', encode(sha256('sk-x7q'::bytea), 'hex'))
) AS c(label, fn, arg, raw, tok);

-- each failed with its own code, and no message holds the raw key, the key
-- after its prefix, or more than 12 characters of the token
SELECT label, split_part(err, ' | ', 1) AS sqlstate,
       strpos(err, substr(raw, 4)) = 0 AS no_raw_key,
       NOT EXISTS (SELECT FROM generate_series(1, 52) i
                   WHERE strpos(lower(err), substr(tok, i, 13)) > 0) AS token_cut
FROM failures ORDER BY label;

-- what the messages do say: the display form only (its random last four
-- characters replaced here), or the token's first 12 digits
SELECT label, replace(replace(array_to_string((string_to_array(err, ' | '))[1:3], ' | '),
                             right(raw, 4), 'XXXX'), substr(tok, 1, 12), '<12 digits>') AS err
FROM failures WHERE label LIKE 'deleted%' ORDER BY label;

-- neither table holds the raw key anywhere
SELECT count(*) AS rows_with_raw_key FROM (
	SELECT to_jsonb(k)::text AS t FROM keymgmt.keys k
	UNION ALL SELECT to_jsonb(a)::text FROM keymgmt.audit_log a) r
WHERE strpos(r.t, substr(:'raw', 4)) > 0 OR strpos(r.t, substr(:'raw2', 4)) > 0;

-- a raw key given where an actor or an admin's user id belongs is refused
-- (22023) and not repeated: actors are shown in messages and stored
\set VERBOSITY default
SELECT * FROM keymgmt.block_key(:'tok', actor => :'raw');
\set VERBOSITY sqlstate
SELECT pg_temp.error_text('block_key', :'tok') IS NULL AS token_alone_works;
BEGIN;
SELECT set_config('keymgmt.actor', :'raw', true) IS NOT NULL AS actor_set;
SELECT strpos(pg_temp.error_text('unblock_key', :'tok'), substr(:'raw', 4)) = 0 AS not_echoed,
       split_part(pg_temp.error_text('unblock_key', :'tok'), ' | ', 1) AS sqlstate;
ROLLBACK;
SELECT keymgmt.grant_admin(:'raw');
SELECT keymgmt.revoke_admin(:'raw');
SELECT count(*) AS rows_with_raw_key FROM keymgmt.admins WHERE strpos(user_id, substr(:'raw', 4)) > 0;
-- an actor longer than 255 characters is refused, and not repeated (names.sql
-- has every limit; an accepted one is cut to 64 characters in messages)
INSERT INTO keymgmt.keys (token, key_name, created_at, updated_at)
VALUES (encode(sha256('sk-secrets-long-actor'::bytea), 'hex'), 'sk-...ctor', now(), now());
\set VERBOSITY default
SELECT * FROM keymgmt.block_key('sk-secrets-long-actor', actor => repeat('x', 10000));
\set VERBOSITY sqlstate

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

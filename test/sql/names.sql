-- Names and ids a caller supplies (actor, user_id, team_id,
-- organization_id, key_alias, the admin functions' ids, keymgmt.actor) are
-- stored, audited and shown: each is at most 255 characters, holds no
-- control character and no raw key, or it is 22023 and not repeated.  An
-- accepted value is repeated in a message by at most 64 characters.
CREATE EXTENSION keymgmt;
INSERT INTO keymgmt.admins (user_id) VALUES ('names-admin');
INSERT INTO keymgmt.keys (token, key_name, team_id, organization_id, created_at, updated_at)
VALUES (encode(sha256('sk-test-names-1'::bytea), 'hex'), 'sk-...es-1',
        repeat('t', 255), repeat('o', 255), now(), now());
\set VERBOSITY sqlstate

-- Runs stmt with $1 = val and undoes whatever it did.  Returns its
-- SQLSTATE (00000: it worked) and how many leading characters of val the
-- message, detail and hint repeat (0 when none).
CREATE FUNCTION pg_temp.try(stmt text, val text,
                            OUT state text, OUT echoed int)
LANGUAGE plpgsql AS $$
DECLARE
	m text;
	d text;
	h text;
	shown text;
BEGIN
	BEGIN
		EXECUTE stmt USING val;
		RAISE SQLSTATE 'KM000';
	EXCEPTION
		WHEN SQLSTATE 'KM000' THEN
			state := '00000';
			echoed := 0;
			RETURN;
		WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, m = MESSAGE_TEXT,
				d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
	END;
	shown := concat_ws(' ', m, d, h);
	SELECT coalesce(max(n), 0) INTO echoed
	FROM generate_series(1, least(length(val), 1000)) n
	WHERE strpos(shown, left(val, n)) > 0
	  AND left(val, n) !~ '^[a-z]{1,4}$';	-- a few letters can occur anyway
END $$;

CREATE TEMP TABLE value_cases (n serial, label text, val text);
INSERT INTO value_cases (label, val) VALUES
	('ok: an email address', 'alice@example.com'),
	('ok: 255 characters', repeat('a', 255)),
	('ok: 255 two-byte characters', repeat('é', 255)),
	('ok: no-break space U+00A0', 'a' || chr(160) || 'b'),
	('ok: sk- inside a word', 'risk-management-emea-2024'),
	('ok: sk- inside a word, long', 'task-' || repeat('A', 30)),
	('ok: 19 key characters after sk-', 'Bearer sk-' || repeat('A', 19)),
	('long: 256 characters', repeat('a', 256)),
	('long: 256 two-byte characters', repeat('é', 256)),
	('long: 1 MB', repeat('a', 1000000)),
	('control: newline', E'alice\nERROR:  forged line'),
	('control: tab', E'alice\tbob'),
	('control: U+0001', 'alice' || chr(1)),
	('control: DEL U+007F', 'alice' || chr(127)),
	('control: U+0085', 'alice' || chr(133)),
	('control: U+009F', 'alice' || chr(159)),
	('key: a whole raw key', 'sk-abc'),
	('key: Bearer sk-...', 'Bearer sk-' || repeat('A', 20)),
	('key: at the start, then text', 'sk-' || repeat('A', 20) || ' and more'),
	('key: after punctuation', 'token=sk-' || repeat('b', 40));

CREATE TEMP TABLE statement_cases (col text, stmt text);
INSERT INTO statement_cases VALUES
	('gen_actor', 'SELECT * FROM keymgmt.generate_key(actor => $1)'),
	('gen_alias', 'SELECT * FROM keymgmt.generate_key(key_alias => $1)'),
	('gen_user', 'SELECT * FROM keymgmt.generate_key(user_id => $1)'),
	('gen_team', 'SELECT * FROM keymgmt.generate_key(team_id => $1)'),
	('gen_org', 'SELECT * FROM keymgmt.generate_key(organization_id => $1)'),
	('block_actor', 'SELECT * FROM keymgmt.block_key(''sk-test-names-1'', actor => $1)'),
	('set_actor', 'SELECT * FROM (SELECT set_config(''keymgmt.actor'', $1, true)) s, keymgmt.block_key(''sk-test-names-1'')'),
	('grant_user', 'SELECT keymgmt.grant_admin($1)'),
	('grant_team', 'SELECT keymgmt.grant_admin(''u'', team_id => $1)'),
	('grant_org', 'SELECT keymgmt.grant_admin(''u'', organization_id => $1)'),
	('revoke_user', 'SELECT keymgmt.revoke_admin($1)');

-- every value in every place: ok values work (or meet the authority
-- check: 42501), the others are 22023; none is repeated
SELECT v.label,
       max(r.state) FILTER (WHERE s.col = 'gen_actor') AS gen_actor,
       max(r.state) FILTER (WHERE s.col = 'gen_alias') AS gen_alias,
       max(r.state) FILTER (WHERE s.col = 'gen_user') AS gen_user,
       max(r.state) FILTER (WHERE s.col = 'gen_team') AS gen_team,
       max(r.state) FILTER (WHERE s.col = 'gen_org') AS gen_org,
       max(r.state) FILTER (WHERE s.col = 'block_actor') AS block_actor,
       max(r.state) FILTER (WHERE s.col = 'set_actor') AS set_actor,
       max(r.state) FILTER (WHERE s.col = 'grant_user') AS grant_user,
       max(r.state) FILTER (WHERE s.col = 'grant_team') AS grant_team,
       max(r.state) FILTER (WHERE s.col = 'grant_org') AS grant_org,
       max(r.state) FILTER (WHERE s.col = 'revoke_user') AS revoke_user,
       max(r.echoed) AS max_echoed
FROM value_cases v CROSS JOIN statement_cases s
CROSS JOIN LATERAL pg_temp.try(s.stmt, v.val) r
GROUP BY v.n, v.label ORDER BY v.n;

-- nothing of the refused calls was written
SELECT (SELECT count(*) FROM keymgmt.keys) AS keys,
       (SELECT count(*) FROM keymgmt.admins) AS admins,
       (SELECT count(*) FROM keymgmt.audit_log) AS audit_rows;

-- one message of each refusal, in full
\set VERBOSITY default
SELECT * FROM keymgmt.block_key('sk-test-names-1', actor => E'ops\nERROR:  forged');
SELECT keymgmt.grant_admin('Bearer sk-' || repeat('A', 30));
SELECT * FROM keymgmt.generate_key(team_id => repeat('t', 300));
\set VERBOSITY sqlstate

--
-- messages repeat accepted values by at most 64 characters
--
SELECT key_name IS NOT NULL AS created
FROM keymgmt.generate_key(key_alias => repeat('a', 200) || 'Z', actor => 'names-admin');
CREATE TEMP TABLE message_cases (label text, stmt text, val text);
INSERT INTO message_cases VALUES
	('23505: a taken 201-character alias',
	 'SELECT * FROM keymgmt.generate_key(key_alias => $1)', repeat('a', 200) || 'Z'),
	('42501: a 255-character actor',
	 'SELECT * FROM keymgmt.block_key(''sk-test-names-1'', actor => $1)', repeat('x', 255)),
	('42501: a 255-character team in the detail',
	 'SELECT * FROM keymgmt.block_key(''sk-test-names-1'', actor => ''nobody'') WHERE $1 IS NOT NULL', repeat('t', 255)),
	('42501: a 255-character organization in the detail',
	 'SELECT * FROM keymgmt.block_key(''sk-test-names-1'', actor => ''nobody'') WHERE $1 IS NOT NULL', repeat('o', 255)),
	('42501: creating in a 255-character team',
	 'SELECT * FROM keymgmt.generate_key(team_id => $1, actor => ''nobody'')', repeat('T', 255)),
	('42501: granting admin of a 255-character organization',
	 'SELECT * FROM (SELECT set_config(''keymgmt.actor'', ''nobody'', true)) s, keymgmt.grant_admin(''u'', organization_id => $1)',
	 repeat('O', 255));
SELECT m.label, r.state, r.echoed
FROM message_cases m CROSS JOIN LATERAL pg_temp.try(m.stmt, m.val) r;

\set VERBOSITY default
SELECT * FROM keymgmt.block_key('sk-test-names-1', actor => 'nobody');
\set VERBOSITY sqlstate

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

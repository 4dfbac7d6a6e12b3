-- update_key: change a key's alias, owner, team, organization, expiry or
-- metadata.  Absent fields stay, JSON null clears, values are compared as
-- values (a no-op writes nothing), blocked is not changed here, a taken
-- alias is 23505, and authority is as for unblock (owner may not), plus
-- the new scope when the key moves.
CREATE EXTENSION keymgmt;
INSERT INTO keymgmt.admins (user_id, team_id, organization_id) VALUES
	('root-admin', NULL, NULL), ('team-a-admin', 'team-a', NULL),
	('team-b-admin', 'team-b', NULL), ('org-admin', NULL, 'org-1');
-- statements that fail are logged: they name keys by token or key_id
SELECT token AS tok, key_id AS kid
FROM keymgmt.import_key(encode(sha256('sk-update-test-one'::bytea), 'hex'), 'sk-...-one',
                        key_alias => 'one', user_id => 'owner', team_id => 'team-a',
                        organization_id => 'org-1', metadata => '{"tier": "gold"}',
                        actor => 'root-admin') \gset
SELECT token AS tok2 FROM keymgmt.import_key(encode(sha256('sk-update-test-two'::bytea), 'hex'),
                                              'sk-...-two', key_alias => 'two') \gset
SELECT count(*) AS audit_before FROM keymgmt.audit_log \gset

-- one field: the others stay; updated_at/updated_by record the change
SELECT key_alias, user_id, team_id, organization_id, expires, metadata, updated_by
FROM keymgmt.update_key(:'tok', '{"expires": "2031-02-03T04:05:06Z"}', actor => 'root-admin');
-- one audit row, 'updated', with the row before and only what changed
SELECT action, changed_by, object_id = :'tok' AS object_is_token, key_id = :'kid' AS key_id,
       before_value->>'expires' AS expires_before, updated_values
FROM keymgmt.audit_log WHERE id > :audit_before ORDER BY id;
-- several fields at once, one of them cleared with null
SELECT key_alias, user_id, metadata, expires
FROM keymgmt.update_key(:'tok', '{"key_alias": "one-renamed", "metadata": {"tier": "silver", "n": 1}, "expires": null}',
                        actor => 'root-admin');
SELECT updated_values FROM keymgmt.audit_log ORDER BY id DESC LIMIT 1;
-- the same values again, spelt differently (another zone, keys in another
-- order): nothing changes, nothing is written
SELECT count(*) AS audit_rows FROM keymgmt.audit_log \gset
SELECT key_alias, updated_by FROM keymgmt.update_key(:'tok',
	'{"metadata": {"n": 1, "tier": "silver"}, "key_alias": "one-renamed", "expires": null}', actor => 'root-admin');
SELECT expires FROM keymgmt.update_key(:'tok', '{"expires": "2032-01-01T00:00:00+00"}', actor => 'root-admin');
SELECT count(*) - :audit_rows AS new_audit_rows FROM keymgmt.audit_log;
SELECT expires FROM keymgmt.update_key(:'tok', '{"expires": "2032-01-01T01:00:00+01:00"}', actor => 'root-admin');
SELECT count(*) - :audit_rows AS new_audit_rows FROM keymgmt.audit_log;
-- by key_id, like every admin function
SELECT key_alias FROM keymgmt.update_key(:'kid', '{"key_alias": "one"}', actor => 'root-admin');

-- what changes may hold: 22004, 22023 (the field named, at most 64 characters)
SELECT * FROM keymgmt.update_key(:'tok', NULL);
SELECT * FROM keymgmt.update_key(NULL, '{"user_id": "x"}');
SELECT * FROM keymgmt.update_key(:'tok', '{}');
SELECT * FROM keymgmt.update_key(:'tok', '[{"user_id": "x"}]');
SELECT * FROM keymgmt.update_key(:'tok', '"user_id"');
SELECT * FROM keymgmt.update_key(:'tok', '{"blocked": true}');
SELECT * FROM keymgmt.update_key(:'tok', '{"token": "00"}');
SELECT * FROM keymgmt.update_key(:'tok', jsonb_build_object(repeat('f', 100), 1));
SELECT * FROM keymgmt.update_key(:'tok', '{"metadata": null}');
SELECT * FROM keymgmt.update_key(:'tok', '{"metadata": [1, 2]}');
SELECT * FROM keymgmt.update_key(:'tok', '{"expires": "not a time at all"}');
SELECT * FROM keymgmt.update_key(:'tok', '{"expires": 20310203}');
SELECT * FROM keymgmt.update_key(:'tok', '{"user_id": 42}');
SELECT * FROM keymgmt.update_key(:'tok', '{"team_id": {"id": "t"}}');
SELECT * FROM keymgmt.update_key(:'tok', jsonb_build_object('user_id', repeat('u', 256)));
SELECT * FROM keymgmt.update_key(:'tok', jsonb_build_object('user_id', E'line\nbreak'));
SELECT * FROM keymgmt.update_key(:'tok', jsonb_build_object('key_alias', 'Bearer sk-' || repeat('A', 30)));
-- nothing above changed the key
SELECT key_alias, user_id, team_id, organization_id, metadata FROM keymgmt.key_info(:'tok');

-- a taken alias: 23505, the row unchanged
SELECT * FROM keymgmt.update_key(:'tok', '{"key_alias": "two"}', actor => 'root-admin');
SELECT key_alias FROM keymgmt.key_info(:'tok');
-- freeing an alias lets another key take it
SELECT key_alias FROM keymgmt.update_key(:'tok2', '{"key_alias": null}');
SELECT key_alias FROM keymgmt.update_key(:'tok', '{"key_alias": "two"}', actor => 'root-admin');

-- unknown key: 42704, after validation
SELECT * FROM keymgmt.update_key(repeat('0', 64), '{"user_id": "x"}');
SELECT * FROM keymgmt.update_key(repeat('0', 64), '{"blocked": true}');

-- authority: the owner may not update (42501, even for a no-op); a team
-- admin may change what stays in the team; moving the key needs authority
-- where it goes
SELECT * FROM keymgmt.update_key(:'tok', '{"metadata": {"mine": true}}', actor => 'owner');
SELECT * FROM keymgmt.update_key(:'tok', '{"user_id": "owner"}', actor => 'owner');
SELECT * FROM keymgmt.update_key(:'tok', '{"user_id": "x"}', actor => 'stranger');
SELECT user_id FROM keymgmt.update_key(:'tok', '{"user_id": "new-owner"}', actor => 'team-a-admin');
SELECT * FROM keymgmt.update_key(:'tok', '{"team_id": "team-b"}', actor => 'team-a-admin');
-- the organization admin may move it to another team of the organization
SELECT team_id FROM keymgmt.update_key(:'tok', '{"team_id": "team-b"}', actor => 'org-admin');
-- team-b's admin may take it out of the organization (it stays in team-b,
-- which is where it goes), but not out of every team, nor into team-a
SELECT team_id, organization_id
FROM keymgmt.update_key(:'tok', '{"organization_id": null}', actor => 'team-b-admin');
SELECT * FROM keymgmt.update_key(:'tok', '{"team_id": null}', actor => 'team-b-admin');
SELECT * FROM keymgmt.update_key(:'tok', '{"team_id": "team-a"}', actor => 'team-b-admin');
SELECT team_id, organization_id FROM keymgmt.key_info(:'tok');
-- no actor: the database role decides
SELECT team_id FROM keymgmt.update_key(:'tok', '{"team_id": null}');

-- the audit trail of the key: every row's before is the previous row's after
SELECT l.action,
       CASE l.changed_by WHEN current_user THEN '(the calling role)' ELSE l.changed_by END AS changed_by,
       ((CASE l.action WHEN 'created' THEN l.updated_values
                       ELSE l.before_value || l.updated_values END) - 'updated_at' - 'updated_by')
         = (lead(l.before_value) OVER (ORDER BY l.id) - 'updated_at' - 'updated_by')
         AS chains_to_next
FROM keymgmt.audit_log l WHERE l.key_id = :'kid' ORDER BY l.id;

-- read-only transactions: 25006, after validation
BEGIN READ ONLY;
SELECT * FROM keymgmt.update_key(:'tok', '{"user_id": "x"}');
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM keymgmt.update_key(:'tok', '{"blocked": true}');
ROLLBACK;

DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;

#!/usr/bin/env bash
# pg_dump -> restore keeps every key and audit row, the admins and the roles
# that must name an actor (pg_extension_config_dump), GRANTs on the functions,
# audit ids continue after the restored ones, and a restored key verifies.
# Runs against the server the PG* variables point at; prints TAP lines.
set -euo pipefail

src=keymgmt_dump_src
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

n=0
fails=0
check() {	# description, expected, actual
	n=$((n + 1))
	if [ "$2" = "$3" ]; then echo "ok $n - $1"
	else echo "not ok $n - $1 (expected '$2', got '$3')"; fails=$((fails + 1)); fi
}

for db in "$src" keymgmt_dump_custom keymgmt_dump_plain; do
	q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db"
done
q -d postgres -c "CREATE DATABASE $src"
q -d "$src" -c "CREATE EXTENSION keymgmt"
# the actors are global admins, kept by the dump too
q -d "$src" -c "INSERT INTO keymgmt.admins (user_id) VALUES ('alice'), ('bob'), ('carol')"
# a role that must name an actor (roles are the cluster's: it survives the
# restore into another database, and its listing comes with the dump)
q -d postgres -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS keymgmt_dump_gateway" \
	-c "CREATE ROLE keymgmt_dump_gateway"
q -d "$src" -c "SELECT keymgmt.set_actor_required('keymgmt_dump_gateway')" \
	-c "GRANT EXECUTE ON FUNCTION keymgmt.block_key(text, text) TO keymgmt_dump_gateway" >/dev/null

# three keys: one blocked, one deleted; the raw key of the kept one stays in
# a shell variable and is never printed
raw=$(q -d "$src" -c "SELECT key FROM keymgmt.generate_key(key_alias => 'kept', metadata => '{\"a\": 1}')")
blocked_raw=$(q -d "$src" -c "SELECT key FROM keymgmt.generate_key(key_alias => 'blocked')")
blocked=$(q -d "$src" -c "SELECT token FROM keymgmt.keys WHERE key_alias = 'blocked'")
gone=$(q -d "$src" -c "SELECT token FROM keymgmt.generate_key(key_alias => 'gone')")
q -d "$src" -c "SELECT 1 FROM keymgmt.block_key('$blocked', actor => 'alice')" >/dev/null
q -d "$src" -c "SELECT 1 FROM keymgmt.delete_key('$gone', actor => 'bob')" >/dev/null

snapshot() {	# everything both tables hold, in a stable order
	q -d "$1" -c "SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (
		SELECT to_jsonb(k)::text AS t FROM keymgmt.keys k
		UNION ALL SELECT to_jsonb(a)::text FROM keymgmt.audit_log a
		UNION ALL SELECT to_jsonb(r)::text FROM keymgmt.actor_required_roles r) s"
}
before=$(snapshot "$src")

pg_dump -Fc -d "$src" -f "$dir/custom.dump"
pg_dump -d "$src" -f "$dir/plain.sql"
q -d postgres -c "CREATE DATABASE keymgmt_dump_custom" -c "CREATE DATABASE keymgmt_dump_plain"
pg_restore --exit-on-error -d keymgmt_dump_custom "$dir/custom.dump"
q -d keymgmt_dump_plain -f "$dir/plain.sql" >/dev/null

check "the plain dump does not contain the raw key" 0 "$(grep -c -F -- "${raw#sk-}" "$dir/plain.sql" || true)"
for db in keymgmt_dump_custom keymgmt_dump_plain; do
	check "$db: keys and audit rows are identical" "$before" "$(snapshot "$db")"
	check "$db: 2 keys, 6 audit rows, 3 admins, 1 role that must name an actor" "2|6|3|1" \
		"$(q -d "$db" -c "SELECT (SELECT count(*) FROM keymgmt.keys), (SELECT count(*) FROM keymgmt.audit_log), (SELECT count(*) FROM keymgmt.admins), (SELECT count(*) FROM keymgmt.actor_required_roles)")"
	check "$db: the listed role (and its GRANT) came back: it must name an actor" "1" \
		"$(psql -X -q -At -d "$db" -c "SET ROLE keymgmt_dump_gateway" \
			-c "SELECT 1 FROM keymgmt.block_key('$blocked')" 2>&1 | grep -c 'block_key() needs an actor')"
	check "$db: the kept key verifies" "t|valid" \
		"$(q -d "$db" -c "SELECT valid, status FROM keymgmt.verify_key('$raw')")"
	check "$db: the blocked key is still blocked" "blocked" \
		"$(q -d "$db" -c "SELECT status FROM keymgmt.verify_key('$blocked_raw')")"
	q -d "$db" -c "SELECT 1 FROM keymgmt.unblock_key('$blocked', actor => 'carol')" >/dev/null
	check "$db: audit ids continue after the restored ones" "7|unblocked|carol" \
		"$(q -d "$db" -c "SELECT id, action, changed_by FROM keymgmt.audit_log ORDER BY id DESC LIMIT 1")"
	check "$db: functions stay revoked from PUBLIC" "0" \
		"$(q -d "$db" -c "SELECT count(*) FROM pg_proc p, aclexplode(p.proacl) a WHERE p.pronamespace = 'keymgmt'::regnamespace AND a.grantee = 0")"
done

for db in "$src" keymgmt_dump_custom keymgmt_dump_plain; do
	q -d postgres -c "DROP DATABASE $db"
done
q -d postgres -c "DROP ROLE keymgmt_dump_gateway"
echo "1..$n"
[ "$fails" -eq 0 ]

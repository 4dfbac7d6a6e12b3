#!/usr/bin/env bash
# keymgmt through real client drivers -- psycopg 3, node-postgres, pgjdbc --
# each directly and through pgbouncer in transaction mode, asserting
# SQLSTATEs through the driver's own error API; LISTEN for keymgmt's
# notifications on a direct connection; and the pooler leak test: a
# session-level SET keymgmt.actor left on a shared server connection must
# not name the actor of the next client's change.
#
# Against the server the PG* variables point at, as a superuser, over TCP
# with a password (test/run.sh's cluster; or any cluster, e.g.):
#
#   PGHOST=localhost PGPORT=5460 PGUSER=postgres PGPASSWORD=... \
#     bash test/drivers/run.sh
#
# It creates the database keymgmt_drivers and the roles drv_admin,
# drv_gateway, drv_gateway2 and drv_stranger (dropped at the end), starts a
# pgbouncer of its own on a free loopback port (pool_mode = transaction,
# default_pool_size = 1: every client of one role shares one server
# connection), runs test_psycopg.py, test_node.js and DriversTest.java
# (compiled here with javac), and prints their checks as one TAP stream.
# node-postgres is installed with npm into $KEYMGMT_CACHE (default
# ~/.cache/keymgmt), outside the repository.  Exits non-zero when a check
# fails.  As root on a fresh Debian 12 machine it installs what it needs.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tools/packages.sh

NODE_PG_VERSION=8.23.1	# npm pg, pinned: the version this suite was written against
JDBC_JAR=${JDBC_JAR:-/usr/share/java/postgresql.jar}
# what is missing, by the tool rather than the package: a Node.js from
# elsewhere (NodeSource's nodejs has npm in it and conflicts with Debian's
# npm), any JDK
need=()
command -v pgbouncer >/dev/null || need+=(pgbouncer)
/usr/bin/python3 -c 'import psycopg' 2>/dev/null || need+=(python3-psycopg)
[ -f "$JDBC_JAR" ] || need+=(libpostgresql-jdbc-java)
command -v javac >/dev/null || need+=(default-jdk-headless)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
[ ${#need[@]} -eq 0 ] || install_packages drivers "${need[@]}"

db=keymgmt_drivers
roles="drv_admin, drv_gateway, drv_gateway2, drv_stranger, drv_gw"
export DRV_DB=$db
DRV_PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
export DRV_PASSWORD
export PGDATABASE=${PGDATABASE:-postgres}

work=$(mktemp -d /tmp/keymgmt-drivers.XXXXXX)
chmod 755 "$work"
bouncer_pid=
cleanup() {
	[ -n "$bouncer_pid" ] && kill "$bouncer_pid" 2>/dev/null && wait "$bouncer_pid" 2>/dev/null
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
		-c "DROP ROLE IF EXISTS $roles" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM

n=0
failed=0
tap() {	# ok|not ok, description
	n=$((n + 1))
	[ "$1" = ok ] || failed=$((failed + 1))
	echo "$1 $n - $2"
}

# the database and its roles
start=$SECONDS
if ! psql -X -q -v ON_ERROR_STOP=1 -v pw="$DRV_PASSWORD" -d postgres >"$work/setup.log" 2>&1 <<EOF
DROP DATABASE IF EXISTS $db WITH (FORCE);
DROP ROLE IF EXISTS $roles;
CREATE DATABASE $db;
CREATE ROLE drv_admin LOGIN PASSWORD :'pw';
CREATE ROLE drv_gateway LOGIN PASSWORD :'pw';
CREATE ROLE drv_gateway2 LOGIN PASSWORD :'pw';
CREATE ROLE drv_stranger LOGIN PASSWORD :'pw';
CREATE ROLE drv_gw LOGIN PASSWORD :'pw';
\c $db
CREATE EXTENSION keymgmt;
-- the LISTEN checks read commit mode's payload: one NOTIFY per change
ALTER DATABASE $db SET keymgmt.notify = commit;
GRANT USAGE ON SCHEMA keymgmt TO $roles;
GRANT EXECUTE ON FUNCTION
    keymgmt.generate_key(text, text, text, text, timestamptz, jsonb, text),
    keymgmt.block_key(text, text), keymgmt.unblock_key(text, text),
    keymgmt.delete_key(text, text), keymgmt.verify_key(text),
    keymgmt.update_key(text, jsonb, text), keymgmt.rotate_key(text, interval, text),
    keymgmt.key_info(text)
  TO drv_admin;
GRANT EXECUTE ON FUNCTION keymgmt.verify_key(text),
    keymgmt.block_key(text, text), keymgmt.unblock_key(text, text)
  TO drv_gateway, drv_gateway2;
-- drv_stranger may connect and use the schema, and call nothing
SELECT keymgmt.grant_admin('ops');
-- examples/gateway's role (its master key calls without an actor)
\set role drv_gw
\i examples/gateway/grants.sql
-- the gateway must always name an actor (set_actor_required)
SELECT keymgmt.set_actor_required('drv_gateway');
EOF
then
	cat "$work/setup.log"
	tap "not ok" "the database $db and its roles are set up"
	echo "1..$n"
	exit 1
fi

# pgbouncer: it refuses to run as root without -u, and then its files must
# be the postgres user's
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server_host=${PGHOST:-localhost}
mkdir "$work/bouncer"
for r in drv_admin drv_gateway drv_gateway2 drv_stranger drv_gw; do
	echo "\"$r\" \"$DRV_PASSWORD\""
done >"$work/bouncer/userlist.txt"
cat >"$work/bouncer/pgbouncer.ini" <<EOF
[databases]
$db = host=$server_host port=${PGPORT:-5432} dbname=$db

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $work/bouncer/userlist.txt
pool_mode = transaction
; one server connection per role: clients of a role really share it
default_pool_size = 1
max_client_conn = 100
; a client waiting for the one server connection fails instead of hanging
query_wait_timeout = 15
; pgjdbc sends it in its startup packet; pgbouncer 1.18 knows no other use
ignore_startup_parameters = extra_float_digits
logfile = $work/bouncer/pgbouncer.log
pidfile = $work/bouncer/pgbouncer.pid
EOF
chmod 600 "$work/bouncer/userlist.txt"
as_user=()
if [ "$(id -u)" -eq 0 ]; then
	chown -R postgres: "$work/bouncer"
	as_user=(-u postgres)
fi
pgbouncer "${as_user[@]}" "$work/bouncer/pgbouncer.ini" >"$work/bouncer.out" 2>&1 &
bouncer_pid=$!
for _ in $(seq 50); do
	/usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
	sleep 0.1
done
if PGHOST=127.0.0.1 PGPORT=$port PGUSER=drv_admin PGPASSWORD=$DRV_PASSWORD \
	psql -X -A -t -d "$db" -c 'SELECT 1' >/dev/null 2>"$work/bouncer.err"; then
	tap ok "pgbouncer $(pgbouncer --version | awk 'NR == 1 {print $2}') runs on 127.0.0.1:$port, pool_mode = transaction, default_pool_size = 1"
else
	cat "$work/bouncer.err" "$work/bouncer.out" "$work/bouncer/pgbouncer.log" 2>/dev/null | sed 's/^/# /'
	tap "not ok" "pgbouncer runs on 127.0.0.1:$port"
	echo "1..$n"
	exit 1
fi
export DRV_BOUNCER_PORT=$port
echo "# setup and pgbouncer: $((SECONDS - start)) s"

driver() {	# name, command...: its "ok - ..." lines become numbered TAP lines
	local name=$1 line rc="" bad=0 t0=$SECONDS
	shift
	while IFS= read -r line; do
		case $line in
		"ok - "*) tap ok "$name: ${line#ok - }" ;;
		"not ok - "*) tap "not ok" "$name: ${line#not ok - }"; bad=1 ;;
		"#drivers-rc "*) rc=${line#\#drivers-rc } ;;
		"#"*) echo "$line" ;;
		*) echo "# $line" ;;
		esac
	done < <("$@" 2>&1; echo "#drivers-rc $?")
	if [ "$rc" != 0 ] && [ $bad -eq 0 ]; then
		tap "not ok" "$name: exited with status $rc"
	fi
	echo "# $name: $((SECONDS - t0)) s"
}

driver psycopg /usr/bin/python3 test/drivers/test_psycopg.py

# node-postgres, from npm, kept between runs outside the repository
node_dir=${KEYMGMT_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/keymgmt}/node-pg-$NODE_PG_VERSION
if [ ! -f "$node_dir/node_modules/pg/package.json" ]; then
	mkdir -p "$node_dir"
	if ! npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error \
		"pg@$NODE_PG_VERSION" >"$work/npm.log" 2>&1; then
		sed 's/^/# /' "$work/npm.log"
	fi
fi
if [ -f "$node_dir/node_modules/pg/package.json" ]; then
	DRV_NODE_MODULES=$node_dir/node_modules driver node-postgres node test/drivers/test_node.js
else
	tap "not ok" "node-postgres: npm install pg@$NODE_PG_VERSION"
fi

# pgjdbc, Debian's jar; the test compiled here
mkdir "$work/java"
if javac -d "$work/java" -cp "$JDBC_JAR" test/drivers/DriversTest.java >"$work/javac.log" 2>&1; then
	driver pgjdbc java -cp "$work/java:$JDBC_JAR" DriversTest
else
	sed 's/^/# /' "$work/javac.log"
	tap "not ok" "pgjdbc: javac DriversTest.java"
fi

# examples/gateway with its pool behind the pgbouncer
driver gateway /usr/bin/python3 test/drivers/test_gateway_pooled.py

echo "1..$n"
echo "# $n checks, $failed failed, in $((SECONDS - start)) s"
[ "$failed" -eq 0 ]

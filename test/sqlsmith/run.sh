#!/usr/bin/env bash
# Runs sqlsmith's random queries against keymgmt and proves that no server
# process crashed.  Against the server the PG* variables point at, as a
# superuser (keymgmt must be installed there), e.g.:
#
#   pg_virtualenv -v 15 bash test/sqlsmith/run.sh   # KEYMGMT_PG: the client (15)
#   SMITH_QUERIES=2000 SMITH_SEED=42 bash test/sqlsmith/run.sh
#
# It creates the database keymgmt_smith (test/sqlsmith/setup.sql: keys,
# admins, audit rows, hostile inputs) and the role keymgmt_smith, which may
# call every keymgmt function and read its tables, nothing more; sqlsmith
# connects as that role and runs SMITH_QUERIES (default 20000) queries, each
# rolled back, with --exclude-catalog so that the only tables it reads are
# keymgmt's and the inputs'.
#
# A crash is any of: a server process "terminated by signal" or "exited
# with exit code" in the server log; the watcher, a session that sleeps
# from before the run to after it, gone (after a crash the postmaster ends
# every session and reinitialises, but keeps pg_postmaster_start_time()); or
# pg_postmaster_start_time() changed (a full restart).  The log is the one
# pg_lsclusters lists for this cluster (pg_virtualenv, pg_ctlcluster), or
# pg_current_logfile(), or SMITH_SERVER_LOG; without one the other two
# still count.  Prints each check as a TAP line, the keymgmt functions the
# run called (pg_stat_user_functions), and "N queries in S s (R/s), N
# crashes"; exits non-zero when a check fails, keeping its files.
#
# As root on a fresh Debian machine it installs sqlsmith first.
set -euo pipefail
cd "$(dirname "$0")/../.."

SMITH_QUERIES=${SMITH_QUERIES:-20000}
# on: sqlsmith sees keymgmt's functions and a sample of the built-in ones
# (setup.sql says how); off: all of pg_proc
SMITH_FOCUS=${SMITH_FOCUS:-on}
SMITH_SEED=${SMITH_SEED:-$(( (RANDOM << 15 | RANDOM) % 2147483647 ))}
# a backstop only: sqlsmith's own statement_timeout is 1 s a query
SMITH_TIMEOUT=${SMITH_TIMEOUT:-$((600 + SMITH_QUERIES / 10))}
db=keymgmt_smith
role=keymgmt_smith
SMITH_PACKAGES=(sqlsmith "postgresql-client-${KEYMGMT_PG:-15}")

source tools/packages.sh
install_packages sqlsmith "${SMITH_PACKAGES[@]}"

q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

dir=$(mktemp -d /tmp/keymgmt-smith.XXXXXX)
keep=${SMITH_KEEP:-no}
watcher=
cleanup() {
	[ -n "$watcher" ] && kill "$watcher" 2>/dev/null
	[ $keep = yes ] || rm -rf "$dir"
}
trap cleanup EXIT

# ServerLog: the file this server logs to, or nothing
server_log() {
	local datadir f
	if [ -n "${SMITH_SERVER_LOG:-}" ]; then
		echo "$SMITH_SERVER_LOG"
		return
	fi
	datadir=$(q -d postgres -c 'SHOW data_directory')
	# a Debian cluster: pg_lsclusters knows its log file
	f=$(pg_lsclusters -h 2>/dev/null | awk -v d="$datadir" '$6 == d { print $7 }' | head -1)
	if [ -z "$f" ]; then
		# the logging collector's current file, relative to the data directory
		f=$(q -d postgres -c "SELECT pg_current_logfile('stderr')")
		[ -n "$f" ] && [ "${f#/}" = "$f" ] && f="$datadir/$f"
	fi
	[ -n "$f" ] && [ -r "$f" ] && echo "$f"
	return 0
}

# a fresh database and role; the role's password is made up for this run
q -d postgres -c "SET client_min_messages = warning" \
	-c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "DROP ROLE IF EXISTS $role" \
	-c "CREATE DATABASE $db"
password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
q -d "$db" -v smith_role="$role" -v smith_password="$password" \
	-v focus="$SMITH_FOCUS" -f test/sqlsmith/setup.sql > /dev/null

# the crash detectors: log position, start time, and a watcher session
log=$(server_log)
log_offset=0
[ -n "$log" ] && log_offset=$(stat -c %s "$log")
start_time=$(q -d postgres -c 'SELECT pg_postmaster_start_time()')
# (it ends by itself once its psql is gone: client_connection_check_interval)
PGAPPNAME=keymgmt_smith_watch \
	PGOPTIONS='-c statement_timeout=0 -c client_connection_check_interval=1000' \
	psql -X -q -d postgres -c 'SELECT pg_sleep(1e7)' > /dev/null 2>&1 &
watcher=$!
watch=
for _ in $(seq 50); do
	watch=$(q -d postgres -c "SELECT pid || ' ' || backend_start FROM pg_stat_activity
		WHERE application_name = 'keymgmt_smith_watch' AND state = 'active'")
	[ -n "$watch" ] && break
	sleep 0.1
done
if [ -z "$watch" ]; then
	echo "sqlsmith: the watcher session did not start" >&2
	exit 1
fi
watch_pid=${watch%% *}
watch_start=${watch#* }

echo "sqlsmith: $SMITH_QUERIES queries, seed $SMITH_SEED, focus $SMITH_FOCUS, as $role on $db" \
	"(server log: ${log:-not found})"
started=$(date +%s%N)
rc=0
PGPASSWORD=$password timeout "$SMITH_TIMEOUT" \
	sqlsmith --target="dbname=$db user=$role" --exclude-catalog \
	--max-queries="$SMITH_QUERIES" --seed="$SMITH_SEED" --verbose --dump-all-queries \
	> "$dir/queries.sql" 2> "$dir/sqlsmith.log" || rc=$?
ms=$((($(date +%s%N) - started) / 1000000))

# the checks, as TAP lines
n=0
failures=0
crashes=0
check() {	# ok (yes/no), description
	n=$((n + 1))
	if [ "$1" = yes ]; then echo "ok $n - $2"
	else echo "not ok $n - $2"; failures=$((failures + 1)); fi
}

# is the server still up, and the same one?
up=no
for _ in $(seq 30); do
	if q -d postgres -c 'SELECT 1' > /dev/null 2>&1; then up=yes; break; fi
	sleep 1
done
check $up "the server answers after the run"
alive=no
same=no
if [ $up = yes ]; then
	[ "$(q -d postgres -c 'SELECT pg_postmaster_start_time()')" = "$start_time" ] && same=yes
	[ "$(q -d postgres -c "SELECT count(*) FROM pg_stat_activity
		WHERE pid = $watch_pid AND backend_start = '$watch_start'")" = 1 ] && alive=yes
	[ $alive = yes ] && q -d postgres -c "SELECT pg_terminate_backend($watch_pid)" > /dev/null
fi
wait "$watcher" 2>/dev/null || true
watcher=
check $same "pg_postmaster_start_time() is unchanged: no restart"
check $alive "the watcher session survived: no crash ended every session"
[ $up = yes ] && [ $same = yes ] && [ $alive = yes ] || crashes=1
if [ -n "$log" ]; then
	tail -c +$((log_offset + 1)) "$log" \
		| grep -E -A1 'was terminated by (signal|exception)|exited with exit code|PANIC:' \
		> "$dir/crashes.log" || true
	logged=$(grep -cE 'was terminated by (signal|exception)|exited with exit code|PANIC:' \
		"$dir/crashes.log" || true)
	[ "$logged" -eq 0 ] || head -20 "$dir/crashes.log"
	check "$([ "$logged" -eq 0 ] && echo yes || echo no)" \
		"the server log shows no crashed process ($logged)"
	[ "$logged" -gt "$crashes" ] && crashes=$logged
else
	n=$((n + 1))
	echo "ok $n # skip no server log found (set SMITH_SERVER_LOG)"
fi

# what sqlsmith saw: its final report and its lost connections ("C")
sed -n '/^queries: /h; /^queries: /!H; ${x; p}' "$dir/sqlsmith.log" > "$dir/report.txt"
queries=$(grep -E '^queries: [0-9]+' "$dir/report.txt" | awk '{print $2}')
lost=$(grep -E '^[.etSC]+$' "$dir/sqlsmith.log" | tr -cd C | wc -c)
check "$([ "$rc" -eq 0 ] && [ "${queries:-0}" -eq "$SMITH_QUERIES" ] && echo yes || echo no)" \
	"sqlsmith ran ${queries:-no} of $SMITH_QUERIES queries (exit $rc)"
check "$([ "$lost" -eq 0 ] && echo yes || echo no)" \
	"sqlsmith never lost its connection ($lost)"
grep -E '^error rate:' "$dir/report.txt" | sed 's/^/# sqlsmith: /' || true

# which keymgmt functions the run called, once its session has ended
if [ $up = yes ]; then
	for _ in $(seq 50); do
		[ "$(q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE usename = '$role'")" = 0 ] \
			&& break
		sleep 0.1
	done
	# a call that raised an error is counted as entered, not as completed
	echo "# keymgmt's functions (and the smith.* wrappers) in this run:"
	echo "#   entered  completed  function"
	q -d "$db" -c "SELECT format('#  %8s  %9s  %s',
			CASE WHEN s.funcid IS NULL THEN 'no' ELSE 'yes' END,
			coalesce(s.calls, 0), p.oid::regprocedure)
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		LEFT JOIN pg_stat_user_functions s ON s.funcid = p.oid
		WHERE n.nspname IN ('keymgmt', 'smith') ORDER BY n.nspname, p.proname"
	echo "# calls in the generated query text:"
	grep -oE '(keymgmt|smith)\.[a-z_]+\(' "$dir/queries.sql" | sort | uniq -c \
		| awk '{ printf "#  %8s  %s\n", $1, $2 }' || true
	echo "# keymgmt's errors among the ones sqlsmith got:"
	grep -E '^[0-9]+\s+ERROR: +(key must not be null|malformed key|key ".*" does not exist|actor ".*" may not|.* needs an actor|user_id must not be null|.* must not be empty|metadata must be a JSON object|key alias ".*" is already taken|an admin is of a team)' \
		"$dir/report.txt" | sed 's/^/#   /' || true
fi

rate=$(( ${queries:-0} * 1000 / (ms > 0 ? ms : 1) ))
echo "sqlsmith: ${queries:-0} queries in $((ms / 1000)) s ($rate/s), $crashes crashes"
if [ "$failures" -gt 0 ]; then
	keep=yes
	echo "sqlsmith: FAILED; queries, sqlsmith's and the server's log in $dir" \
		"(rerun with SMITH_SEED=$SMITH_SEED)"
	exit 1
fi
q -d postgres -c "DROP DATABASE $db WITH (FORCE)" -c "DROP ROLE $role"

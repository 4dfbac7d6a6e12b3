# bench/cluster.sh -- the throwaway cluster of bench/run.sh and
# bench/lifecycle.sh, sourced by them after PG_CONFIG, PGBIN, BENCH, say and
# NICENESS are set.  Refuses to start while another benchmark runs; starts
# the server as the postgres user in a temporary directory ($WORK), with
# bench/postgresql.conf and huge pages where it can have them; the EXIT trap
# stops it and removes it.  Defines psql_ and q.

# Two benchmarks on the same cores measure each other: refuse to start a second.
for pidfile in /tmp/keymgmt-bench.*/pg/data/postmaster.pid; do
	[ -f "$pidfile" ] || continue
	if kill -0 "$(head -1 "$pidfile")" 2>/dev/null; then
		say "another benchmark is running (${pidfile%/pg/data/postmaster.pid}); wait for it to end"
		exit 1
	fi
done
WORK=$(mktemp -d /tmp/keymgmt-bench.XXXXXX)
chmod 755 "$WORK"
LOGS=$WORK/logs
PGDIR=$WORK/pg
mkdir -p "$LOGS" "$PGDIR"
if [ "$(id -u)" -eq 0 ]; then
	chown postgres: "$PGDIR" "$LOGS"
	AS_PG=(runuser -u postgres --)
else
	AS_PG=()
fi

export PGHOST=$PGDIR PGPORT=5432 PGUSER=postgres PGDATABASE=bench
unset PGOPTIONS PGSERVICE PGPASSWORD || true

cleanup() {
	local rc=$?
	if [ -f "$PGDIR/data/postmaster.pid" ]; then
		"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$PGDIR"
	if [ -n "${OLD_NR_HUGEPAGES:-}" ]; then
		echo "$OLD_NR_HUGEPAGES" >/proc/sys/vm/nr_hugepages 2>/dev/null || true
	fi
	[ -n "${SAMPLER_PID:-}" ] && kill "$SAMPLER_PID" 2>/dev/null || true
	say "raw pgbench logs: $LOGS"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "throwaway cluster in $PGDIR"
"${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U postgres -A trust -E UTF8 \
	--locale=C --no-sync >"$LOGS/initdb.log" 2>&1
{
	echo
	echo "# ---- bench/run.sh"
	echo "listen_addresses = ''"
	echo "unix_socket_directories = '$PGDIR'"
	echo "port = $PGPORT"
	cat "$BENCH/postgresql.conf"
	# a benchmark's own settings (bench/feed.sh preloads keymgmt)
	if [ -n "${BENCH_EXTRA_CONF:-}" ]; then printf '%s\n' "$BENCH_EXTRA_CONF"; fi
} >>"$PGDIR/data/postgresql.conf"

# Huge pages for the shared memory.  Without them every new backend maps the
# shared memory 4 kB page by page as it first touches it, and pgbench opens
# fresh connections for every run: a run at 8 clients then spends its first
# seconds in page faults (a bare SELECT ramps from 6k to 22k calls/s over 10 s
# on the 2-core machine this was written on; with huge pages it is at 23k from
# the first second).  A gateway's pooled connections are past that, so the
# benchmark measures the steady state.  As root it reserves what is missing
# (vm.nr_hugepages) for the run and gives it back at the end.
HUGE=off
NEED_HP=$("${AS_PG[@]}" "$PGBIN/postgres" -D "$PGDIR/data" -C shared_memory_size_in_huge_pages 2>/dev/null || echo 0)
hp_free() { awk '/^HugePages_Free:/ {print $2}' /proc/meminfo; }
if [ "${BENCH_HUGEPAGES:-1}" = 1 ] && [ "${NEED_HP:-0}" -gt 0 ]; then
	if [ "$(hp_free)" -lt "$NEED_HP" ] && [ -w /proc/sys/vm/nr_hugepages ]; then
		OLD_NR_HUGEPAGES=$(cat /proc/sys/vm/nr_hugepages)
		echo $((OLD_NR_HUGEPAGES + NEED_HP - $(hp_free))) >/proc/sys/vm/nr_hugepages 2>/dev/null || true
	fi
	if [ "$(hp_free)" -ge "$NEED_HP" ]; then
		HUGE=on
	else
		say "warning: cannot have $NEED_HP huge pages; runs at 2 or more clients will include each new connection's page faults"
	fi
fi
echo "huge_pages = $HUGE" >>"$PGDIR/data/postgresql.conf"
if ! "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$LOGS/server.log" -w start >/dev/null; then
	say "the server did not start; the end of its log:"
	tail -5 "$LOGS/server.log"
	exit 1
fi

psql_() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
q() { psql_ -At -F ' ' -c "$1"; }


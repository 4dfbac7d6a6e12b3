#!/usr/bin/env bash
# bench/run.sh -- keymgmt against what users would use instead, measured side
# by side in one run (`make bench` runs this).
#
#   bash bench/run.sh             # the full run, about 40 minutes
#   QUICK=1 bash bench/run.sh     # a shake-out, about 2 minutes
#
# As root on Debian 12 it installs what is missing (postgresql-15, its
# contrib and server headers, gnuplot-nox), builds and installs keymgmt from
# this work tree, starts a throwaway cluster as the postgres user in a
# temporary directory with bench/postgresql.conf, loads keys, runs the pgbench
# workloads in bench/workloads/, and writes bench/results.md and
# bench/tps.png.  The cluster is removed at the end; the raw pgbench logs stay
# in the temporary directory it names.
#
# Knobs (environment):
#   BENCH_SIZES        key counts, ascending            (10000 100000 1000000)
#   BENCH_SWEEP_SIZES  key counts measured at every BENCH_CLIENTS (100000);
#                      the others at BENCH_EDGE_CLIENTS only
#   BENCH_CLIENTS      client counts of the sweep       (1 2 4 8)
#   BENCH_EDGE_CLIENTS client counts at the other sizes (1 8)
#   BENCH_REPS         runs of each figure; the median is reported (5)
#   BENCH_SECONDS      length of one run                (4)
#   BENCH_INSTALL=0    measure the keymgmt already installed (no make install)
#   BENCH_OUT          where results.md and tps.png go  (bench/)
#   BENCH_HUGEPAGES=0  do not reserve huge pages (vm.nr_hugepages) for the run
#   BENCH_NICE         niceness of the cluster and the clients (-10 as root:
#                      other work on the machine disturbs the runs less)

# The whole script is one compound command, read before any of it runs:
# editing this file during a run cannot derail the run.
{
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
BENCH=$TOP/bench

if [ "${QUICK:-0}" = 1 ]; then
	: "${BENCH_SIZES:=10000 100000}" "${BENCH_SWEEP_SIZES:=10000}"
	: "${BENCH_CLIENTS:=1 2 8}" "${BENCH_EDGE_CLIENTS:=1 8}"
	: "${BENCH_REPS:=1}" "${BENCH_SECONDS:=2}"
fi
SIZES=$(printf '%s\n' ${BENCH_SIZES:-10000 100000 1000000} | sort -n | tr '\n' ' ')
SWEEP_SIZES=" ${BENCH_SWEEP_SIZES:-100000} "
CLIENTS=${BENCH_CLIENTS:-1 2 4 8}
EDGE_CLIENTS=${BENCH_EDGE_CLIENTS:-1 8}
REPS=${BENCH_REPS:-5}
# the implementations of the mixed 1-client block run, in its script order
MIX_IMPLS="keymgmt plpgsql litellm floor"
DURATION=${BENCH_SECONDS:-4}
OUT=${BENCH_OUT:-$BENCH}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PYTHON=/usr/bin/python3

# the highest client count: block runs there are sampled for wait events
MAX_CLIENTS=$(printf '%s\n' $CLIENTS $EDGE_CLIENTS | sort -n | tail -1)

say() { printf '%s\n' "bench: $*"; }

# ---------------------------------------------------------------- packages
source "$TOP/tools/packages.sh"
install_packages bench make gcc postgresql-15 postgresql-server-dev-15 \
	postgresql-contrib gnuplot-nox python3

if [ "${BENCH_INSTALL:-1}" = 1 ]; then
	say "building and installing keymgmt from $TOP"
	make -s PG_CONFIG="$PG_CONFIG"
	make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
fi

PGBIN=$("$PG_CONFIG" --bindir)
SO=$("$PG_CONFIG" --pkglibdir)/keymgmt.so
[ -f "$SO" ] || { say "keymgmt is not installed ($SO)"; exit 1; }

# Everything started from here on (the server, pgbench, psql) inherits this.
NICENESS=${BENCH_NICE:-$([ "$(id -u)" -eq 0 ] && echo -10 || echo 0)}
renice -n "$NICENESS" -p $$ >/dev/null

# ----------------------------------------------------------------- cluster
source "$BENCH/cluster.sh"

psql_ -d postgres -c "CREATE DATABASE bench"
psql_ -c "CREATE EXTENSION keymgmt" -c "CREATE EXTENSION pg_prewarm" \
	-f "$BENCH/reference.sql" -f "$BENCH/harness.sql" >/dev/null

# ------------------------------------------------------------ what was run
lscpu_field() { lscpu | sed -n "s/^$1: *//p" | head -1; }
{
	echo "started=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "cpu=$(lscpu_field 'Model name')"
	echo "cores=$(nproc)"
	echo "hypervisor=$(lscpu_field 'Hypervisor vendor')"
	echo "ram=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
	echo "kernel=$(uname -sr)"
	echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "pg_version=$(q 'SELECT version()')"
	echo "pgbench=$("$PGBIN/pgbench" --version)"
	echo "git_head=$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "git_dirty=$(git -C "$TOP" status --porcelain -- src sql keymgmt.control 2>/dev/null | wc -l)"
	if [ "${BENCH_INSTALL:-1}" = 1 ]; then
		echo "installed=built and installed from the work tree by this run"
	else
		echo "installed=the build already installed (BENCH_INSTALL=0)"
	fi
	echo "so_sha256=$(sha256sum "$SO" | cut -c1-16)"
	echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "sizes=$SIZES"
	echo "sweep_sizes=$SWEEP_SIZES"
	echo "clients=$CLIENTS"
	echo "edge_clients=$EDGE_CLIENTS"
	echo "max_clients=$MAX_CLIENTS"
	echo "reps=$REPS"
	echo "seconds=$DURATION"
	echo "quick=${QUICK:-0}"
	echo "nice=$NICENESS"
	echo "huge_pages=$HUGE"
	echo "huge_pages_count=$NEED_HP"
} >"$WORK/meta.txt"
cp "$BENCH/postgresql.conf" "$WORK/postgresql.conf"

# ------------------------------------------------------------------- plan
# One line per pgbench run: size workload implementation clients rep.
# For each key count, for each repetition, for each client count, every
# workload and every implementation in turn: drift hits them all alike.
# Each repetition starts the implementations at a different one, so none is
# always the first after a checkpoint or after the block runs.
impls() {	# workload clients
	case $1 in
	block)
		echo keymgmt keymgmt-nonotify plpgsql litellm floor
		[ "$2" = "$MAX_CLIENTS" ] && echo plpgsql-nonotify
		;;
	verify) echo keymgmt plpgsql bare select1 ;;
	verify10) echo keymgmt plpgsql bare ;;
	esac
}
rotate() {	# n words...: the words, starting at the n-th
	local n=$1 i
	shift
	local w=("$@")
	for ((i = 0; i < ${#w[@]}; i++)); do
		echo "${w[$(((i + n) % ${#w[@]}))]}"
	done
}
PLAN=$WORK/plan.txt
: >"$PLAN"
for size in $SIZES; do
	if [[ $SWEEP_SIZES == *" $size "* ]]; then cl=$CLIENTS; else cl=$EDGE_CLIENTS; fi
	for rep in $(seq "$REPS"); do
		for c in $cl; do
			for wl in block verify verify10; do
				for impl in $(rotate $((rep - 1)) $(impls $wl "$c")); do
					echo "$size $wl $impl $c $rep" >>"$PLAN"
				done
			done
		done
		# and once per round: every block implementation in one 1-client run
		echo "$size blockmix mixed 1 $rep" >>"$PLAN"
	done
done
TOTAL=$(wc -l <"$PLAN")
if awk '{exit !($1 > 0.5)}' /proc/loadavg; then
	say "warning: load average $(cut -d' ' -f1-3 /proc/loadavg) before the start; other processes" \
		"will share the $(nproc) cores, and results.md will say how much they took"
fi
say "$TOTAL runs of ${DURATION}s: key counts $SIZES(all of $CLIENTS clients at$SWEEP_SIZES, else $EDGE_CLIENTS), median of $REPS"

RESULTS=$WORK/results.csv
echo "size,workload,impl,clients,rep,tps,latency_ms,xacts,failed,audit_rows,wal_bytes,other_cores" >"$RESULTS"
mkdir -p "$WORK/waits"

# ------------------------------------------------------------------- runs
prepare_size() {	# load keys up to $1, then the same starting state for every size
	local size=$1 t0
	t0=$(date +%s)
	if [ "$LOADED" -lt "$size" ]; then
		q "SELECT bench_harness.load_keys($((LOADED + 1)), $size)" >/dev/null
		LOADED=$size
	fi
	psql_ -c "UPDATE keymgmt.keys SET blocked = false WHERE blocked" \
		-c "TRUNCATE keymgmt.audit_log" \
		-c "VACUUM (ANALYZE) keymgmt.keys" \
		-c "VACUUM (ANALYZE) keymgmt.audit_log" \
		-c "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'keymgmt' AND c.relkind IN ('r', 'i')" \
		-c "CHECKPOINT" >/dev/null
	say "$size keys loaded and warm ($(( $(date +%s) - t0 ))s; keys table $(q "SELECT pg_size_pretty(pg_table_size('keymgmt.keys'))"))"
}

# CPU accounting, to tell how much else ran on the machine during a run:
# "<busy ticks of the whole machine> <ticks of this benchmark>", where the
# benchmark is our postmaster and its children (live ones, and those it has
# reaped) and this shell's reaped children (pgbench, psql).
CLK_TCK=$(getconf CLK_TCK)
cpu_snap() {
	local pm f line pid bench=0 a
	pm=$(head -1 "$PGDIR/data/postmaster.pid")
	read -r -a a </proc/stat
	local busy=$((a[1] + a[2] + a[3] + a[6] + a[7]))
	for f in /proc/[0-9]*/stat; do
		{ read -r line <"$f"; } 2>/dev/null || continue
		read -r -a a <<<"${line##*) }"
		pid=${f#/proc/}; pid=${pid%/stat}
		if [ "$pid" = "$pm" ] || [ "$pid" = "$$" ]; then
			bench=$((bench + a[11] + a[12] + a[13] + a[14]))
		elif [ "${a[1]}" = "$pm" ]; then
			bench=$((bench + a[11] + a[12]))
		fi
	done
	echo "$busy $bench"
}

fmt_elapsed() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }

run_one() {	# size workload impl clients rep
	local size=$1 wl=$2 impl=$3 c=$4 rep=$5
	local script unknown=0 opts="" write=0 changes=1 j=$(($4 < 2 ? 1 : 2))
	local tag="$size-$wl-$impl-c$c-r$rep"
	local log=$LOGS/$tag.log
	local lsn0 id0 wal rows sampler=0

	local scripts=()
	case $wl in
	block) script=block-${impl%-nonotify}.sql; write=1; changes=2 ;;
	blockmix) write=1; changes=2
		# one client, the scripts drawn at random transaction by transaction:
		# the WAL flush, whose time varies by a factor of two from one second
		# to the next on a virtual disk, is shared alike by all of them
		for script in $MIX_IMPLS; do scripts+=(-f "$BENCH/workloads/block-$script.sql"); done
		scripts+=(-l --log-prefix="$LOGS/$tag") ;;
	verify) script=verify-$impl.sql ;;
	verify10) script=verify-$impl.sql; unknown=10 ;;
	esac
	[[ $impl == *-nonotify ]] && opts="-c keymgmt.notify=off"
	# a fixed seed of its own for every run: the same from one benchmark run
	# to the next, but no implementation updates the keys (and so the pages)
	# that the one before it has just updated
	local seed
	seed=$(printf '%s' "$tag" | cksum | cut -d' ' -f1)

	# every write run starts from the same state: an empty audit log (it
	# would otherwise grow through the runs, and its index with it) and a
	# checkpoint (each run pays the same full-page images)
	if [ $write = 1 ]; then
		psql_ -c "TRUNCATE keymgmt.audit_log" -c "CHECKPOINT" >/dev/null
	fi
	# audit rows written = how far the audit id sequence moved
	local seq="COALESCE(pg_sequence_last_value('keymgmt.audit_log_id_seq'), 0)"
	read -r lsn0 id0 < <(q "SELECT pg_current_wal_lsn(), $seq")

	if [ $write = 1 ] && [ "$c" = "$MAX_CLIENTS" ]; then
		sampler=1
		( sleep 0.5
		  q "SELECT * FROM bench_harness.sample_waits($(awk -v d="$DURATION" 'BEGIN {print (d > 1.5 ? d - 1 : 0.5)}'))" \
			>"$WORK/waits/$tag.txt" ) &
		SAMPLER_PID=$!
	fi

	local busy0 bench0 busy1 bench1 ms0 ms1
	read -r busy0 bench0 < <(cpu_snap)
	ms0=$(date +%s%3N)
	local seconds=$DURATION
	[ ${#scripts[@]} = 0 ] && scripts=(-f "$BENCH/workloads/$script")
	# the mixed run shares its time among its scripts: three times as long
	[ "$wl" = blockmix ] && seconds=$((DURATION * 3))
	if ! PGOPTIONS="$opts" "$PGBIN/pgbench" -n -M prepared -c "$c" -j "$j" -T "$seconds" \
			--random-seed="$seed" -D nkeys="$size" -D unknown="$unknown" \
			"${scripts[@]}" >"$log" 2>&1; then
		say "pgbench failed ($tag); the end of its log:"
		tail -20 "$log"
		exit 1
	fi
	if [ $sampler = 1 ]; then wait "$SAMPLER_PID"; SAMPLER_PID=; fi
	ms1=$(date +%s%3N)
	read -r busy1 bench1 < <(cpu_snap)
	# cores used by everything else on the machine during the run
	local other
	other=$(awk -v b=$((busy1 - busy0 - bench1 + bench0)) -v hz="$CLK_TCK" -v ms=$((ms1 - ms0)) \
		'BEGIN {o = b / hz / (ms / 1000); printf "%.2f", (o < 0 ? 0 : o)}')

	read -r wal rows < <(q "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0'), $seq - $id0")
	[ $write = 1 ] && q "UPDATE keymgmt.keys SET blocked = false WHERE blocked" >/dev/null

	local tps lat xacts failed
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$log")
	lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$log")
	xacts=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$log")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$log")
	if [ -z "$tps" ] || [ -z "$lat" ]; then
		say "cannot read pgbench's result ($log)"; exit 1
	fi
	if [ "$wl" = blockmix ]; then
		# per script: transactions/s at one client = 1 / its median latency
		# (the median: a few flushes of a second's stall weigh nothing)
		cat "$LOGS/$tag".[0-9]* | "$PYTHON" -c '
import statistics, sys
impls = sys.argv[1].split()
lat = {i: [] for i in range(len(impls))}
for line in sys.stdin:
    f = line.split()
    lat[int(f[3])].append(int(f[2]) / 1000.0)
failed = int(sys.argv[5])   # of the whole run: counted once, on the first
for i, name in enumerate(impls):
    m = statistics.median(lat[i])
    print(f"{sys.argv[2]},{name},1,{sys.argv[3]},{1000 / m:.3f},{m:.3f},{len(lat[i])},"
          f"{failed if i == 0 else 0},,,{sys.argv[4]}")
' "$MIX_IMPLS" "$size,$wl" "$rep" "$other" "${failed:-0}" >>"$RESULTS"
		rm -f "$LOGS/$tag".[0-9]*
	else
		echo "$size,$wl,$impl,$c,$rep,$tps,$lat,$xacts,${failed:-0},$rows,$wal,$other" >>"$RESULTS"
	fi

	DONE=$((DONE + 1))
	local now elapsed left unit
	now=$(date +%s); elapsed=$((now - T0))
	left=$(( elapsed * (TOTAL - DONE) / DONE ))
	if [ $write = 1 ]; then unit="changes/s"; else unit="calls/s"; fi
	printf 'bench: [%3d/%d %s, ~%s left] %7s keys %-8s %-16s %d cl rep %d: %9.0f %-9s %7.3f ms  (others: %s cores)\n' \
		"$DONE" "$TOTAL" "$(fmt_elapsed $elapsed)" "$(fmt_elapsed $left)" \
		"$size" "$wl" "$impl" "$c" "$rep" \
		"$(awk -v t="$tps" -v m=$changes 'BEGIN {print t * m}')" "$unit" \
		"$(awk -v l="$lat" -v m=$changes 'BEGIN {print l / m}')" "$other"
}

LOADED=0
DONE=0
T0=$(date +%s)
current=
while read -r -u 3 size wl impl c rep; do
	if [ "$size" != "$current" ]; then
		prepare_size "$size"
		current=$size
	fi
	run_one "$size" "$wl" "$impl" "$c" "$rep"
done 3<"$PLAN"

{
	echo "finished=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "elapsed=$(fmt_elapsed $(( $(date +%s) - T0 )))"
	echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$WORK/meta.txt"

mkdir -p "$OUT"
"$PYTHON" "$BENCH/report.py" "$WORK" "$OUT"
say "wrote $OUT/results.md and $OUT/tps.png in $(fmt_elapsed $(( $(date +%s) - T0 )))"
exit
}

#!/usr/bin/env bash
# bench/lifecycle.sh -- keymgmt 1.1's lifecycle functions against the bare
# statements that do the same writes, side by side in one run (`make bench`
# runs it after bench/run.sh).  Writes its section of bench/results.md.
#
#   bash bench/lifecycle.sh           # about 12 minutes
#   QUICK=1 bash bench/lifecycle.sh   # a shake-out, about 2 minutes
#
# Measured, each against its comparator, on one throwaway cluster (the one
# bench/cluster.sh starts) with LIFE_KEYS keys:
#   rotate_key and update_key at 1 and 8 clients vs the bare statements;
#   verify_key of a previous secret in its grace vs of a current one, and of
#   a current one vs the bare primary-key SELECT, at 1 and 8 clients;
#   a list_keys page of 100 vs the bare keyset query, at 1 and 8 clients;
#   block_keys of 10,000 and 100,000 keys of a team vs one bare set-based
#   UPDATE ... RETURNING + INSERT ... SELECT of the audit rows, with the
#   backend's peak private memory.
#
# Knobs: LIFE_KEYS (1000000), BENCH_REPS (5), BENCH_SECONDS (4),
# LIFE_CLIENTS ("1 8"), LIFE_PAIRS (workload:impl,impl ...; all of them),
# LIFE_BULK ("10000 100000"; "" for none), BENCH_INSTALL=0, BENCH_OUT
# (bench/), BENCH_NICE.

# one compound command, read before any of it runs
{
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
BENCH=$TOP/bench

if [ "${QUICK:-0}" = 1 ]; then
	: "${LIFE_KEYS:=100000}" "${BENCH_REPS:=1}" "${BENCH_SECONDS:=2}"
fi
NKEYS=${LIFE_KEYS:-1000000}
REPS=${BENCH_REPS:-5}
DURATION=${BENCH_SECONDS:-4}
CLIENTS=${LIFE_CLIENTS:-1 8}
OUT=${BENCH_OUT:-$BENCH}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PYTHON=/usr/bin/python3
# keys 1..PREV were rotated once (their sk-bench-<i> is a previous secret in
# grace); PREV+1..HALF are verified by their current secret; HALF+1..NKEYS
# are rotated and updated by the runs, and hold the bulk teams
HALF=$((NKEYS / 2))
PREV=$((HALF / 5 < 20000 ? HALF / 5 : 20000))
BULK_SIZES="10000 100000"
[ "$NKEYS" -lt 400000 ] && BULK_SIZES="10000"
BULK_SIZES=${LIFE_BULK-$BULK_SIZES}

say() { printf '%s\n' "bench-lifecycle: $*"; }

source "$TOP/tools/packages.sh"
install_packages bench make gcc postgresql-15 postgresql-server-dev-15 \
	postgresql-contrib python3
if [ "${BENCH_INSTALL:-1}" = 1 ]; then
	say "building and installing keymgmt from $TOP"
	make -s PG_CONFIG="$PG_CONFIG"
	make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
fi
PGBIN=$("$PG_CONFIG" --bindir)
NICENESS=${BENCH_NICE:-$([ "$(id -u)" -eq 0 ] && echo -10 || echo 0)}
renice -n "$NICENESS" -p $$ >/dev/null

source "$BENCH/cluster.sh"

psql_ -d postgres -c "CREATE DATABASE bench"
psql_ -c "CREATE EXTENSION keymgmt" -c "CREATE EXTENSION pg_prewarm" >/dev/null

# ------------------------------------------------------------------ keys
# key_id of key i: a fixed UUIDv7-shaped value pgbench scripts can compute
say "loading $NKEYS keys"
t0=$(date +%s)
psql_ -v nkeys="$NKEYS" -v half="$HALF" -v prev="$PREV" <<'SQL'
INSERT INTO keymgmt.keys (token, key_name, user_id, team_id, organization_id,
                          metadata, created_by, updated_by, key_id)
SELECT encode(sha256(convert_to('sk-bench-' || i, 'UTF8')), 'hex'),
       'sk-...' || right('sk-bench-' || i, 4), 'user-' || (i % 5000),
       CASE WHEN i > :half AND i <= :half + 10000 THEN 'bulk-10000'
            WHEN i > :half + 10000 AND i <= :half + 110000 THEN 'bulk-100000'
            ELSE 'team-' || (i % 200) END,
       'org-' || (i % 20), jsonb_build_object('tier', 'bench', 'rpm_limit', 600),
       'bench-import', 'bench-import',
       ('01800000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid
FROM generate_series(1, :nkeys) i;
-- keys 1..prev rotated once, a day of grace: sk-bench-<i> is a previous secret
WITH r AS (SELECT k.key_id, k.token AS old FROM keymgmt.keys k
           WHERE k.key_id <= ('01800000-0000-7000-8000-' || lpad(to_hex(:prev), 12, '0'))::uuid),
u AS (UPDATE keymgmt.keys k SET token = encode(sha256(convert_to('sk-bench-rotated-' || r.old, 'UTF8')), 'hex')
      FROM r WHERE k.key_id = r.key_id RETURNING r.old, k.key_id)
INSERT INTO keymgmt.previous_tokens (token, key_id, valid_until)
SELECT u.old, u.key_id, now() + interval '1 day' FROM u;
VACUUM (ANALYZE) keymgmt.keys;
VACUUM (ANALYZE) keymgmt.previous_tokens;
SQL
say "loaded in $(( $(date +%s) - t0 ))s"

reset_state() {	# the same state before every write run
	psql_ -c "DELETE FROM keymgmt.previous_tokens WHERE valid_until < now() + interval '1 hour'" \
		-c "UPDATE keymgmt.keys SET blocked = false WHERE blocked" \
		-c "TRUNCATE keymgmt.audit_log" \
		-c "VACUUM (ANALYZE) keymgmt.keys" -c "VACUUM keymgmt.previous_tokens" \
		-c "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'keymgmt' AND c.relkind IN ('r', 'i')" \
		-c "CHECKPOINT" >/dev/null
}
reset_state

# ----------------------------------------------------------------- pgbench
RESULTS=$WORK/lifecycle.csv
echo "kind,workload,impl,clients,rep,value,extra" >"$RESULTS"
PAIRS=${LIFE_PAIRS:-rotate:keymgmt,keymgmt-nonotify,bare update:keymgmt,keymgmt-nonotify,bare verifyprev:keymgmt verifycur:keymgmt,bare list:keymgmt,bare}
TOTAL=$(( REPS * $(wc -w <<<"$CLIENTS") * $(tr ' ,' '\n\n' <<<"$PAIRS" | grep -c .) ))
DONE=0
run_pgbench() {	# workload impl clients rep
	local wl=$1 impl=$2 c=$3 rep=$4 j=$(($3 < 2 ? 1 : 2)) log tps lat
	log=$LOGS/$wl-$impl-c$c-r$rep.log
	case $wl in rotate|update) reset_state ;; esac
	local opts=""
	[[ $impl == *-nonotify ]] && opts="-c keymgmt.notify=off"
	PGOPTIONS="$opts" "$PGBIN/pgbench" -n -M prepared -c "$c" -j "$j" -T "$DURATION" \
		-D nkeys="$NKEYS" -D half="$HALF" -D prev="$PREV" \
		-f "$BENCH/workloads/$wl-${impl%-nonotify}.sql" >"$log" 2>&1 ||
		{ say "pgbench failed: $log"; tail -5 "$log"; exit 1; }
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$log")
	lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$log")
	echo "pgbench,$wl,$impl,$c,$rep,$tps,$lat" >>"$RESULTS"
	DONE=$((DONE + 1))
	printf 'bench-lifecycle: [%2d/%d] %-10s %-7s %d cl rep %d: %9.0f/s %7.3f ms\n' \
		"$DONE" "$TOTAL" "$wl" "$impl" "$c" "$rep" "$tps" "$lat"
}
for rep in $(seq "$REPS"); do
	for c in $CLIENTS; do
		for pair in $PAIRS; do
			wl=${pair%%:*}
			impls=${pair#*:}
			impls=${impls//,/ }
			# every other repetition the other one first
			[ $((rep % 2)) = 0 ] && impls=$(tr ' ' '\n' <<<"$impls" | tac | tr '\n' ' ')
			for impl in $impls; do run_pgbench "$wl" "$impl" "$c" "$rep"; done
		done
	done
done

# --------------------------------------------------------------- bulk
# One call each, timed in the backend, its private memory sampled from
# /proc while it runs (RssAnon: what the backend itself allocated; shared
# buffers are not in it).
bulk_sql() {	# impl team
	case $1 in
	keymgmt) echo "SELECT count(*) FROM keymgmt.block_keys(team_id => '$2')" ;;
	keymgmt-nonotify) echo "SET keymgmt.notify = off; SELECT count(*) FROM keymgmt.block_keys(team_id => '$2')" ;;
	bare) echo "WITH u AS (UPDATE keymgmt.keys k SET blocked = true, updated_at = now(), updated_by = session_user FROM keymgmt.keys o WHERE k.team_id = '$2' AND NOT k.blocked AND o.token = k.token RETURNING k, to_jsonb(o) AS before), a AS (INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id, key_id, changed_by, db_role, before_value, updated_values) SELECT 'key', now(), 'blocked', (u.k).token, (u.k).key_id, session_user, session_user, u.before, '{\"blocked\": true}' FROM u) SELECT count(*) FROM u" ;;
	esac
}
for rep in $(seq "$REPS"); do
	for n in $BULK_SIZES; do
		for impl in keymgmt keymgmt-nonotify bare; do
			reset_state
			out=$WORK/bulk.out
			printf '%s\n' "SELECT pg_backend_pid();" "SELECT pg_sleep(0.3);" \
				"SELECT clock_timestamp() AS t0 \\gset" "$(bulk_sql $impl bulk-$n);" \
				"SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000;" >"$WORK/bulk.sql"
			( psql_ -At -f "$WORK/bulk.sql" >"$out" ) &
			bg=$!
			pid=
			while [ -z "$pid" ] && kill -0 $bg 2>/dev/null; do pid=$(head -1 "$out" 2>/dev/null); sleep 0.02; done
			base=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
			peak=$base
			while kill -0 $bg 2>/dev/null; do
				v=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
				[ "${v:-0}" -gt "$peak" ] && peak=$v
				sleep 0.02
			done
			wait $bg
			rows=$(tail -2 "$out" | head -1)
			ms=$(tail -1 "$out")
			[ "$rows" = "$n" ] || { say "bulk $impl bulk-$n changed $rows keys, not $n"; exit 1; }
			echo "bulk,block_keys-$n,$impl,1,$rep,$ms,$((peak - base))" >>"$RESULTS"
			printf 'bench-lifecycle: bulk %6d keys %-17s rep %d: %8.0f ms, peak private memory +%d kB\n' \
				"$n" "$impl" "$rep" "$ms" $((peak - base))
		done
	done
done

# --------------------------------------------------------------- report
mkdir -p "$OUT"
"$PYTHON" - "$RESULTS" "$OUT/results.md" "$NKEYS" "$REPS" "$DURATION" "$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'PY'
import csv, statistics, sys
from collections import defaultdict
results, md, nkeys, reps, seconds, head = sys.argv[1:7]
rows = list(csv.DictReader(open(results)))
med = defaultdict(list)
for r in rows:
    med[(r["kind"], r["workload"], r["impl"], int(r["clients"]))].append(r)
def m(kind, wl, impl, c, field="value"):
    v = [float(r[field]) for r in med[(kind, wl, impl, c)] if r[field]]
    return statistics.median(v) if v else None
def ratio_rounds(wl, a, b, c):
    """median of per-round ratios a/b (each round measured side by side)"""
    ra = {r["rep"]: float(r["value"]) for r in med[("pgbench", wl[0], a, c)]}
    rb = {r["rep"]: float(r["value"]) for r in med[("pgbench", wl[1], b, c)]}
    q = [ra[k] / rb[k] for k in ra if k in rb and rb[k] > 0]
    return statistics.median(q) if q else None
clients = sorted({int(r["clients"]) for r in rows if r["kind"] == "pgbench"})
out = []
out.append("<!-- lifecycle: written by bench/lifecycle.sh -->")
out.append("## keymgmt 1.1 lifecycle (bench/lifecycle.sh)")
out.append("")
out.append(f"{int(nkeys):,} keys, median of {reps} rounds of {seconds} s per figure; ratios are the median of "
           f"per-round ratios (both sides measured in the same round); commit {head}.")
out.append("")
out.append("| figure | target | " + " | ".join(f"{c} client{'s' if c > 1 else ''}" for c in clients) + " |")
out.append("|---|---|" + "---|" * len(clients))
checks = [
    ("rotate_key ÷ the bare statements", ("rotate", "rotate"), "keymgmt", "bare", 0.9, {1}),
    ("rotate_key, notify off ÷ the bare statements", ("rotate", "rotate"), "keymgmt-nonotify", "bare", 0.9, {1}),
    ("update_key ÷ the bare statements", ("update", "update"), "keymgmt", "bare", 0.9, {1}),
    ("update_key, notify off ÷ the bare statements", ("update", "update"), "keymgmt-nonotify", "bare", 0.9, {1}),
    ("verify_key, previous secret ÷ current", ("verifyprev", "verifycur"), "keymgmt", "keymgmt", 0.85, None),
    ("verify_key ÷ the bare primary-key SELECT", ("verifycur", "verifycur"), "keymgmt", "bare", 1.0, {8}),
    ("list_keys page of 100 ÷ the bare keyset query", ("list", "list"), "keymgmt", "bare", 0.8, None),
]
for name, wl, a, b, target, at in checks:
    cells = []
    for c in clients:
        r = ratio_rounds(wl, a, b, c)
        if r is None:
            cells.append("–")
            continue
        judged = at is None or c in at
        verdict = ("pass" if r >= target else "**miss**") if judged else ""
        cells.append(f"{r:.2f}× {verdict}".strip())
    where = "" if at is None else " at " + ", ".join(f"{c} cl" for c in sorted(at))
    out.append(f"| {name} | ≥ {target}×{where} | " + " | ".join(cells) + " |")
out.append("")
out.append("Throughput (calls/s, median):")
out.append("")
out.append("| workload | implementation | " + " | ".join(f"{c} cl" for c in clients) + " |")
out.append("|---|---|" + "---|" * len(clients))
for wl, impls in [("rotate", ["keymgmt", "keymgmt-nonotify", "bare"]), ("update", ["keymgmt", "keymgmt-nonotify", "bare"]),
                  ("verifyprev", ["keymgmt"]), ("verifycur", ["keymgmt", "bare"]), ("list", ["keymgmt", "bare"])]:
    for impl in impls:
        cells = [f"{m('pgbench', wl, impl, c):,.0f}" if m('pgbench', wl, impl, c) else "–" for c in clients]
        out.append(f"| {wl} | {impl} | " + " | ".join(cells) + " |")
out.append("")
bulk = sorted({r["workload"] for r in rows if r["kind"] == "bulk"}, key=lambda w: int(w.split("-")[1]))
if bulk:
    out.append("block_keys of one team's keys, one call (median ms; peak private memory of the backend, RssAnon above its level before the call):")
    out.append("")
    out.append("| keys | keymgmt | keymgmt, notify off | bare UPDATE + INSERT | bare ÷ keymgmt (target ≥ 0.7×) | bare ÷ keymgmt, notify off |")
    out.append("|---|---|---|---|---|---|")
    for wl in bulk:
        k, kn, b = (m("bulk", wl, i, 1) for i in ("keymgmt", "keymgmt-nonotify", "bare"))
        km, knm, bm = (m("bulk", wl, i, 1, "extra") for i in ("keymgmt", "keymgmt-nonotify", "bare"))
        r1, r2 = b / k, b / kn
        out.append(f"| {int(wl.split('-')[1]):,} | {k:,.0f} ms, +{km / 1024:.1f} MB | {kn:,.0f} ms, +{knm / 1024:.1f} MB | "
                   f"{b:,.0f} ms, +{bm / 1024:.1f} MB | {r1:.2f}× {'pass' if r1 >= 0.7 else '**miss**'} | "
                   f"{r2:.2f}× {'pass' if r2 >= 0.7 else '**miss**'} |")
    out.append("")
out.append("<!-- /lifecycle -->")
section = "\n".join(out) + "\n"
try:
    text = open(md).read()
except FileNotFoundError:
    text = "# keymgmt benchmark results\n\n"
start, end = text.find("<!-- lifecycle:"), text.find("<!-- /lifecycle -->")
if start >= 0 and end >= 0:
    text = text[:start] + section + text[end + len("<!-- /lifecycle -->\n"):]
else:
    text = text.rstrip("\n") + "\n\n" + section
open(md, "w").write(text)
print(section)
PY
say "wrote its section of $OUT/results.md"
exit
}

#!/usr/bin/env bash
# bench/feed.sh -- the change feed and keymgmt.notify's modes, side by side
# in one run (`make bench` runs it after lifecycle.sh).  Writes its section
# of bench/results.md.
#
#   bash bench/feed.sh            # about 12 minutes
#   QUICK=1 bash bench/feed.sh    # a shake-out, about 2 minutes
#
# On one throwaway cluster (bench/cluster.sh) with keymgmt preloaded, so the
# batched notifier runs, and FEED_KEYS keys:
#   block_key (one block and one unblock per pgbench transaction) at 1, 2,
#   4 and 8 clients with keymgmt.notify = commit, batched and off, and the
#   LiteLLM three-statement pattern; at 8 clients the client backends' wait
#   events are sampled (PostgreSQL's NOTIFY lock shows as Lock:object);
#   commit-to-listener latency (bench/wakeup.py) at 100 and 1,000 changes/s
#   in batched and commit mode;
#   a changes() call returning 1,000 rows from a 1,000,000-row audit log
#   against the bare index range query, at 1 and 8 clients;
#   verify_key against the bare primary-key SELECT at 8 clients, with the
#   feed's library loaded (it must be unchanged).
#
# Knobs: FEED_KEYS (100000), BENCH_REPS (3), BENCH_SECONDS (5), FEED_CLIENTS
# ("1 2 4 8"), BENCH_INSTALL=0, BENCH_OUT (bench/), BENCH_NICE.

# one compound command, read before any of it runs
{
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
BENCH=$TOP/bench

if [ "${QUICK:-0}" = 1 ]; then
	: "${FEED_KEYS:=20000}" "${BENCH_REPS:=1}" "${BENCH_SECONDS:=2}" "${FEED_AUDIT_ROWS:=100000}"
fi
NKEYS=${FEED_KEYS:-100000}
REPS=${BENCH_REPS:-3}
DURATION=${BENCH_SECONDS:-5}
CLIENTS=${FEED_CLIENTS:-1 2 4 8}
AUDIT_ROWS=${FEED_AUDIT_ROWS:-1000000}
OUT=${BENCH_OUT:-$BENCH}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PYTHON=/usr/bin/python3
MAX_CLIENTS=$(tr ' ' '\n' <<<"$CLIENTS" | sort -n | tail -1)

say() { printf '%s\n' "bench-feed: $*"; }

source "$TOP/tools/packages.sh"
install_packages bench make gcc postgresql-15 postgresql-server-dev-15 \
	postgresql-contrib python3 python3-psycopg
if [ "${BENCH_INSTALL:-1}" = 1 ]; then
	say "building and installing keymgmt from $TOP"
	make -s PG_CONFIG="$PG_CONFIG"
	make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
fi
PGBIN=$("$PG_CONFIG" --bindir)
NICENESS=${BENCH_NICE:-$([ "$(id -u)" -eq 0 ] && echo -10 || echo 0)}
renice -n "$NICENESS" -p $$ >/dev/null

BENCH_EXTRA_CONF="shared_preload_libraries = 'keymgmt'
keymgmt.database = 'bench'"
source "$BENCH/cluster.sh"

psql_ -d postgres -c "CREATE DATABASE bench"
psql_ -c "CREATE EXTENSION keymgmt" -f "$BENCH/harness.sql" >/dev/null
# the cluster's mode is batched, so the notifier works; each run sets its own
set_mode() { psql_ -c "ALTER SYSTEM SET keymgmt.notify = $1" -c "SELECT pg_reload_conf()" >/dev/null; sleep 0.3; }
set_mode batched

say "loading $NKEYS keys"
psql_ -v nkeys="$NKEYS" <<'SQL'
SET keymgmt.notify = off;
INSERT INTO keymgmt.keys (token, key_name, user_id, team_id, organization_id,
                          metadata, created_by, updated_by)
SELECT encode(sha256(convert_to('sk-bench-' || i, 'UTF8')), 'hex'),
       'sk-...' || right('sk-bench-' || i, 4), 'user-' || (i % 5000),
       'team-' || (i % 200), 'org-' || (i % 20),
       jsonb_build_object('tier', 'bench', 'rpm_limit', 600), 'bench-import', 'bench-import'
FROM generate_series(1, :nkeys) i;
VACUUM (ANALYZE) keymgmt.keys;
SQL

# the notifier connects once the database exists (it retries every 5 s)
for _ in $(seq 100); do
	[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'keymgmt notifier' AND datname = 'bench'")" = 1 ] && break
	sleep 0.2
done
[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'keymgmt notifier' AND datname = 'bench'")" = 1 ] ||
	{ say "the keymgmt notifier is not running"; exit 1; }

RESULTS=$WORK/feed.csv
echo "kind,workload,impl,clients,rep,value,extra" >"$RESULTS"
mkdir -p "$WORK/waits"

# ------------------------------------------------------------ block modes
# commit, batched, off and the LiteLLM pattern in one pgbench run, its
# scripts drawn at random transaction by transaction: they share every WAL
# flush and every second of this machine's noise, and each one's throughput
# is that of all the clients at its latency (2 changes x clients / its
# average latency).  Each script sets its mode first (the LiteLLM one too,
# so all pay that statement).  Commit mode also runs alone: its absolute
# throughput, and the wait events of its NOTIFY lock.
for m in commit batched off; do
	{ echo "SET keymgmt.notify = $m;"; cat "$BENCH/workloads/block-keymgmt.sql"; } >"$WORK/mix-$m.sql"
done
{ echo "SET keymgmt.notify = off;"; cat "$BENCH/workloads/block-litellm.sql"; } >"$WORK/mix-litellm.sql"
MIXED="commit batched off litellm"
TOTAL=$(( REPS * $(wc -w <<<"$CLIENTS") * 2 ))
DONE=0
run_block() {	# commit|mix clients rep
	local what=$1 c=$2 rep=$3 j=$(($2 < 2 ? 1 : 2)) log sampler=0 seconds=$DURATION
	local scripts=()
	log=$LOGS/block-$what-c$c-r$rep.log
	if [ "$what" = commit ]; then
		scripts=(-f "$BENCH/workloads/block-keymgmt.sql")
	else
		for m in $MIXED; do scripts+=(-f "$WORK/mix-$m.sql"); done
		seconds=$((DURATION * 4))
	fi
	psql_ -c "TRUNCATE keymgmt.audit_log" -c "CHECKPOINT" >/dev/null
	if [ "$c" = "$MAX_CLIENTS" ]; then
		sampler=1
		( sleep 0.5
		  q "SELECT * FROM bench_harness.sample_waits($(awk -v d="$seconds" 'BEGIN {print (d > 1.5 ? d - 1 : 0.5)}'))" \
			>"$WORK/waits/$what-r$rep.txt" ) &
		SAMPLER_PID=$!
	fi
	PGOPTIONS="-c keymgmt.notify=commit" "$PGBIN/pgbench" -n -M prepared -c "$c" -j "$j" -T "$seconds" \
		-D nkeys="$NKEYS" "${scripts[@]}" >"$log" 2>&1 ||
		{ say "pgbench failed: $log"; tail -5 "$log"; exit 1; }
	if [ $sampler = 1 ]; then wait "$SAMPLER_PID"; SAMPLER_PID=; fi
	q "UPDATE keymgmt.keys SET blocked = false WHERE blocked" >/dev/null
	if [ "$what" = commit ]; then
		local tps lat
		tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$log")
		lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$log")
		echo "block,block,commit-alone,$c,$rep,$(awk -v t="$tps" 'BEGIN {print t * 2}'),$lat" >>"$RESULTS"
	else
		# per script: "SQL script N: <file>" ... " - latency average = X ms"
		awk -v c="$c" -v rep="$rep" '
			/^SQL script [0-9]+:/ { n = $NF; sub(/.*mix-/, "", n); sub(/\.sql$/, "", n) }
			/^ - latency average = / && n != "" { printf "block,block,%s,%d,%d,%.1f,%s\n", n, c, rep, 2 * c * 1000 / $5, $5; n = "" }
		' "$log" >>"$RESULTS"
	fi
	DONE=$((DONE + 1))
	say "[$DONE/$TOTAL] block $what $c cl rep $rep: $(grep "^block,block,.*,$c,$rep," "$RESULTS" | tail -n +1 | awk -F, '{printf "%s %.0f/s  ", $3, $6}')"
}
for rep in $(seq "$REPS"); do
	for c in $CLIENTS; do
		if [ $((rep % 2)) = 0 ]; then order="mix commit"; else order="commit mix"; fi
		for what in $order; do run_block "$what" "$c" "$rep"; done
	done
done

# ------------------------------------------------------- wake-up latency
DSN="host=$PGHOST port=$PGPORT user=$PGUSER dbname=bench"
for mode in batched commit; do
	set_mode "$mode"
	for r in 100 1000; do
		# every key unblocked: each writer knows the state of its own keys
		q "UPDATE keymgmt.keys SET blocked = false WHERE blocked" >/dev/null
		out=$("$PYTHON" "$BENCH/wakeup.py" "$DSN" "$r" $((DURATION * 2)) "$NKEYS")
		say "wake-up $mode at $r changes/s: $out"
		p50=$(sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p' <<<"$out")
		p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"$out")
		got=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$out")
		echo "wakeup,wakeup-$r,$mode,1,1,$p50,$p99 $got" >>"$RESULTS"
	done
done
set_mode batched
q "UPDATE keymgmt.keys SET blocked = false WHERE blocked" >/dev/null

# ---------------------------------------------------- changes() vs bare
say "loading $AUDIT_ROWS audit rows"
# 2,000 rows per transaction id, all below the snapshot's xmin: burn enough
# transaction ids first
NTX=$((AUDIT_ROWS / 2000 + 1))
echo "SELECT pg_current_xact_id();" >"$WORK/burn.sql"
"$PGBIN/pgbench" -n -c 1 -t $((NTX + 10)) -f "$WORK/burn.sql" >/dev/null 2>&1
psql_ -v rows="$AUDIT_ROWS" <<'SQL'
TRUNCATE keymgmt.audit_log;
INSERT INTO keymgmt.audit_log (id, object_type, changed_at, action, object_id, key_id,
                               changed_by, db_role, before_value, updated_values, txid)
OVERRIDING SYSTEM VALUE
SELECT i, 'key', now(), CASE WHEN i % 2 = 0 THEN 'blocked' ELSE 'unblocked' END,
       encode(sha256(convert_to('sk-bench-' || (i % 1000 + 1), 'UTF8')), 'hex'),
       gen_random_uuid(), 'bench', 'bench', '{}', '{"blocked": true}',
       (i / 2000 + 1)::text::xid8
FROM generate_series(1, :rows) i;
VACUUM (ANALYZE) keymgmt.audit_log;
SQL
PREFIX=$(q "SELECT split_part(keymgmt.current_cursor(), ':', 1) || ':' || split_part(keymgmt.current_cursor(), ':', 2)")
cat >"$WORK/changes-keymgmt.sql" <<'SQL'
\set i random(1, :rows - 1000)
SELECT * FROM keymgmt.changes(:prefix || ':' || (:i / 2000 + 1) || ':' || :i, 1000);
SQL
cat >"$WORK/changes-bare.sql" <<'SQL'
\set i random(1, :rows - 1000)
SELECT a.txid, a.id, a.object_type, a.action, a.object_id, a.key_id, a.changed_at FROM keymgmt.audit_log a WHERE (a.txid, a.id) > ((:i / 2000 + 1)::text::xid8, :i::bigint) AND a.txid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY a.txid, a.id LIMIT 1000;
SQL
for rep in $(seq "$REPS"); do
	for c in 1 "$MAX_CLIENTS"; do
		impls="keymgmt bare"
		[ $((rep % 2)) = 0 ] && impls="bare keymgmt"
		for impl in $impls; do
			log=$LOGS/changes-$impl-c$c-r$rep.log
			"$PGBIN/pgbench" -n -M prepared -c "$c" -j $((c < 2 ? 1 : 2)) -T "$DURATION" \
				-D rows="$AUDIT_ROWS" -D prefix="$PREFIX" -f "$WORK/changes-$impl.sql" >"$log" 2>&1 ||
				{ say "pgbench failed: $log"; tail -5 "$log"; exit 1; }
			tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$log")
			echo "pgbench,changes,$impl,$c,$rep,$tps," >>"$RESULTS"
			say "changes $impl $c cl rep $rep: $tps calls/s"
		done
	done
done

# ------------------------------------------------ verify_key, unchanged
for rep in $(seq "$REPS"); do
	for impl in keymgmt bare; do
		log=$LOGS/verify-$impl-r$rep.log
		"$PGBIN/pgbench" -n -M prepared -c "$MAX_CLIENTS" -j 2 -T "$DURATION" \
			-D nkeys="$NKEYS" -D unknown=0 -f "$BENCH/workloads/verify-$impl.sql" >"$log" 2>&1 ||
			{ say "pgbench failed: $log"; tail -5 "$log"; exit 1; }
		tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$log")
		echo "pgbench,verify,$impl,$MAX_CLIENTS,$rep,$tps," >>"$RESULTS"
		say "verify $impl $MAX_CLIENTS cl rep $rep: $tps calls/s"
	done
done

# ------------------------------------------------------------- waits
for f in "$WORK"/waits/*.txt; do
	[ -f "$f" ] || continue
	impl=$(basename "$f" .txt); impl=${impl%-r*}
	total=$(awk '{s += $2} END {print s + 0}' "$f")
	lock=$(awk '$1 == "Lock:object" {print $2}' "$f")
	echo "waits,block,$impl,$MAX_CLIENTS,0,${lock:-0},$total" >>"$RESULTS"
done

# ------------------------------------------------------------- report
mkdir -p "$OUT"
"$PYTHON" - "$RESULTS" "$OUT/results.md" "$NKEYS" "$REPS" "$DURATION" "$AUDIT_ROWS" \
	"$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'PY'
import csv, statistics, sys
from collections import defaultdict
results, md, nkeys, reps, seconds, audit_rows, head = sys.argv[1:8]
rows = list(csv.DictReader(open(results)))
by = defaultdict(list)
for r in rows:
    by[(r["kind"], r["workload"], r["impl"], int(r["clients"]))].append(r)
def med(kind, wl, impl, c):
    v = [float(r["value"]) for r in by[(kind, wl, impl, c)] if r["value"]]
    return statistics.median(v) if v else None
def ratio(kind, wl, a, b, c):
    ra = {r["rep"]: float(r["value"]) for r in by[(kind, wl, a, c)]}
    rb = {r["rep"]: float(r["value"]) for r in by[(kind, wl, b, c)]}
    q = [ra[k] / rb[k] for k in ra if k in rb and rb[k] > 0]
    return statistics.median(q) if q else None
fmt = lambda v: "–" if v is None else f"{v:,.0f}"
fr = lambda v: "–" if v is None else f"{v:.2f}×"
clients = sorted({int(r["clients"]) for r in rows if r["kind"] == "block"})
top = max(clients)
out = [f"<!-- feed: written by bench/feed.sh; do not edit by hand -->",
       f"### The change feed and the notification modes (bench/feed.sh)",
       "",
       f"{int(nkeys):,} keys, {reps} rounds of {seconds} s, commit {head}; block_key is one block and one "
       "unblock per pgbench transaction (two changes), each its own transaction; ratios are medians of "
       "per-round ratios.",
       "",
       "block_key, changes/s (median). commit, batched, off and the LiteLLM pattern ran in one pgbench run, "
       "their scripts drawn at random transaction by transaction (sharing every WAL flush), each "
       "figure being all clients at that script's average latency; commit also ran alone:",
       "",
       "| clients | " + " | ".join(["commit alone", "commit", "batched", "off", "LiteLLM pattern"]) + " | batched ÷ off | batched ÷ LiteLLM | batched ÷ commit |",
       "|---|---|---|---|---|---|---|---|---|"]
for c in clients:
    out.append(f"| {c} | " + " | ".join(fmt(med("block", "block", i, c)) for i in ["commit-alone", "commit", "batched", "off", "litellm"])
               + f" | {fr(ratio('block', 'block', 'batched', 'off', c))} | {fr(ratio('block', 'block', 'batched', 'litellm', c))}"
               + f" | {fr(ratio('block', 'block', 'batched', 'commit', c))} |")
out += ["", f"Targets at {top} clients: batched ≥ 0.9× off "
        f"({'met' if (ratio('block','block','batched','off',top) or 0) >= 0.9 else '**missed**'}), "
        f"batched ≥ 1.5× the LiteLLM pattern "
        f"({'met' if (ratio('block','block','batched','litellm',top) or 0) >= 1.5 else '**missed**'}).", "",
        f"Client backends' wait events at {top} clients, share of samples on Lock:object (PostgreSQL's NOTIFY lock):", ""]
waits = defaultdict(lambda: [0, 0])
for r in rows:
    if r["kind"] == "waits":
        waits[r["impl"]][0] += int(float(r["value"]))
        waits[r["impl"]][1] += int(float(r["extra"]))
out.append("| mode | Lock:object | samples |")
out.append("|---|---|---|")
for impl, label in [("commit", "commit alone"), ("mix", "the four mixed")]:
    l, t = waits[impl]
    out.append(f"| {label} | {100.0 * l / t:.0f}% | {t} |" if t else f"| {label} | – | 0 |")
out += ["", "Commit-to-listener latency (bench/wakeup.py: four writers at the rate, a listener reading "
        "changes() on each notification or every second; keymgmt.notify_interval 50 ms):", "",
        "| mode | rate asked | rate done | p50 | p99 |", "|---|---|---|---|---|"]
for r in rows:
    if r["kind"] == "wakeup":
        p99, done = r["extra"].split()
        ok = "" if r["impl"] != "batched" else (" (target ≤ 100 ms: met)" if float(p99) <= 100 else " (target ≤ 100 ms: **missed**)")
        out.append(f"| {r['impl']} | {r['workload'].split('-')[1]}/s | {done}/s | {float(r['value']):.0f} ms | {float(p99):.0f} ms{ok} |")
out += ["", f"changes() returning 1,000 rows from a {int(audit_rows):,}-row audit log, against the bare index range query "
        "(calls/s, median; target ≥ 0.7×):", "",
        "| clients | changes() | bare | ratio |", "|---|---|---|---|"]
for c in sorted({int(r["clients"]) for r in rows if r["workload"] == "changes"}):
    out.append(f"| {c} | {fmt(med('pgbench','changes','keymgmt',c))} | {fmt(med('pgbench','changes','bare',c))} | {fr(ratio('pgbench','changes','keymgmt','bare',c))} |")
out += ["", f"verify_key with the library preloaded, {top} clients: {fmt(med('pgbench','verify','keymgmt',top))}/s against "
        f"{fmt(med('pgbench','verify','bare',top))}/s for the bare SELECT ({fr(ratio('pgbench','verify','keymgmt','bare',top))}).",
        "", "<!-- /feed -->"]
section = "\n".join(out) + "\n"
try:
    text = open(md).read()
except FileNotFoundError:
    text = ""
if "<!-- feed:" in text:
    a = text.index("<!-- feed:")
    b = text.index("<!-- /feed -->") + len("<!-- /feed -->\n")
    text = text[:a] + section + text[b:]
else:
    text = text.rstrip("\n") + "\n\n" + section
open(md, "w").write(text)
print(section)
PY
say "wrote its section of $OUT/results.md"
exit 0
}

#!/usr/bin/env python3
"""bench/report.py WORKDIR OUTDIR -- results.md and tps.png from a bench/run.sh run.

Reads WORKDIR/meta.txt, WORKDIR/results.csv (one line per pgbench run),
WORKDIR/waits/*.txt (wait-event samples) and WORKDIR/postgresql.conf.
Standard library only; the chart is drawn by gnuplot.
"""
import csv
import os
import statistics
import subprocess
import sys
from collections import defaultdict

WORK, OUT = sys.argv[1], sys.argv[2]

NAMES = {
    "keymgmt": "keymgmt",
    "keymgmt-nonotify": "keymgmt, notify off",
    "plpgsql": "PL/pgSQL reference",
    "plpgsql-nonotify": "PL/pgSQL ref., notify off",
    "litellm": "LiteLLM pattern",
    "floor": "bare statement (floor)",
    "bare": "bare SELECT",
    "select1": "SELECT 1 (floor)",
}
WORKLOADS = {
    "block": "block/unblock (changes per second)",
    "verify": "verify, existing keys (calls per second)",
    "verify10": "verify, 10% unknown keys (calls per second)",
}
# implementations shown in the main tables, in order; the first is keymgmt
SHOWN = {
    "block": ["keymgmt", "plpgsql", "litellm", "floor"],
    "verify": ["keymgmt", "plpgsql", "bare", "select1"],
    "verify10": ["keymgmt", "plpgsql", "bare", "select1"],
}
# a block/unblock pgbench transaction is two changes; blockmix is the
# 1-client run of every block implementation at once (rate = 1 / median)
PER_XACT = {"block": 2, "blockmix": 2, "verify": 1, "verify10": 1}
WL_ORDER = list(WORKLOADS) + ["blockmix"]


def read_meta():
    meta = {}
    with open(os.path.join(WORK, "meta.txt")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            meta[k] = v.strip()
    return meta


def read_runs():
    runs = defaultdict(list)
    with open(os.path.join(WORK, "results.csv")) as f:
        for r in csv.DictReader(f):
            key = (int(r["size"]), r["workload"], r["impl"], int(r["clients"]))
            m = PER_XACT[r["workload"]]
            xacts = int(r["xacts"] or 0)
            runs[key].append({
                "rep": int(r["rep"]),
                "rate": float(r["tps"]) * m,
                "lat": float(r["latency_ms"]) / m,
                "calls": xacts * m,
                "failed": int(r["failed"] or 0),
                "audit": int(r["audit_rows"] or 0),
                "wal": float(r["wal_bytes"] or 0),
                "other": float(r.get("other_cores") or 0),
            })
    return runs


def read_waits():
    """(size, impl) -> {state: samples}, summed over the runs sampled."""
    waits = defaultdict(lambda: defaultdict(int))
    d = os.path.join(WORK, "waits")
    for name in os.listdir(d) if os.path.isdir(d) else []:
        size, _wl, rest = name[:-4].split("-", 2)
        impl = rest.rsplit("-c", 1)[0]
        with open(os.path.join(d, name)) as f:
            for line in f:
                state, _, n = line.strip().rpartition(" ")
                if state:
                    waits[(int(size), impl)][state] += int(n)
    return waits


meta = read_meta()
runs = read_runs()
waits = read_waits()


def med(key, field="rate"):
    vals = [r[field] for r in runs.get(key, [])]
    return statistics.median(vals) if vals else None


def paired(a, b):
    """Median over the repetitions of a's rate / b's rate in the same repetition.

    Both ran in the same round, minutes apart at most, so drift of the machine
    between rounds cancels out; with the ratio of medians it brackets the truth.
    """
    ra = {r["rep"]: r["rate"] for r in runs.get(a, [])}
    rb = {r["rep"]: r["rate"] for r in runs.get(b, [])}
    vals = [ra[k] / rb[k] for k in ra if k in rb and rb[k]]
    return statistics.median(vals) if vals else None


def spread(key):
    vals = [r["rate"] for r in runs.get(key, [])]
    if len(vals) < 2:
        return None
    return (max(vals) - min(vals)) / statistics.median(vals)


sizes = sorted({k[0] for k in runs})
clients_at = {s: sorted({k[3] for k in runs if k[0] == s}) for s in sizes}
sweep = [int(x) for x in meta.get("sweep_sizes", "").split()]
headline = next((s for s in sweep if s in sizes), sizes[-1])
max_clients = int(meta["max_clients"])
small, large = sizes[0], sizes[-1]
common_clients = sorted(set.intersection(*(set(clients_at[s]) for s in sizes)))
one = min(common_clients)


def k_(n):
    return f"{n // 1000000}M" if n >= 1000000 and n % 1000000 == 0 else (
        f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n))


def fr(x):
    return "–" if x is None else f"{x:,.0f}"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def fx(x):
    return "–" if x is None else f"{x:.2f}×"


def check(x, target):
    if x is None:
        return "–"
    return f"{x:.2f}× {'pass' if x >= target else '**miss**'}"


md = []
w = md.append

w("# keymgmt benchmark: against what users would use instead")
w("")
w(f"Measured {meta['started']} by `bash bench/run.sh` (`make bench`)"
  + (" with `QUICK=1` (a shake-out: fewer sizes, one run per figure)" if meta.get("quick") == "1" else "")
  + f"; the runs took {meta.get('elapsed', '?')}. Every figure is the median of "
  f"{meta['reps']} pgbench runs of {meta['seconds']} s, and all implementations were "
  "measured in the same run, interleaved.")
w("")
w("## Machine and software")
w("")
w("| | |")
w("|---|---|")
w(f"| CPU | {meta['cpu']}, {meta['cores']} cores"
  + (f" (virtual machine, {meta['hypervisor']})" if meta.get("hypervisor") else "") + " |")
w(f"| memory | {meta['ram']} |")
w(f"| OS | {meta['os']}, {meta['kernel']} |")
w(f"| PostgreSQL | {meta['pg_version']} |")
w(f"| pgbench | {meta['pgbench']} |")
w(f"| keymgmt | commit {meta['git_head']}"
  + (f" plus uncommitted changes in {meta['git_dirty']} file(s) of src/ or sql/" if meta.get("git_dirty", "0") != "0" else "")
  + f"; {meta['installed']}; keymgmt.so sha256 {meta['so_sha256']}… |")
other_load = sorted(r["other"] for rs in runs.values() for r in rs)
w(f"| niceness | the cluster and pgbench ran at nice {meta.get('nice', '0')} |")
w("| huge pages | " + (f"on: the shared memory in {meta.get('huge_pages_count')} huge pages of 2 MB"
                      if meta.get("huge_pages") == "on" else
                      "**off**: the runs at several clients include each new connection's page faults "
                      "on the shared memory; their figures are low and climb with the run's length") + " |")
w(f"| load average | {meta['loadavg_start']} at the start, {meta.get('loadavg_end', '?')} at the end |")
w(f"| other processes | used {statistics.median(other_load):.2f} cores in the median run, "
  f"{other_load[int(0.9 * (len(other_load) - 1))]:.2f} in the 90th percentile, {other_load[-1]:.2f} at most "
  "(CPU time of the whole machine minus the benchmark's cluster and clients, during each run) |")
w("")
if statistics.median(other_load) > 0.1:
    w(f"**Other processes shared the {meta['cores']} cores with this run** (see above): its figures are "
      "lower and noisier than on a quiet machine, and runs of it are less comparable with each other "
      "than the spread below suggests; the ratios, measured side by side, suffer least.")
    w("")

w("## Targets")
w("")
w("Ratios of medians measured in this run; the key count is the column.")
w("")
w("| target | " + " | ".join(f"{k_(s)} keys" for s in sizes) + " |")
w("|---|" + "---|" * len(sizes))


def target_row(label, wl, impl, other, c, target):
    def cell(s):
        a, b = (s, wl, impl, c), (s, wl, other, c)
        x = ratio(med(a), med(b))
        return "–" if x is None else f"{check(x, target)} ({fx(paired(a, b))})"
    w(f"| {label} | " + " | ".join(cell(s) for s in sizes) + " |")


def plural(c):
    return f"{c} client{'s' if c > 1 else ''}"


mixed = any(k[1] == "blockmix" for k in runs)
target_row(f"block_key ≥ 0.95× the bare statement, {plural(one)}", "block", "keymgmt", "floor", one, 0.95)
if mixed:
    target_row("… the same, all in one 1-client run ([mixed](#one-client-all-in-one-run))",
               "blockmix", "keymgmt", "floor", 1, 0.95)
for c in sorted({one, max_clients}):
    target_row(f"block_key ≥ 1.8× the LiteLLM pattern, {plural(c)}", "block", "keymgmt", "litellm", c, 1.8)
    if mixed and c == 1:
        target_row("… the same, all in one 1-client run ([mixed](#one-client-all-in-one-run))",
                   "blockmix", "keymgmt", "litellm", 1, 1.8)
for wl, what in (("verify", "existing keys"), ("verify10", "10% unknown")):
    target_row(f"verify_key ≥ 0.95× the bare SELECT, {plural(max_clients)}, {what}",
               wl, "keymgmt", "bare", max_clients, 0.95)
    target_row(f"verify_key ≥ 1.2× the PL/pgSQL reference, {plural(max_clients)}, {what}",
               wl, "keymgmt", "plpgsql", max_clients, 1.2)
w("")
w("In brackets: the median of the ratios within each repetition (both measured in the same round, "
  "so drift of the machine between rounds cancels out). The first figure decides pass or miss.")
w("")
w(f"What one commit per change can reach against the LiteLLM pattern's two: the bare statement "
  f"(no lock, no checks, no notification) ÷ the LiteLLM pattern, {plural(one)} — a ceiling for "
  "the 1.8× target, which keymgmt, doing more than the bare statement, can approach but not pass.")
w("")
w("| | " + " | ".join(f"{k_(s)} keys" for s in sizes) + " |")
w("|---|" + "---|" * len(sizes))
w("| bare statement ÷ LiteLLM pattern, " + plural(one) + " | " + " | ".join(
    f"{fx(ratio(med((s, 'block', 'floor', one)), med((s, 'block', 'litellm', one))))} "
    f"({fx(paired((s, 'block', 'floor', one), (s, 'block', 'litellm', one)))})" for s in sizes) + " |")
w("")
w(f"Key-count scaling: keymgmt's throughput at {k_(large)} keys as a share of its throughput at {k_(small)} keys.")
w("")
w("| target | " + " | ".join(f"{c} client{'s' if c > 1 else ''}" for c in common_clients) + " |")
w("|---|" + "---|" * len(common_clients))
for wl in WORKLOADS:
    cells = [check(ratio(med((large, wl, "keymgmt", c)), med((small, wl, "keymgmt", c))), 0.8)
             for c in common_clients]
    w(f"| {wl} keeps ≥ 0.8× from {k_(small)} to {k_(large)} keys | " + " | ".join(cells) + " |")
w("")
w(f"Notifications: block_key at {max_clients} clients with `keymgmt.notify` on, as a share of off "
  "(below 0.8×: see [the wait events](#notify-on-and-off)).")
w("")
w("| | " + " | ".join(f"{k_(s)} keys" for s in sizes) + " |")
w("|---|" + "---|" * len(sizes))
w("| block_key, notify on ÷ off | " + " | ".join(
    check(ratio(med((s, "block", "keymgmt", max_clients)), med((s, "block", "keymgmt-nonotify", max_clients))), 0.8)
    for s in sizes) + " |")
w("")

w("## How it was measured")
w("")
STEADY = ("""- **Steady state.** pgbench opens new connections for every run. Without huge pages a
  new backend maps the 1 GB of shared memory 4 kB page by page as it first touches it,
  and a run at 8 clients spent its first seconds mostly in page faults (a bare SELECT
  climbed from 6k to 22k calls/s over 10 s). A gateway's pooled connections are past
  that, so the shared memory is in 2 MB huge pages (`huge_pages = on`; `run.sh`
  reserves them with `vm.nr_hugepages` for the run and gives them back), and the
  figures are the steady state from the first second.
""" if meta.get("huge_pages") == "on" else """- **Not the steady state.** Huge pages could not be reserved (`huge_pages = off`): every
  run opens new connections, and each new backend maps the shared memory 4 kB page by
  page as it first touches it, so the runs at several clients are dominated by page
  faults and their figures are low; compare them only with runs made the same way.
""")
w(f"""- **One cluster, one run.** `bench/run.sh` starts a throwaway PostgreSQL cluster
  (settings below), creates keymgmt, the PL/pgSQL reference (`bench/reference.sql`) and
  the harness (`bench/harness.sql`), and imports keys `sk-bench-1` … `sk-bench-N` straight
  into `keymgmt.keys` (token = SHA-256 of the raw key, as a LiteLLM import would). Key counts
  {', '.join(k_(s) for s in sizes)} are loaded one after the other into the same table;
  before each, both tables are vacuumed and analyzed and pre-warmed into shared_buffers
  (`pg_prewarm`).
- **Interleaved.** For each key count, for each repetition, for each client count, every
  workload and every implementation run in turn, so that drift on the machine hits all of
  them alike. Each figure is the median of {meta['reps']} runs of {meta['seconds']} s
  (`pgbench -n -M prepared -T {meta['seconds']}`, `-j 2` from 2 clients on). Every run has
  a fixed random seed of its own (the same in every benchmark run, different for each
  implementation, so that none updates the keys, and so the pages, that the one before
  it has just updated), and each repetition starts the round with another implementation.
  Clients {meta['clients'].strip()} at {', '.join(k_(s) for s in sweep if s in sizes) or '–'} keys;
  {meta['edge_clients'].strip()} at the other key counts.
- **Same tables, same keys, same rows.** Every implementation reads and writes
  `keymgmt.keys` and `keymgmt.audit_log`, and writes the same audit row (action, token,
  actor, role, the row before the change as jsonb, the changed values). No actor is
  given anywhere (no authority check; the database role decides, as keymgmt does
  without an actor), all as the superuser that owns the tables.
- **block/unblock.** One pgbench transaction blocks a random key and then unblocks it:
  two changes, each its own autocommit transaction, both real changes (the key is
  unblocked between runs), so each writes its audit row and (where the implementation
  notifies) queues a notification. *Changes per second* is 2 × pgbench's tps, *latency*
  is pgbench's average latency ÷ 2 (one change, including its commit).
  - **keymgmt**: `SELECT … FROM keymgmt.block_key($1)`, then `keymgmt.unblock_key`.
  - **PL/pgSQL reference**: the same semantics in PL/pgSQL (`bench/reference.sql`):
    format check, `SELECT … FOR NO KEY UPDATE`, no-op check, audit row, `UPDATE`,
    `pg_notify`, `SECURITY DEFINER SET search_path` (how PL/pgSQL gets the owner's rights;
    keymgmt switches to them in C).
  - **LiteLLM pattern**: what a gateway does in application code, three autocommit
    statements per change: `SELECT` the key by its token, `INSERT` the audit row, `UPDATE`
    the key. No lock, no no-op check, no notification, two commits per change.
  - **bare statement**: the floor, one statement per change: a CTE that reads the row,
    `UPDATE`s it and `INSERT`s the audit row. No lock, no checks, no notification.
  - **notify off**: keymgmt (and the reference) with `keymgmt.notify = off`
    (`PGOPTIONS=-c keymgmt.notify=off`). Nobody `LISTEN`s during the runs.
- **verify.** One pgbench transaction is one call for a random key; in the *10% unknown*
  mix one key in ten does not exist.
  - **keymgmt**: `SELECT * FROM keymgmt.verify_key($1)`.
  - **PL/pgSQL reference**: `bench_ref.verify_key`, the same statuses and checks.
  - **bare SELECT**: `SELECT blocked, user_id, … FROM keymgmt.keys WHERE token =
    encode(sha256(convert_to($1, 'UTF8')), 'hex')` — no format check, no status.
  - **SELECT 1**: the protocol floor (the same statement in both mixes, measured once).
{STEADY}- **Every write run starts from the same state**: an empty `keymgmt.audit_log` (it would
  otherwise grow through the runs, and its index with it) and a `CHECKPOINT` (each run
  pays the same full-page images); afterwards blocked keys are unblocked. The audit rows a run wrote and the WAL
  it generated are counted (see [sanity](#sanity-every-change-is-real)).
- **Wait events**: during every block/unblock run at {max_clients} clients, a separate
  session samples `pg_stat_activity` of the pgbench backends every 100 ms.
- The keys are `sk-bench-<i>` with the index in the pgbench script (`'sk-bench-' || :i`),
  so every implementation hashes the raw key (in SQL for the comparators, in C for
  keymgmt).
""")
w("Settings appended to a fresh `initdb` (`bench/postgresql.conf`): durability is "
  "PostgreSQL's default — `fsync = on`, `synchronous_commit = on`: every change waits for "
  "its WAL flush — the same for every implementation.")
w("")
w("```")
with open(os.path.join(WORK, "postgresql.conf")) as f:
    w("\n".join(l for l in f.read().splitlines() if l and not l.startswith("#")))
w(f"huge_pages = {meta.get('huge_pages', 'try')}")
w("```")
w("")

w("## Results")
w("")
w("Each cell: throughput (median) and, in brackets, average latency in ms. Ratios are "
  "keymgmt's throughput divided by the other's (above 1: keymgmt is faster).")
w("")
for s in sizes:
    w(f"### {k_(s)} keys" + (" (the chart)" if s == headline else ""))
    w("")
    for wl, title in WORKLOADS.items():
        shown = [i for i in SHOWN[wl] if any((s, wl if i != "select1" else "verify", i, c) in runs
                                               for c in clients_at[s])]
        others = shown[1:]
        w(f"**{title}**")
        w("")
        w("| clients | " + " | ".join(NAMES[i] for i in shown) + " | "
          + " | ".join(f"÷ {NAMES[i]}" for i in others) + " |")
        w("|---:|" + "---:|" * (len(shown) + len(others)))
        for c in clients_at[s]:
            cells = []
            for i in shown:
                key = (s, "verify" if i == "select1" else wl, i, c)
                v = med(key)
                cells.append("–" if v is None else f"{fr(v)} ({med(key, 'lat'):.3f})")
            base = med((s, wl, "keymgmt", c))
            rats = [fx(ratio(base, med((s, "verify" if i == "select1" else wl, i, c)))) for i in others]
            w(f"| {c} | " + " | ".join(cells) + " | " + " | ".join(rats) + " |")
        w("")

w("## Key-count scaling (keymgmt)")
w("")
w("| workload | clients | " + " | ".join(f"{k_(s)} keys" for s in sizes) + f" | {k_(large)} ÷ {k_(small)} |")
w("|---|---:|" + "---:|" * (len(sizes) + 1))
for wl in WORKLOADS:
    for c in common_clients:
        vals = [med((s, wl, "keymgmt", c)) for s in sizes]
        w(f"| {wl} | {c} | " + " | ".join(fr(v) for v in vals) + f" | {fx(ratio(vals[-1], vals[0]))} |")
w("")
w("The same for the comparators, block/unblock and verify at "
  f"{max_clients} clients:")
w("")
w("| workload | implementation | " + " | ".join(f"{k_(s)} keys" for s in sizes) + f" | {k_(large)} ÷ {k_(small)} |")
w("|---|---|" + "---:|" * (len(sizes) + 1))
for wl in WORKLOADS:
    for i in SHOWN[wl][1:]:
        if i == "select1":
            continue
        vals = [med((s, wl, i, max_clients)) for s in sizes]
        w(f"| {wl} | {NAMES[i]} | " + " | ".join(fr(v) for v in vals) + f" | {fx(ratio(vals[-1], vals[0]))} |")
w("")

w("## Notify on and off")
w("")
w(f"block/unblock at {max_clients} clients, changes per second (median):")
w("")
w("| implementation | " + " | ".join(f"{k_(s)} keys" for s in sizes) + " |")
w("|---|" + "---:|" * len(sizes))
for base in ("keymgmt", "plpgsql"):
    on = [med((s, "block", base, max_clients)) for s in sizes]
    off = [med((s, "block", base + "-nonotify", max_clients)) for s in sizes]
    w(f"| {NAMES[base]}, notify on | " + " | ".join(fr(v) for v in on) + " |")
    w(f"| {NAMES[base]}, notify off | " + " | ".join(fr(v) for v in off) + " |")
    w(f"| {NAMES[base]}, on ÷ off | " + " | ".join(fx(ratio(a, b)) for a, b in zip(on, off)) + " |")
w("")
w(f"What the {max_clients} pgbench backends were doing, sampled from `pg_stat_activity` every "
  "100 ms during the block/unblock runs (share of samples, all runs at that key count). "
  "`CPU`: active, no wait event (running or waiting for a core); `idle:ClientRead`: "
  "waiting for pgbench's next statement; `Lock:object` is the lock on the database's "
  "notification queue that a notifying transaction holds from before its commit until "
  "it ends; `IO:WALSync` / `LWLock:WALWrite`: flushing the WAL or waiting for another "
  "backend's flush to cover our commit.")
w("")
order = ["keymgmt", "keymgmt-nonotify", "plpgsql", "plpgsql-nonotify", "litellm", "floor"]
for s in sizes:
    present = [i for i in order if (s, i) in waits]
    if not present:
        continue
    totals = {i: sum(waits[(s, i)].values()) for i in present}
    states = set()
    for i in present:
        states |= set(waits[(s, i)])
    share = {(st, i): waits[(s, i)].get(st, 0) / totals[i] for st in states for i in present if totals[i]}
    states = sorted(states, key=lambda st: -max(share.get((st, i), 0) for i in present))
    w(f"**{k_(s)} keys** ({', '.join(f'{NAMES[i]}: {totals[i]}' for i in present)} samples)")
    w("")
    w("| state | " + " | ".join(NAMES[i] for i in present) + " |")
    w("|---|" + "---:|" * len(present))
    shown_states = [st for st in states if max(share.get((st, i), 0) for i in present) >= 0.01]
    rest = [st for st in states if st not in shown_states]
    for st in shown_states:
        w(f"| {st} | " + " | ".join(f"{100 * share.get((st, i), 0):.0f}%" for i in present) + " |")
    if rest:
        w("| other | " + " | ".join(f"{100 * sum(share.get((st, i), 0) for st in rest):.0f}%" for i in present) + " |")
    w("")

w("Why, in numbers: at each key count, the share of the samples in `Lock:object`.")
w("")
w("| | " + " | ".join(f"{k_(s)} keys" for s in sizes) + " |")
w("|---|" + "---:|" * len(sizes))
for i in ("keymgmt", "keymgmt-nonotify", "plpgsql", "plpgsql-nonotify"):
    cells = []
    for s in sizes:
        tot = sum(waits[(s, i)].values()) if (s, i) in waits else 0
        cells.append("–" if not tot else f"{100 * waits[(s, i)].get('Lock:object', 0) / tot:.0f}%")
    w(f"| {NAMES[i]} | " + " | ".join(cells) + " |")
w("")
w("A transaction that has queued a notification takes, just before it commits, a lock "
  "that PostgreSQL uses to keep the notification queue in commit order (`PreCommit_Notify` "
  "in `src/backend/commands/async.c`: a heavyweight lock on \"database 0\", cluster-wide), "
  "and holds it until the transaction has ended, that is, across its WAL flush. Notifying "
  "transactions therefore commit one at a time, each waiting for its own flush, where "
  "without notifications the commits of several clients share one flush (group commit: "
  "the `LWLock:WALWrite` waits of the notify-off runs). It is PostgreSQL's cost of a "
  "transactional NOTIFY, the same for the PL/pgSQL reference, and it grows with the "
  "number of clients that change keys at the same moment.")
w("")

w("## Sanity: every change is real")
w("")
w("Audit rows written per change counted by pgbench (1.00: every call changed the key and "
  "wrote its row) and WAL bytes per change, at "
  f"{k_(headline)} keys (medians over the runs):")
w("")
w("| implementation | " + " | ".join(f"{c} cl. audit rows | {c} cl. WAL B" for c in clients_at[headline]) + " |")
w("|---|" + "---:|---:|" * len(clients_at[headline]))
for i in ["keymgmt", "keymgmt-nonotify", "plpgsql", "plpgsql-nonotify", "litellm", "floor"]:
    cells = []
    for c in clients_at[headline]:
        rs = runs.get((headline, "block", i, c), [])
        if not rs:
            cells += ["–", "–"]
            continue
        cells.append(f"{statistics.median(r['audit'] / r['calls'] for r in rs if r['calls']):.2f}")
        cells.append(f"{statistics.median(r['wal'] / r['calls'] for r in rs if r['calls']):,.0f}")
    w(f"| {NAMES[i]} | " + " | ".join(cells) + " |")
w("")
w("WAL bytes per change at every key count (median; every write run starts right after a "
  "`CHECKPOINT`, so the first change of each page writes its full image: the more keys, "
  "the fewer changes share a page, and a key's first update after the import finds its page "
  "full and moves the row, with new index entries):")
w("")
w("| implementation | " + " | ".join(f"{k_(s)}, {c} cl." for s in sizes for c in (one, max_clients)) + " |")
w("|---|" + "---:|" * (2 * len(sizes)))
for i in ["keymgmt", "keymgmt-nonotify", "plpgsql", "litellm", "floor"]:
    cells = []
    for s in sizes:
        for c in (one, max_clients):
            rs = [r for r in runs.get((s, "block", i, c), []) if r["calls"]]
            cells.append("–" if not rs else f"{statistics.median(r['wal'] / r['calls'] for r in rs):,.0f}")
    w(f"| {NAMES[i]} | " + " | ".join(cells) + " |")
failed = sum(r["failed"] for rs in runs.values() for r in rs)
w("")
w(f"Failed pgbench transactions in the whole run: {failed}.")
w("")

if mixed:
    w("## One client, all in one run")
    w("")
    w("At one client a change is bound by its WAL flush, and on this machine's virtual disk "
      "the flush time moves by a factor of two from one run to the next, more than the "
      "differences being measured. So once per repetition one more 1-client pgbench run "
      "draws the block/unblock scripts of all four implementations at random, transaction "
      "by transaction, for three times as long as the other runs, and logs every transaction (`-l`): each implementation's figure is "
      "1 ÷ its median latency in that run, and all of them shared the same flushes. "
      "The median over the repetitions is shown; in brackets, keymgmt's ratio.")
    w("")
    mix_impls = [i for i in SHOWN["block"] if any(k[1] == "blockmix" and k[2] == i for k in runs)]
    w("| keys | " + " | ".join(f"{NAMES[i]}: changes/s (ms per change)" for i in mix_impls) + " |")
    w("|---:|" + "---:|" * len(mix_impls))
    for s_ in sizes:
        cells = []
        for i in mix_impls:
            key = (s_, "blockmix", i, 1)
            if key not in runs:
                cells.append("–")
                continue
            cell = f"{fr(med(key))} ({med(key, 'lat'):.3f})"
            if i != "keymgmt":
                cell += f" [{fx(ratio(med((s_, 'blockmix', 'keymgmt', 1)), med(key)))}]"
            cells.append(cell)
        w(f"| {k_(s_)} | " + " | ".join(cells) + " |")
    w("")

w("## Every figure")
w("")
w("<details><summary>median, lowest and highest of the runs, and the spread ((highest − lowest) ÷ median)</summary>")
w("")
w("| keys | workload | implementation | clients | median | lowest | highest | spread | others (cores) |")
w("|---:|---|---|---:|---:|---:|---:|---:|---:|")
for key in sorted(runs, key=lambda k: (k[0], WL_ORDER.index(k[1]), order.index(k[2]) if k[2] in order else 10 + list(NAMES).index(k[2]), k[3])):
    vals = [r["rate"] for r in runs[key]]
    sp = spread(key)
    w(f"| {k_(key[0])} | {key[1]} | {NAMES[key[2]]} | {key[3]} | {fr(statistics.median(vals))} | "
      f"{fr(min(vals))} | {fr(max(vals))} | {'–' if sp is None else f'{100 * sp:.0f}%'} | "
      f"{statistics.median(r['other'] for r in runs[key]):.2f} |")
w("")
w("</details>")
w("")
w("![throughput against clients](tps.png)")
w("")

with open(os.path.join(OUT, "results.md"), "w") as f:
    f.write("\n".join(md))

# ------------------------------------------------------------------ chart
# One panel per workload at the headline key count (the first swept size);
# one line per implementation.
def chart(size, png):
    data = os.path.join(WORK, f"chart-{size}.dat")
    series = []
    with open(data, "w") as f:
        for wl in WORKLOADS:
            impls = SHOWN[wl] + (["keymgmt-nonotify"] if wl == "block" else [])
            for i in impls:
                src = "verify" if i == "select1" else wl
                pts = [(c, med((size, src, i, c))) for c in clients_at[size]
                       if med((size, src, i, c)) is not None]
                if not pts:
                    continue
                f.write(f"# {wl} {i}\n")
                for c, v in pts:
                    f.write(f"{c} {v:.1f}\n")
                f.write("\n\n")
                series.append((wl, i))
    colors = {"keymgmt": "#1f77b4", "keymgmt-nonotify": "#1f77b4", "plpgsql": "#ff7f0e",
              "litellm": "#d62728", "floor": "#2ca02c", "bare": "#2ca02c", "select1": "#7f7f7f"}
    gp = [
        "set terminal pngcairo size 1500,600 font 'sans,10'",
        f"set output '{png}'",
        "set multiplot layout 1,3 title '" + (f"keymgmt vs alternatives, {k_(size)} keys, median of "
        f"{meta['reps']} x {meta['seconds']} s, {meta['cpu']} ({meta['cores']} cores), "
        f"{meta['pg_version'].split(' on ')[0]}").replace("'", "''") + "'",
        "set logscale x 2",
        f"set xtics ({', '.join(str(c) for c in clients_at[size])})",
        f"set xrange [{min(clients_at[size]) / 1.2}:{max(clients_at[size]) * 1.2}]",
        "set yrange [0:*]",
        "set grid ytics",
        "set key outside below vertical maxrows 3 font ',9'",
        "set xlabel 'clients'",
        "set format y '%.0f'",
    ]
    idx = 0
    for wl, title in WORKLOADS.items():
        plots = []
        for (swl, i) in series:
            if swl != wl:
                continue
            dash = " dt 2" if i.endswith("nonotify") else ""
            plots.append(f"'{data}' index {idx} using 1:2 with linespoints lw 2 pt 7"
                         f" lc rgb '{colors.get(i, '#000000')}'{dash} title '{NAMES[i]}'")
            idx += 1
        gp.append(f"set title '{title}'")
        gp.append("set ylabel '" + ("changes/s" if wl == "block" else "calls/s") + "'")
        gp.append("plot " + ", ".join(plots))
    gp.append("unset multiplot")
    script = os.path.join(WORK, f"chart-{size}.gp")
    with open(script, "w") as f:
        f.write("\n".join(gp) + "\n")
    subprocess.run(["gnuplot", script], check=True)


chart(headline, os.path.join(OUT, "tps.png"))
for s in sweep:
    if s in sizes and s != headline:
        chart(s, os.path.join(OUT, f"tps-{k_(s)}.png"))

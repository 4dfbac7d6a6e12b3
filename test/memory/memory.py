#!/usr/bin/python3
"""One backend calls verify_key, block_key and unblock_key a million times
each; its memory must not grow.

Memory is the backend's private resident memory (RssAnon: shared buffers it
touches do not count) and the total of its memory contexts.  The peak of one
long query is VmHWM, which includes shared memory, so that check compares
the peak before and after the query.

Runs against the server the PG* environment variables point at, on this
machine (the backend's RSS is read from /proc).  Prints TAP.  Bounds are
generous: a leak of even a few bytes per call shows as megabytes.

  CALLS=1000000 /usr/bin/python3 test/memory/memory.py
"""
import os
import sys
import time

import psycopg

CALLS = int(os.environ.get("CALLS", "1000000"))
KEYS = 1000
RSS_BOUND_KB = 16 * 1024          # growth allowed after warm-up
CONTEXT_BOUND = 1024 * 1024       # bytes of memory contexts allowed to grow

results = []


def check(ok, what):
    results.append(ok)
    print(f"{'ok' if ok else 'not ok'} {len(results)} - {what}", flush=True)


def rss_kb(pid, field="RssAnon"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError("no " + field)


def contexts(cur):
    cur.execute("SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts")
    return cur.fetchone()[0]


def sample(conn, pid, label):
    with conn.cursor() as cur:
        r, c = rss_kb(pid), contexts(cur)
    print(f"# {label}: backend private RSS {r} kB, memory contexts {c} bytes", flush=True)
    return r, c


def main():
    dbname = "keymgmt_memory"
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {dbname}")
        admin.execute(f"CREATE DATABASE {dbname}")

    with psycopg.connect(dbname=dbname, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION keymgmt")
        # test fixture keys, as a LiteLLM import would hold them
        conn.execute(
            "INSERT INTO keymgmt.keys (token, key_name, created_at, updated_at) "
            "SELECT encode(sha256(convert_to('sk-memory-' || i, 'UTF8')), 'hex'),"
            " 'sk-...' || i, now(), now() FROM generate_series(1, %s) i", (KEYS,))
        # this run measures memory, not durability
        conn.execute("SET synchronous_commit = off")
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]

        verify = "SELECT valid FROM keymgmt.verify_key(%s)"
        block = "SELECT blocked FROM keymgmt.block_key(%s)"
        unblock = "SELECT blocked FROM keymgmt.unblock_key(%s)"

        # Pipelined; a sync ends the implicit transaction, so this commits
        # every 100 calls: 10,000 transactions per million calls.
        def run_verify(n):
            with conn.pipeline() as p, conn.cursor() as cur:
                for i in range(n):
                    # valid, not_found and malformed, in turn
                    arg = (f"sk-memory-{i % KEYS + 1}", f"sk-memory-none-{i}",
                           "not a key")[i % 3]
                    cur.execute(verify, (arg,), prepare=True)
                    if i % 100 == 99:
                        p.sync()

        def run_toggle(n):
            with conn.pipeline() as p, conn.cursor() as cur:
                for i in range(n // 2):
                    key = f"sk-memory-{i % KEYS + 1}"
                    cur.execute(block, (key,), prepare=True)
                    cur.execute(unblock, (key,), prepare=True)
                    if i % 50 == 49:
                        p.sync()

        # warm up caches, plans and allocator pools before the baseline
        run_verify(20000)
        run_toggle(20000)
        base = sample(conn, pid, "after warm-up")

        t = time.time()
        run_verify(CALLS)
        after_verify = sample(conn, pid, f"after {CALLS} verify_key calls "
                                         f"({time.time() - t:.0f} s)")

        t = time.time()
        run_toggle(CALLS)
        after_toggle = sample(conn, pid, f"after {CALLS} block_key/unblock_key calls "
                                         f"({time.time() - t:.0f} s)")

        # a million calls inside one statement: per-call memory must be freed
        # per call, not at the end of the query, so the peak stays put
        hwm_before = rss_kb(pid, "VmHWM")
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM generate_series(1, %s) i,"
                        " LATERAL keymgmt.verify_key('sk-memory-' || (i %% %s + 1)) v"
                        " WHERE v.valid", (CALLS, KEYS))
            one_query_rows = cur.fetchone()[0]
        hwm_after = rss_kb(pid, "VmHWM")
        print(f"# one query of {CALLS} verify_key calls: peak RSS {hwm_before} -> "
              f"{hwm_after} kB", flush=True)

        audit = conn.execute("SELECT count(*) FROM keymgmt.audit_log").fetchone()[0]

    check(audit == (CALLS // 2 + 10000) * 2,
          f"every block/unblock was a real change and audited ({audit} audit rows)")
    check(after_verify[0] - base[0] < RSS_BOUND_KB,
          f"verify_key x {CALLS}: RSS grew {after_verify[0] - base[0]} kB "
          f"(bound {RSS_BOUND_KB} kB)")
    check(after_verify[1] - base[1] < CONTEXT_BOUND,
          f"verify_key x {CALLS}: memory contexts grew {after_verify[1] - base[1]} bytes")
    check(after_toggle[0] - after_verify[0] < RSS_BOUND_KB,
          f"block_key/unblock_key x {CALLS}: RSS grew "
          f"{after_toggle[0] - after_verify[0]} kB (bound {RSS_BOUND_KB} kB)")
    check(after_toggle[1] - after_verify[1] < CONTEXT_BOUND,
          f"block_key/unblock_key x {CALLS}: memory contexts grew "
          f"{after_toggle[1] - after_verify[1]} bytes")
    check(one_query_rows == CALLS and hwm_after - hwm_before < RSS_BOUND_KB,
          f"one query of {CALLS} verify_key calls: peak RSS grew "
          f"{hwm_after - hwm_before} kB (bound {RSS_BOUND_KB} kB)")

    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {dbname}")

    print(f"1..{len(results)}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""bench/wakeup.py -- commit-to-listener latency of the change feed.

    wakeup.py DSN RATE SECONDS NKEYS [WRITERS]

WRITERS connections (4) together block and unblock keys at RATE changes a
second, each writer its own keys, each recording when its change's commit
returned.  A listener does what examples/keycache.py does: LISTEN keymgmt,
and on every notification (or after a second without one) reads
keymgmt.changes() from its cursor.  A change's latency is from its commit
to the wake-up after which the listener had read it.  Prints one line:
"changes=N p50_ms=.. p99_ms=.. max_ms=.. rate=.."
"""

import collections
import hashlib
import random
import select
import sys
import threading
import time

import psycopg

dsn, rate, seconds, nkeys = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
writers = int(sys.argv[5]) if len(sys.argv) > 5 else 4

commits = collections.defaultdict(collections.deque)   # token -> commit times, in order
lock = threading.Lock()
stop = threading.Event()
written = [0]


def token(i):
    return hashlib.sha256(f"sk-bench-{i}".encode()).hexdigest()


def writer(w):
    rnd = random.Random(w)
    keys = [i for i in range(1 + w, nkeys + 1, writers)]
    state = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        interval = writers / rate
        next_at = time.monotonic()
        while not stop.is_set():
            i = rnd.choice(keys)
            fn = "unblock_key" if state.get(i) else "block_key"
            conn.execute(f"SELECT blocked FROM keymgmt.{fn}(%s)", [f"sk-bench-{i}"])
            done = time.monotonic()
            state[i] = not state.get(i)
            with lock:
                commits[token(i)].append(done)
                written[0] += 1
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)


latencies = []
listen = psycopg.connect(dsn, autocommit=True)
listen.execute("LISTEN keymgmt")
cursor = listen.execute("SELECT keymgmt.current_cursor()").fetchone()[0]
threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
start = time.monotonic()
for t in threads:
    t.start()


def read_feed(woke):
    global cursor
    while True:
        rows = listen.execute("SELECT cursor, object_id FROM keymgmt.changes(%s)",
                              [cursor]).fetchall()
        with lock:
            for c, object_id in rows:
                q = commits.get(object_id)
                if q:
                    latencies.append(max(0.0, woke - q.popleft()))
                cursor = c
        if len(rows) < 1000:
            return


while time.monotonic() - start < seconds:
    if select.select([listen.pgconn.socket], [], [], 1.0)[0]:
        listen.pgconn.consume_input()
        while listen.pgconn.notifies() is not None:
            pass
    read_feed(time.monotonic())
stop.set()
for t in threads:
    t.join()
# the last ones: wait for the feed to show them
deadline = time.monotonic() + 5
while time.monotonic() < deadline and any(commits.values()):
    if select.select([listen.pgconn.socket], [], [], 1.0)[0]:
        listen.pgconn.consume_input()
        while listen.pgconn.notifies() is not None:
            pass
    read_feed(time.monotonic())

lat = sorted(x * 1000 for x in latencies)
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
print(f"changes={len(lat)} p50_ms={p(0.5):.1f} p99_ms={p(0.99):.1f} max_ms={lat[-1] if lat else float('nan'):.1f}"
      f" rate={written[0] / seconds:.0f} unmatched={sum(len(q) for q in commits.values())}")

"""A follower of keymgmt's change feed, for 005_feed.pl.

    feed_follower.py DSN STATE_DIR [--once]

Follows keymgmt.changes() from the cursor saved in STATE_DIR/cursor (or,
the first time, keymgmt.current_cursor()), appends the id of every change
it gets to STATE_DIR/seen, one per line, and only then saves the cursor
(written to a temporary file and renamed): killed at any point, it may see
a change twice after a restart, never miss one.  It reconnects whenever
the connection or the server goes away.  With --once it reads until the
feed has nothing more and exits; otherwise it runs until killed, woken by
LISTEN keymgmt (on a primary) and polling every 0.2 s.
"""

import os
import select
import sys
import time

import psycopg

dsn, state, once = sys.argv[1], sys.argv[2], "--once" in sys.argv[3:]
cursor_file = os.path.join(state, "cursor")


def save_cursor(cursor):
    tmp = cursor_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(cursor)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, cursor_file)


def follow(conn, cursor):
    with open(os.path.join(state, "seen"), "a") as seen:
        while True:
            rows = conn.execute("SELECT cursor, id FROM keymgmt.changes(%s, 1000)",
                                [cursor]).fetchall()
            if rows:
                seen.write("".join(f"{i}\n" for _, i in rows))
                seen.flush()
                os.fsync(seen.fileno())
                cursor = rows[-1][0]
                save_cursor(cursor)
            if len(rows) < 1000:
                return cursor


cursor = None
if os.path.exists(cursor_file):
    with open(cursor_file) as f:
        cursor = f.read().strip()
while True:
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=2,
                             application_name="feed follower") as conn:
            if cursor is None:
                cursor = conn.execute("SELECT keymgmt.current_cursor()").fetchone()[0]
                save_cursor(cursor)
            # NOTIFY never reaches a standby (and LISTEN is refused there): poll
            if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                conn.execute("LISTEN keymgmt")
            while True:
                cursor = follow(conn, cursor)
                if once:
                    sys.exit(0)
                if select.select([conn.pgconn.socket], [], [], 0.2)[0]:
                    conn.pgconn.consume_input()
                    while conn.pgconn.notifies() is not None:
                        pass
    except psycopg.OperationalError:
        time.sleep(0.2)

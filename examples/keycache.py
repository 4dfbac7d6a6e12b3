"""keycache: the reference cache client for keymgmt's change feed.

A gateway asks "is this key valid?" on every request.  KeyCache answers from
memory, fills itself with keymgmt.verify_key, and stays correct by following
keymgmt.changes() from the cursor keymgmt.current_cursor() gave it when it
started empty:

- a background thread reads the feed, woken by LISTEN keymgmt, and polls
  every second anyway (a notification can be lost, never reaches a hot
  standby, and is off in keymgmt.notify = off);
- a notification is only "read the feed now": any role may NOTIFY on any
  channel, so its payload is never trusted;
- each change drops every answer of its key_id (whichever secret it was
  asked with: a rotated key has two) and of its token;
- after a reconnect it goes on from its cursor, so nothing is missed; a
  cursor the server refuses (another cluster after a restore, another
  database) flushes everything and starts again from current_cursor();
- no answer is kept past the key's expires or the secret's grace_until;
- an answer read while a change of its key was being applied is not kept.

Only PostgreSQL and psycopg (Debian's python3-psycopg).  Raw keys are never
stored: answers are kept by token (SHA-256), as keymgmt keeps them.

    cache = KeyCache("dbname=app user=gateway")
    answer = cache.verify(raw_key)     # dict: valid, status, key_id, user_id, ...
    cache.close()
"""

import datetime
import hashlib
import itertools
import select
import threading
import time

import psycopg

__all__ = ["KeyCache"]

VERIFY_COLUMNS = ("valid", "status", "token", "user_id", "team_id",
                  "organization_id", "expires", "metadata", "key_id",
                  "grace_until")


def _token(raw_key):
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


class KeyCache:
    """verify_key answers kept in memory, invalidated by the change feed."""

    def __init__(self, dsn, poll_interval=1.0, max_age=300.0, max_rows=1000,
                 on_event=None, application_name="keycache"):
        self.dsn = dsn
        self.application_name = application_name   # pg_stat_activity's name for its connections
        self.poll_interval = poll_interval
        self.max_age = max_age          # seconds: a bound even on quiet keys
        self.max_rows = max_rows
        self.on_event = on_event        # called with ("change", row), ("flush", why), ...
        self._lock = threading.Lock()
        self._answers = {}              # token -> (answer, keep_until_monotonic)
        self._by_key_id = {}            # key_id -> set of tokens
        self._seq = itertools.count(1)
        self._dropped = {}              # token or key_id -> seq of its last drop
        self._flushed_at = 0            # seq of the last flush
        self._in_flight = {}            # id -> seq at which a verify started
        self._stop = threading.Event()
        self._verify_conn = None
        self._verify_lock = threading.Lock()
        self.lookups = 0                # verify_key calls made (for tests, metrics)
        self.changes_seen = 0
        self.reconnects = 0
        # the cache starts empty: everything after this cursor is news
        with psycopg.connect(dsn, autocommit=True) as conn:
            self.cursor = conn.execute(
                "SELECT keymgmt.current_cursor()").fetchone()[0]
        self._caught_up = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="keycache",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ answers
    def verify(self, raw_key):
        """verify_key's answer for raw_key, from memory when it may be."""
        token = _token(raw_key)
        with self._lock:
            kept = self._answers.get(token)
            if kept is not None:
                answer, until = kept
                if time.monotonic() < until and not self._lapsed(answer):
                    return dict(answer)
                self._forget(token)
            started = next(self._seq)
            ticket = object()
            self._in_flight[id(ticket)] = started
        try:
            answer = self._lookup(raw_key)
        finally:
            with self._lock:
                del self._in_flight[id(ticket)]
        with self._lock:
            if self._still_current(started, token, answer.get("key_id")):
                self._keep(token, answer)
            self._prune()
        return dict(answer)

    def _lookup(self, raw_key):
        with self._verify_lock:
            for attempt in (1, 2):
                try:
                    if self._verify_conn is None or self._verify_conn.closed:
                        self._verify_conn = psycopg.connect(
                            self.dsn, autocommit=True,
                            application_name=self.application_name + " verify")
                    row = self._verify_conn.execute(
                        "SELECT * FROM keymgmt.verify_key(%s)", [raw_key]).fetchone()
                    break
                except psycopg.OperationalError:
                    self._verify_conn = None
                    if attempt == 2:
                        raise
        self.lookups += 1
        answer = dict(zip(VERIFY_COLUMNS, row))
        if answer.get("key_id") is not None:
            answer["key_id"] = str(answer["key_id"])
        return answer

    @staticmethod
    def _lapsed(answer):
        """Has the answer's own deadline (expires, grace_until) passed?"""
        now = _now()
        for column in ("expires", "grace_until"):
            t = answer.get(column)
            if t is not None and t <= now:
                return True
        return False

    def _keep(self, token, answer):
        if answer["status"] == "malformed" or self._lapsed(answer):
            return
        self._answers[token] = (answer, time.monotonic() + self.max_age)
        if answer.get("key_id"):
            self._by_key_id.setdefault(answer["key_id"], set()).add(token)

    def _forget(self, token):
        kept = self._answers.pop(token, None)
        if kept is not None and kept[0].get("key_id"):
            tokens = self._by_key_id.get(kept[0]["key_id"])
            if tokens is not None:
                tokens.discard(token)
                if not tokens:
                    del self._by_key_id[kept[0]["key_id"]]

    def _still_current(self, started, token, key_id):
        """No drop of this token or key, and no flush, since the lookup began."""
        if self._flushed_at > started:
            return False
        for name in (token, key_id):
            if name is not None and self._dropped.get(name, 0) > started:
                return False
        return True

    def _drop(self, token, key_id):
        seq = next(self._seq)
        for name in (token, key_id):
            if name is not None:
                self._dropped[name] = seq
        if token is not None:
            self._forget(token)
        if key_id is not None:
            for t in list(self._by_key_id.get(key_id, ())):
                self._forget(t)

    def _prune(self):
        """Drop marks only matter to lookups still in flight."""
        oldest = min(self._in_flight.values(), default=None)
        if oldest is None:
            self._dropped.clear()
        elif len(self._dropped) > 10000:
            self._dropped = {k: s for k, s in self._dropped.items() if s > oldest}

    def flush(self, why="flush"):
        with self._lock:
            self._answers.clear()
            self._by_key_id.clear()
            self._dropped.clear()
            self._flushed_at = next(self._seq)
        self._event("flush", why)

    def __len__(self):
        with self._lock:
            return len(self._answers)

    # ------------------------------------------------------------ the feed
    def _event(self, kind, what):
        if self.on_event is not None:
            self.on_event(kind, what)

    def _read_feed(self, conn):
        """Apply every change after the cursor; True if there were any."""
        any_rows = False
        while True:
            try:
                rows = conn.execute(
                    "SELECT cursor, action, object_type, object_id, key_id"
                    " FROM keymgmt.changes(%s, %s)",
                    [self.cursor, self.max_rows]).fetchall()
            except psycopg.errors.InvalidParameterValue as e:
                # another cluster (a restore), another database: start again empty
                with psycopg.connect(self.dsn, autocommit=True) as fresh:
                    self.cursor = fresh.execute(
                        "SELECT keymgmt.current_cursor()").fetchone()[0]
                self.flush(str(e).splitlines()[0])
                return True
            with self._lock:
                for cursor, action, object_type, object_id, key_id in rows:
                    if object_type == "key":
                        self._drop(object_id, str(key_id) if key_id else None)
                    self.cursor = cursor
                    self.changes_seen += 1
            for row in rows:
                self._event("change", row)
            any_rows = any_rows or bool(rows)
            if len(rows) < self.max_rows:
                return any_rows

    def _follow(self):
        while not self._stop.is_set():
            conn = None
            try:
                conn = psycopg.connect(self.dsn, autocommit=True,
                                       application_name=self.application_name + " feed")
                conn.execute("LISTEN keymgmt")
                self._event("connected", self.cursor)
                while not self._stop.is_set():
                    self._read_feed(conn)
                    self._caught_up.set()
                    # a notification, or a second: either way, read the feed again
                    ready, _, _ = select.select([conn.pgconn.socket], [], [],
                                                self.poll_interval)
                    if ready:
                        conn.pgconn.consume_input()
                        if conn.pgconn.status != psycopg.pq.ConnStatus.OK:
                            raise psycopg.OperationalError("connection lost")
                        while conn.pgconn.notifies() is not None:
                            pass        # a hint, never state
            except Exception as e:      # lost connection, server restart, ...
                self.reconnects += 1
                self._event("disconnected", str(e).splitlines()[0] if str(e) else "")
                self._stop.wait(min(self.poll_interval, 0.5))
            finally:
                if conn is not None:
                    conn.close()

    def wait_caught_up(self, timeout=10.0):
        """For tests and start-up: the feed has been read at least once."""
        self._caught_up.clear()
        return self._caught_up.wait(timeout)

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        with self._verify_lock:
            if self._verify_conn is not None:
                self._verify_conn.close()

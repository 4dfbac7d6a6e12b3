"""Tests of examples/keycache.py against a running server.

    PGHOST=... PGPORT=... /usr/bin/python3 examples/test_keycache.py

Connects with libpq's environment as a superuser, makes a database of its
own (keycache_test), and prints TAP lines ("ok 1 - ...").  test/suites.sh
runs it.
"""

import os
import sys
import time
import unittest

import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from keycache import KeyCache, _token  # noqa: E402
import taptest  # noqa: E402
from taptest import wait_for  # noqa: E402

DB = "keycache_test"
KEYS = {name: "sk-keycache-test-" + name for name in
        ("plain", "blocked", "spoofed", "rotated", "graced", "resume",
         "polled", "flushed", "race")}


def admin(**kw):
    return psycopg.connect(dbname=DB, autocommit=True, **kw)


class KeyCacheTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with psycopg.connect(dbname="postgres", autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {DB}")
            c.execute(f"CREATE DATABASE {DB}")
        with admin() as c:
            c.execute("CREATE EXTENSION keymgmt")
            for name, raw in KEYS.items():
                c.execute("SELECT keymgmt.import_key(%s, user_id => %s)", [raw, "user-" + name])
            # passwords: the throwaway cluster of test/run.sh authenticates TCP with them
            c.execute("CREATE ROLE keycache_gateway LOGIN PASSWORD 'keycache-test'")
            c.execute("GRANT USAGE ON SCHEMA keymgmt TO keycache_gateway")
            c.execute("GRANT EXECUTE ON FUNCTION keymgmt.verify_key(text),"
                      " keymgmt.current_cursor(), keymgmt.changes(text, integer)"
                      " TO keycache_gateway")
            c.execute("CREATE ROLE keycache_stranger LOGIN PASSWORD 'keycache-test'")
        cls.cache = KeyCache(f"dbname={DB} user=keycache_gateway password=keycache-test",
                             poll_interval=1.0)
        assert cls.cache.wait_caught_up()

    @classmethod
    def tearDownClass(cls):
        cls.cache.close()
        with psycopg.connect(dbname="postgres", autocommit=True) as c:
            c.execute(f"DROP DATABASE {DB} WITH (FORCE)")
            c.execute("DROP ROLE keycache_gateway")
            c.execute("DROP ROLE keycache_stranger")

    def status(self, name_or_raw):
        return self.cache.verify(KEYS.get(name_or_raw, name_or_raw))["status"]

    def test_answers_from_memory(self):
        before = self.cache.lookups
        self.assertEqual(self.status("plain"), "valid")
        self.assertEqual(self.status("plain"), "valid")
        self.assertEqual(self.cache.lookups, before + 1, "the second answer came from memory")
        self.assertEqual(self.status("sk-keycache-test-nonexistent"), "not_found")

    def test_block_reaches_the_cache(self):
        self.assertEqual(self.status("blocked"), "valid")
        with admin() as c:
            c.execute("SELECT keymgmt.block_key(%s)", [KEYS["blocked"]])
        took = wait_for(lambda: self.status("blocked") == "blocked")
        self.assertIsNotNone(took, "the block reached the cache")
        self.assertLess(took, 1.0, "woken by the notification, not the poll")

    def test_polls_when_nothing_is_sent(self):
        self.assertEqual(self.status("polled"), "valid")
        with admin() as c:
            c.execute("SET keymgmt.notify = off")
            c.execute("SELECT keymgmt.block_key(%s)", [KEYS["polled"]])
        took = wait_for(lambda: self.status("polled") == "blocked", timeout=3.0)
        self.assertIsNotNone(took, "the poll found the change without any notification")

    def test_a_notification_is_only_a_hint(self):
        self.assertEqual(self.status("spoofed"), "valid")
        key_id = self.cache.verify(KEYS["spoofed"])["key_id"]
        before = self.cache.lookups
        with psycopg.connect(dbname=DB, user="keycache_stranger", password="keycache-test",
                             autocommit=True) as c:
            c.execute("SELECT pg_notify('keymgmt', %s)",
                      ['{"action": "blocked", "key_id": "%s", "token": "%s"}'
                       % (key_id, _token(KEYS["spoofed"]))])
        time.sleep(0.5)
        self.assertEqual(self.status("spoofed"), "valid")
        self.assertEqual(self.cache.lookups, before, "the spoofed message dropped nothing")

    def test_rotation_drops_every_secret_of_the_key(self):
        old = KEYS["rotated"]
        self.assertEqual(self.status(old), "valid")
        with admin() as c:
            new = c.execute("SELECT key FROM keymgmt.rotate_key(%s, '1 hour')", [old]).fetchone()[0]
        self.assertIsNotNone(wait_for(lambda: self.cache.verify(old)["grace_until"] is not None),
                             "the old secret's answer was dropped and read again")
        self.assertEqual(self.status(old), "valid")
        self.assertEqual(self.status(new), "valid")
        with admin() as c:
            c.execute("SELECT keymgmt.end_grace(%s)", [new])
        self.assertIsNotNone(wait_for(lambda: self.status(old) == "not_found"),
                             "end_grace reached the old secret's answer")
        self.assertEqual(self.status(new), "valid")

    def test_no_answer_outlives_its_grace(self):
        old = KEYS["graced"]
        with admin() as c:
            c.execute("SELECT keymgmt.rotate_key(%s, '1.5 seconds')", [old])
        self.assertIsNotNone(wait_for(lambda: self.cache.verify(old)["grace_until"] is not None))
        time.sleep(1.6)
        # nothing is in the feed when a grace lapses: the answer's own deadline ends it
        self.assertEqual(self.status(old), "not_found")

    def test_no_answer_outlives_expires(self):
        raw = "sk-keycache-test-expiring"
        with admin() as c:
            c.execute("SELECT keymgmt.import_key(%s, expires => now() + interval '1.5 seconds')", [raw])
        self.assertEqual(self.status(raw), "valid")
        time.sleep(1.6)
        # nothing is in the feed when a key expires: the answer's own deadline ends it
        self.assertEqual(self.status(raw), "expired")

    def test_resumes_from_its_cursor_after_a_reconnect(self):
        self.assertEqual(self.status("resume"), "valid")
        reconnects = self.cache.reconnects
        with admin() as c:
            c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE application_name = 'keycache feed'")
            # changed while the follower is away: its notification is lost
            c.execute("SELECT keymgmt.block_key(%s)", [KEYS["resume"]])
        self.assertIsNotNone(wait_for(lambda: self.status("resume") == "blocked"),
                             "the change made while disconnected arrived through the feed")
        self.assertGreater(self.cache.reconnects, reconnects)

    def test_a_cursor_from_another_cluster_flushes(self):
        self.assertEqual(self.status("flushed"), "valid")
        self.assertGreater(len(self.cache), 0)
        events = []
        self.cache.on_event = lambda kind, what: events.append((kind, what))
        try:
            with self.cache._lock:
                self.cache.cursor = "1:1:1:0"     # as after a restore into a new cluster
            self.assertIsNotNone(wait_for(lambda: any(k == "flush" for k, _ in events)))
        finally:
            self.cache.on_event = None
        self.assertIn("another cluster", [w for k, w in events if k == "flush"][0])
        self.assertFalse(self.cache.cursor.startswith("1:1:"), "a cursor of this cluster again")
        before = self.cache.lookups
        self.assertEqual(self.status("flushed"), "valid")
        self.assertEqual(self.cache.lookups, before + 1, "read again after the flush")

    def test_an_answer_read_during_a_change_is_not_kept(self):
        token = _token(KEYS["race"])
        with self.cache._lock:
            started = next(self.cache._seq)
            self.cache._drop(token, None)         # the feed drops it while the lookup runs
            self.assertFalse(self.cache._still_current(started, token, None))
            later = next(self.cache._seq)
            self.assertTrue(self.cache._still_current(later, token, None))

    def test_no_raw_key_is_kept(self):
        for name in KEYS:
            self.cache.verify(KEYS[name])
        with self.cache._lock:
            kept = repr(self.cache._answers) + repr(self.cache._by_key_id)
        for raw in KEYS.values():
            self.assertNotIn(raw, kept)


if __name__ == "__main__":
    taptest.run(KeyCacheTest)

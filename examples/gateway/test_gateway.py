"""Tests of examples/gateway/gateway.py: real HTTP against real gateway processes.

    PGHOST=... PGPORT=... PGUSER=... PGPASSWORD=... /usr/bin/python3 examples/gateway/test_gateway.py

Connects with libpq's environment as a superuser, makes a database of its own
(gateway_test) and a role for the gateways, and starts gateways the way the
README does (KEYMGMT_MASTER_KEY, --listen, --dsn; no PG* variable, no
PYTHONUNBUFFERED).  Prints TAP lines; test/suites.sh runs it.
"""

import hashlib
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import taptest  # noqa: E402
from taptest import wait_for  # noqa: E402

DB = "gateway_test"
ROLE = "gateway_test_role"
PASSWORD = "gateway-test"
MASTER = "sk-" + uuid.uuid4().hex[:4]      # as short as LiteLLM's docs' sk-1234
SECRETS = {MASTER}              # every raw key the tests saw: none may be printed
RESPONSES = []                  # (created?, body text) of every answer


def token(raw):
    return hashlib.sha256(raw.encode()).hexdigest()


def admin():
    return psycopg.connect(dbname=DB, autocommit=True)


class Gateway:
    """One gateway process, started as the README starts it."""

    def __init__(self, options=""):
        host = os.environ.get("PGHOST", "localhost")
        dsn = (f"host={host} port={os.environ.get('PGPORT', '5432')} dbname={DB}"
               f" user={ROLE} password={PASSWORD}")
        if options:
            dsn += f" options='{options}'"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PG") and k != "PYTHONUNBUFFERED"}
        env["KEYMGMT_MASTER_KEY"] = MASTER
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "gateway.py"),
             "--listen", "127.0.0.1:0", "--dsn", dsn],
            env=env, stdout=subprocess.PIPE, stderr=self.stderr)
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        if not ready:
            self.proc.kill()
            raise RuntimeError("the gateway printed no ready line in 20 s")
        self.ready_line = self.proc.stdout.readline().decode()
        m = re.match(r"keymgmt gateway ready on http://127\.0\.0\.1:(\d+)$", self.ready_line.strip())
        if not m:
            raise RuntimeError("unexpected ready line: " + self.ready_line[:80])
        self.port = int(m.group(1))
        self.name = f"keymgmt gateway 127.0.0.1:{self.port}"

    def call(self, method, path, body=None, key=MASTER, raw_body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = "Bearer " + key
        data = raw_body if raw_body is not None else (
            json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        text = response.read().decode()
        conn.close()
        parsed = json.loads(text)
        created = response.status == 200 and ("regenerate" in path or path == "/key/generate")
        RESPONSES.append((created, text))
        if created and isinstance(parsed, dict) and "key" in parsed:
            SECRETS.add(parsed["key"])
        return response.status, parsed

    def output(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.rest_of_stdout = self.proc.stdout.read().decode()
        return rc


class GatewayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with psycopg.connect(dbname="postgres", autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {DB}")
            c.execute(f"CREATE DATABASE {DB}")
            c.execute(f"DROP ROLE IF EXISTS {ROLE}")
            c.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
        with admin() as c:
            c.execute("CREATE EXTENSION keymgmt")
            grants = open(os.path.join(HERE, "grants.sql")).read()
            c.execute(grants.replace(':"role"', ROLE))
        cls.a = Gateway()
        cls.b = Gateway()
        cls.gateways = [cls.a, cls.b]

    @classmethod
    def tearDownClass(cls):
        for g in cls.gateways:
            g.stop()
        with psycopg.connect(dbname="postgres", autocommit=True) as c:
            c.execute(f"DROP DATABASE {DB} WITH (FORCE)")
            c.execute(f"DROP ROLE {ROLE}")

    # helpers
    def assertError(self, status, body, code, type_=None):
        self.assertEqual(status, code, body)
        self.assertEqual(set(body), {"error"}, body)
        self.assertEqual(set(body["error"]), {"message", "type", "param", "code"}, body)
        self.assertEqual(body["error"]["code"], str(code))
        if type_ is not None:
            self.assertEqual(body["error"]["type"], type_, body)

    def generate(self, **fields):
        status, body = self.a.call("POST", "/key/generate", fields)
        self.assertEqual(status, 200, body)
        return body

    def audit(self, key_id, action):
        with admin() as c:
            return c.execute("SELECT changed_by FROM keymgmt.audit_log WHERE key_id = %s"
                             " AND action = %s ORDER BY id", [key_id, action]).fetchall()

    # ------------------------------------------------------------ the bug report
    def test_block_and_unblock_of_an_unknown_key_is_404(self):
        for route in ("/key/block", "/key/unblock"):
            status, body = self.a.call("POST", route, {"key": "sk-does-not-exist"})
            self.assertError(status, body, 404, "not_found_error")
            self.assertNotIn("sk-does-not-exist", json.dumps(body))

    def test_one_error_shape_on_every_route(self):
        k = self.generate(user_id="shape-user")
        cases = [
            ("POST", "/key/block", None, MASTER, b"{not json", 400),
            ("POST", "/key/unblock", {}, MASTER, None, 400),
            ("POST", "/key/delete", {"keys": "one"}, MASTER, None, 400),
            ("POST", "/key/update", {"key": "not a key", "key_alias": "x"}, MASTER, None, 400),
            ("POST", "/key/regenerate", {"key": None}, MASTER, None, 400),
            ("POST", "/key/generate", {"duration": "soon"}, MASTER, None, 400),
            ("GET", "/key/list?size=0", None, MASTER, None, 400),
            ("GET", "/key/list?status=lost", None, MASTER, None, 400),
            ("GET", "/key/info?key=" + "ab" * 32, None, MASTER, None, 404),
            ("POST", "/key/block", {"key": k["key_id"]}, None, None, 401),
            ("POST", "/key/block", {"key": k["key_id"]}, "sk-wrong-key-0000", None, 401),
            ("GET", "/key/list", None, "sk-wrong-key-0000", None, 401),
            ("GET", "/v1/models", None, None, None, 401),
            ("GET", "/no/such/route", None, MASTER, None, 404),
            ("GET", "/key/block", None, MASTER, None, 405),
        ]
        for method, path, body, key, raw, code in cases:
            with self.subTest(path=path, code=code):
                status, answer = self.a.call(method, path, body, key=key, raw_body=raw)
                self.assertError(status, answer, code)
        # the malformed key is named as the parameter at fault
        status, answer = self.a.call("POST", "/key/block", {"key": "not a key"})
        self.assertEqual(answer["error"]["param"], "key")

    # ------------------------------------------------------------ success paths
    def test_raw_key_and_token_both_work(self):
        k = self.generate(key_alias="both-forms", user_id="forms-user")
        raw = k["key"]
        self.assertNotIn("token", k)
        status, body = self.a.call("POST", "/key/block", {"key": raw})
        self.assertEqual((status, body["blocked"], body["key_id"]), (200, True, k["key_id"]))
        status, body = self.a.call("POST", "/key/unblock", {"key": token(raw)})
        self.assertEqual((status, body["blocked"], body["key_id"]), (200, False, k["key_id"]))
        status, body = self.a.call("GET", "/key/info?key=" + k["key_id"])
        self.assertEqual(status, 200)
        self.assertEqual((body["key"], body["info"]["key_alias"], body["info"]["status"]),
                         (k["key_id"], "both-forms", "valid"))
        for text in (json.dumps(body),):
            self.assertNotIn(token(raw)[:13], text)
        self.assertEqual([r[0] for r in self.audit(k["key_id"], "blocked")], [ROLE])

    def test_v1_models_answers_401_for_every_bad_key(self):
        good = self.generate(user_id="models-user", metadata={"models": ["m-one", "m-two"]})
        status, body = self.b.call("GET", "/v1/models", key=good["key"])
        self.assertEqual(status, 200, body)
        self.assertEqual([m["id"] for m in body["data"]], ["m-one", "m-two"])
        blocked = self.generate(user_id="models-user")
        self.a.call("POST", "/key/block", {"key": blocked["key_id"]})
        expiring = self.generate(user_id="models-user", duration="1s")
        time.sleep(1.2)
        for key, type_ in (("sk-never-made-0000", "auth_error"), ("not-a-key", "auth_error"),
                           (token(good["key"]), "auth_error"), (blocked["key"], "auth_error"),
                           (expiring["key"], "expired_key")):
            status, body = self.b.call("GET", "/v1/models", key=key)
            self.assertError(status, body, 401, type_)

    def test_a_key_acts_as_its_owner(self):
        own = self.generate(user_id="alice")
        other = self.generate(user_id="alice")
        bobs = self.generate(user_id="bob")
        nobody = self.generate()
        status, body = self.a.call("POST", "/key/block", {"key": other["key_id"]}, key=own["key"])
        self.assertEqual((status, body["blocked"]), (200, True))
        self.assertEqual([r[0] for r in self.audit(other["key_id"], "blocked")], ["alice"])
        status, body = self.a.call("POST", "/key/unblock", {"key": other["key_id"]}, key=own["key"])
        self.assertError(status, body, 403, "auth_error")
        status, body = self.a.call("POST", "/key/block", {"key": bobs["key_id"]}, key=own["key"])
        self.assertError(status, body, 403, "auth_error")
        status, body = self.a.call("POST", "/key/block", {"key": bobs["key_id"]}, key=nobody["key"])
        self.assertError(status, body, 403, "auth_error")
        self.assertEqual(self.audit(bobs["key_id"], "blocked"), [])
        # a user's new key is their own, with the user as its creator
        status, body = self.a.call("POST", "/key/generate", {}, key=own["key"])
        self.assertEqual((status, body["user_id"], body["created_by"]), (200, "alice", "alice"))
        status, body = self.a.call("GET", "/key/info?key=" + bobs["key_id"], key=own["key"])
        self.assertError(status, body, 403, "auth_error")
        status, body = self.a.call("GET", "/key/info", key=own["key"])
        self.assertEqual((status, body["key"]), (200, own["key_id"]))

    def test_update_with_blocked_is_one_transaction(self):
        k = self.generate(user_id="carol", key_alias="carol-1")
        status, body = self.a.call("POST", "/key/update", {
            "key": k["key"], "key_alias": "carol-renamed", "metadata": {"tier": "gold"},
            "duration": "2d", "blocked": True})
        self.assertEqual(status, 200, body)
        self.assertEqual((body["key_alias"], body["metadata"], body["blocked"]),
                         ("carol-renamed", {"tier": "gold"}, True))
        # the owner may block but not update: both or neither
        status, body = self.a.call("POST", "/key/update", {
            "key": k["key_id"], "key_alias": "carol-again", "blocked": False}, key=k["key"])
        self.assertIn(status, (401, 403))          # a blocked bearer is no bearer
        owner = self.generate(user_id="carol")
        target = self.generate(user_id="carol", key_alias="carol-2")
        status, body = self.a.call("POST", "/key/update", {
            "key": target["key_id"], "key_alias": "carol-3", "blocked": True}, key=owner["key"])
        self.assertError(status, body, 403, "auth_error")
        status, body = self.a.call("GET", "/key/info?key=" + target["key_id"])
        self.assertEqual((body["info"]["key_alias"], body["info"]["blocked"]), ("carol-2", False))
        status, body = self.a.call("POST", "/key/update", {"key": target["key_id"],
                                                           "key_alias": "carol-renamed"})
        self.assertError(status, body, 409, "conflict_error")

    def test_generate_with_a_chosen_key_and_a_duration(self):
        raw = "sk-gateway-test-chosen-" + uuid.uuid4().hex[:12]
        SECRETS.add(raw)
        status, body = self.a.call("POST", "/key/generate", {"key": raw, "duration": "2d",
                                                             "user_id": "dave"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["key"], raw)
        with admin() as c:
            left = c.execute("SELECT expires - now() FROM keymgmt.keys WHERE token = %s",
                             [token(raw)]).fetchone()[0]
        self.assertAlmostEqual(left.total_seconds(), 2 * 86400, delta=60)
        status, body = self.a.call("POST", "/key/generate", {"key": raw})
        self.assertError(status, body, 409, "conflict_error")
        status, body = self.b.call("GET", "/v1/models", key=raw)
        self.assertEqual(status, 200)

    def test_regenerate_with_and_without_grace(self):
        k = self.generate(user_id="erin")
        status, graced = self.a.call("POST", "/key/regenerate", {"key": k["key"],
                                                                 "grace_period": "1h"})
        self.assertEqual(status, 200, graced)
        self.assertEqual(graced["key_id"], k["key_id"])
        self.assertIsNotNone(graced["previous_valid_until"])
        for key in (k["key"], graced["key"]):
            self.assertEqual(self.b.call("GET", "/v1/models", key=key)[0], 200)
        status, fresh = self.a.call("POST", f"/key/{graced['key']}/regenerate", {})
        self.assertEqual(status, 200, fresh)
        self.assertIsNone(fresh["previous_valid_until"])
        self.assertTrue(wait_for(lambda: self.b.call("GET", "/v1/models", key=graced["key"])[0]
                                 == 401, 2), "no grace_period: the old key stops at once")
        self.assertEqual(self.b.call("GET", "/v1/models", key=fresh["key"])[0], 200)
        status, body = self.a.call("POST", "/key/regenerate", {"key": fresh["key"],
                                                               "grace_period": "soon"})
        self.assertError(status, body, 400)
        self.assertEqual(body["error"]["param"], "grace_period")

    def test_delete_is_all_or_nothing(self):
        one = self.generate(key_alias="del-one")
        two = self.generate(key_alias="del-two")
        status, body = self.a.call("POST", "/key/delete",
                                   {"keys": [one["key_id"], "sk-gateway-test-missing"]})
        self.assertError(status, body, 404, "not_found_error")
        status, body = self.a.call("POST", "/key/delete",
                                   {"keys": [one["key"]], "key_aliases": ["del-two", "del-none"]})
        self.assertError(status, body, 404, "not_found_error")
        self.assertIn("del-none", body["error"]["message"])
        for k in (one, two):
            self.assertEqual(self.a.call("GET", "/key/info?key=" + k["key_id"])[0], 200)
        status, body = self.a.call("POST", "/key/delete",
                                   {"keys": [one["key"]], "key_aliases": ["del-two"]})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["deleted_keys"], [one["key_id"], two["key_id"]])
        self.assertEqual(self.a.call("GET", "/key/info?key=" + one["key_id"])[0], 404)

    def test_list_pages_by_key_id(self):
        made = [self.generate(team_id="t-list", key_alias=f"list-{i}")["key_id"] for i in range(5)]
        seen = []
        for page in (1, 2, 3):
            status, body = self.a.call("GET", f"/key/list?team_id=t-list&size=2&page={page}")
            self.assertEqual(status, 200, body)
            self.assertEqual((body["total_count"], body["total_pages"], body["current_page"]),
                             (5, 3, page))
            seen += body["keys"]
        self.assertEqual(seen, made)
        status, body = self.a.call("GET", "/key/list?team_id=t-list&size=2&page=4")
        self.assertEqual((status, body["keys"]), (200, []))
        status, body = self.a.call("GET", f"/key/list?team_id=t-list&after={made[3]}"
                                   "&return_full_object=true")
        self.assertEqual([k["key_id"] for k in body["keys"]], [made[4]])
        self.assertNotIn("token", body["keys"][0])
        self.a.call("POST", "/key/block", {"key": made[0]})
        status, body = self.a.call("GET", "/key/list?team_id=t-list&status=blocked")
        self.assertEqual((body["keys"], body["total_count"]), ([made[0]], 1))

    def test_litellm_fields_models_and_the_ones_ignored(self):
        status, k = self.a.call("POST", "/key/generate", {
            "models": ["gpt-4"], "max_budget": 10, "metadata": {"team": "x"}, "duration": "30d"})
        self.assertEqual((status, k["metadata"]), (200, {"team": "x", "models": ["gpt-4"]}), k)
        status, body = self.b.call("GET", "/v1/models", key=k["key"])
        self.assertEqual([m["id"] for m in body["data"]], ["gpt-4"])
        status, body = self.a.call("POST", "/key/update", {"key": k["key_id"],
                                                           "models": ["a", "b"]})
        self.assertEqual((status, body["metadata"]), (200, {"team": "x", "models": ["a", "b"]}))
        # only what keymgmt does not keep: nothing changes, the key is the answer
        status, body = self.a.call("POST", "/key/update", {"key": k["key_id"], "max_budget": 5,
                                                           "tpm_limit": 100})
        self.assertEqual((status, body["key_id"], body["updated_at"]),
                         (200, k["key_id"], self.a.call("GET", "/key/info?key=" + k["key_id"])[1]
                          ["info"]["updated_at"]))
        self.assertEqual(len(self.audit(k["key_id"], "updated")), 1)

    def test_delete_names_a_key_twice_deletes_it_once(self):
        k = self.generate(key_alias="twice")
        status, body = self.a.call("POST", "/key/delete", {"keys": [k["key"], k["key_id"]],
                                                           "key_aliases": ["twice"]})
        self.assertEqual((status, body.get("deleted_keys")), (200, [k["key_id"]]), body)
        status, body = self.a.call("POST", "/key/delete", {"keys": 0})
        self.assertError(status, body, 400)

    def test_hostile_input_is_4xx_never_500(self):
        k = self.generate(user_id="mallory")
        deep = "[" * 5000 + "]" * 5000
        cases = [
            ("/key/generate", {"duration": "99999999999999999999d"}, "duration"),
            ("/key/generate", {"duration": "999999999d"}, "duration"),
            ("/key/generate", {"duration": "\u0663d"}, "duration"),
            ("/key/regenerate", {"key": k["key_id"], "grace_period": "9" * 30}, "grace_period"),
            ("/key/block", {"key": "sk-a\u0000b"}, "key"),
            ("/key/block", {"key": "\ud83d"}, "key"),
            ("/key/delete", {"key_aliases": ["x\u0000"]}, "key_aliases"),
            ("/key/generate", {"key_alias": "\ud800"}, "key_alias"),
            ("/key/generate", {"metadata": {"a": "\u0000"}}, "metadata"),
            ("/key/generate", {"metadata": {"\ud800": 1}}, "metadata"),
            ("/key/generate", {"key_alias": "x" * 300}, "key_alias"),
            ("/key/generate", {"user_id": "Bearer sk-" + "a" * 30}, "user_id"),
            ("/key/update", {"key": k["key_id"], "team_id": "t\u0001x"}, "team_id"),
        ]
        for path, body, param in cases:
            with self.subTest(path=path, param=param):
                status, answer = self.a.call("POST", path, raw_body=json.dumps(body).encode())
                self.assertError(status, answer, 400)
                self.assertEqual(answer["error"]["param"], param, answer)
        status, answer = self.a.call("POST", "/key/generate", raw_body=deep.encode())
        self.assertError(status, answer, 400)
        for path in ("/key/list?user_id=%00", "/key/info?key=%00", "/key/list?after=nope"):
            status, answer = self.a.call("GET", path)
            self.assertError(status, answer, 400)

    def raw_http(self, request):
        """Send bytes, read until the server closes (or 3 s): the framing tests."""
        with socket.create_connection(("127.0.0.1", self.a.port), timeout=3) as sock:
            sock.sendall(request)
            data = b""
            try:
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return data.decode(), True
                    data += chunk
            except socket.timeout:
                return data.decode(), False

    def test_framing_a_body_not_read_closes_the_connection(self):
        auth = f"Authorization: Bearer {MASTER}\r\n".encode()
        smuggled = b"GET /health/liveliness HTTP/1.1\r\nHost: x\r\n\r\n"
        for head, status in ((b"Content-Length: abc\r\n", 400), (b"Content-Length: -1\r\n", 400),
                             (b"Transfer-Encoding: chunked\r\n", 411)):
            with self.subTest(head=head):
                data, closed = self.raw_http(b"POST /key/block HTTP/1.1\r\nHost: x\r\n" + auth
                                             + head + b"\r\n" + smuggled)
                self.assertTrue(data.startswith(f"HTTP/1.1 {status} "), data[:80])
                self.assertTrue(closed, "the connection was closed")
                self.assertEqual(data.count("HTTP/1.1 "), 1, "nothing after it was answered")
                self.assertEqual(json.loads(data.split("\r\n\r\n", 1)[1])["error"]["code"],
                                 str(status))
        for request, status in ((b"HEAD /key/list HTTP/1.1\r\nHost: x\r\n\r\n", 405),
                                (b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 405),
                                (b"GET /key/list HTTP/1.1\r\nX: " + b"x" * 70000 + b"\r\n\r\n",
                                 431)):
            data, closed = self.raw_http(request)
            self.assertTrue(data.startswith(f"HTTP/1.1 {status} ") or
                            data.startswith(f"HTTP/1.0 {status} "), data[:80])
            body = data.split("\r\n\r\n", 1)[1]
            if not request.startswith(b"HEAD"):
                self.assertEqual(json.loads(body)["error"]["code"], str(status))
            else:
                self.assertEqual(body, "")

    def test_a_session_actor_on_its_connections_is_not_the_master_keys(self):
        gw = Gateway("-c keymgmt.actor=intruder")     # what a pooler's other client left
        self.gateways.append(gw)
        k = self.generate(user_id="judy")
        status, body = gw.call("POST", "/key/block", {"key": k["key_id"]})
        self.assertEqual(status, 200, body)
        self.assertEqual([r[0] for r in self.audit(k["key_id"], "blocked")], [ROLE])

    def test_a_raw_key_percent_encoded_in_a_path_is_not_logged(self):
        k = self.generate(user_id="ken")
        path = "/key/" + "".join("%%%02X" % b for b in k["key"].encode()) + "/regenerate"
        status, body = self.a.call("POST", path, {})
        self.assertEqual((status, body["key_id"]), (200, k["key_id"]))
        self.assertNotIn(k["key"][3:], self.a.output().replace("%", ""))

    # ------------------------------------------------------------ two instances
    def test_a_block_through_one_instance_reaches_the_other(self):
        k = self.generate(user_id="frank")
        self.assertEqual(self.b.call("GET", "/v1/models", key=k["key"])[0], 200)   # cached
        self.a.call("POST", "/key/block", {"key": k["key_id"]})
        took = wait_for(lambda: self.b.call("GET", "/v1/models", key=k["key"])[0] == 401, 1.0)
        self.assertIsNotNone(took, "the other instance refused the key within a second")

    def test_the_other_instance_recovers_from_lost_connections(self):
        k = self.generate(user_id="grace")
        self.assertEqual(self.b.call("GET", "/v1/models", key=k["key"])[0], 200)
        with admin() as c:
            n = c.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                          " WHERE application_name LIKE %s", [self.b.name + "%"]).fetchone()[0]
        self.assertGreaterEqual(n, 2, "its pool and its cache's connections")
        self.a.call("POST", "/key/block", {"key": k["key_id"]})     # while it reconnects
        took = wait_for(lambda: self.b.call("GET", "/v1/models", key=k["key"])[0] == 401, 5.0)
        self.assertIsNotNone(took, "the change made while it was away reached it")
        status, body = self.b.call("GET", "/key/info?key=" + k["key_id"])
        self.assertEqual((status, body["info"]["blocked"]), (200, True))
        status, body = self.b.call("POST", "/key/unblock", {"key": k["key_id"]})
        self.assertEqual((status, body["blocked"]), (200, False))

    def test_a_pool_whose_connections_all_died_answers_the_next_request(self):
        gw = Gateway()
        self.gateways.append(gw)
        k = self.generate(user_id="lee")
        with admin() as c:
            # eight requests wait for one lock: the pool grows to eight connections
            c.execute("BEGIN")
            c.execute("SELECT 1 FROM keymgmt.block_key(%s)", [k["key_id"]])
            threads = [threading.Thread(target=gw.call, args=("POST", "/key/unblock",
                                                              {"key": k["key_id"]}))
                       for _ in range(8)]
            for t in threads:
                t.start()
            wait_for(lambda: c.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
                " AND wait_event_type = 'Lock'", [gw.name]).fetchone()[0] >= 7, 5)
            c.execute("COMMIT")
            for t in threads:
                t.join()
        with admin() as c:
            n = c.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                          " WHERE application_name = %s", [gw.name]).fetchone()[0]
        self.assertGreater(n, 3, "more dead connections in its pool than it retries")
        status, body = gw.call("GET", "/key/list")
        self.assertEqual(status, 200, body)

    def test_racing_block_and_delete_never_answer_an_empty_200(self):
        for _ in range(12):
            k = self.generate(user_id="race")
            answers = {}

            def run(route, gw):
                body = {"keys": [k["key_id"]]} if route == "/key/delete" else {"key": k["key_id"]}
                answers[route] = gw.call("POST", route, body)
            threads = [threading.Thread(target=run, args=("/key/block", self.a)),
                       threading.Thread(target=run, args=("/key/delete", self.b))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            status, body = answers["/key/delete"]
            self.assertEqual((status, body.get("deleted_keys")), (200, [k["key_id"]]), body)
            status, body = answers["/key/block"]
            if status == 200:
                self.assertEqual((body["key_id"], body["blocked"]), (k["key_id"], True))
            else:
                self.assertError(status, body, 404, "not_found_error")

    # ------------------------------------------------------------ SQLSTATEs
    def test_lock_timeout_is_409_and_serialization_failure_is_retried(self):
        gw = Gateway(r"-c lock_timeout=2000 -c default_transaction_isolation=repeatable\\ read")
        self.gateways.append(gw)
        k = self.generate(user_id="henry")
        with admin() as c:
            c.execute("SET lock_timeout = 0")
            # 55P03: the row stays locked past the gateway's lock_timeout
            c.execute("BEGIN")
            c.execute("SELECT 1 FROM keymgmt.block_key(%s)", [k["key_id"]])
            status, body = gw.call("POST", "/key/block", {"key": k["key_id"]})
            self.assertError(status, body, 409, "conflict_error")
            c.execute("ROLLBACK")
            # 40001: the block commits while the gateway waits; it tries again
            c.execute("BEGIN")
            c.execute("SELECT 1 FROM keymgmt.block_key(%s)", [k["key_id"]])
            answer = {}
            t = threading.Thread(target=lambda: answer.update(
                r=gw.call("POST", "/key/block", {"key": k["key_id"]})))
            t.start()
            waiting = wait_for(lambda: c.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
                " AND wait_event_type = 'Lock'", [gw.name]).fetchone()[0] == 1, 1.5)
            c.execute("COMMIT")
            t.join()
        self.assertIsNotNone(waiting, "the gateway waited for the lock")
        status, body = answer["r"]
        self.assertEqual((status, body.get("blocked")), (200, True), body)
        self.assertEqual(len(self.audit(k["key_id"], "blocked")), 1)

    def test_read_only_database_is_503(self):
        gw = Gateway("-c default_transaction_read_only=on")
        self.gateways.append(gw)
        k = self.generate(user_id="ivan")
        status, body = gw.call("POST", "/key/block", {"key": k["key_id"]})
        self.assertError(status, body, 503, "service_unavailable_error")
        status, body = gw.call("GET", "/key/info?key=" + k["key_id"])
        self.assertEqual(status, 200, body)

    # ------------------------------------------------------------ process
    def test_sigterm_exits_0_after_one_ready_line(self):
        gw = Gateway()
        self.assertEqual(gw.call("GET", "/health/readiness")[0], 200)
        self.assertEqual(gw.stop(), 0)
        self.assertEqual(gw.rest_of_stdout, "", "stdout holds the ready line only")

    def test_zz_nothing_printed_or_answered_holds_a_secret(self):
        printed = "".join(g.output() + g.ready_line for g in self.gateways)
        self.assertIn("POST /key/block", printed, "the access log is there to be read")
        for secret in SECRETS:
            self.assertNotIn(secret, printed)
            self.assertNotIn(token(secret)[:13], printed)
        self.assertIsNone(re.search(r"[0-9a-f]{13,}", printed))
        for created, text in RESPONSES:
            if created:
                text = re.sub(r'"key": "sk-[A-Za-z0-9_-]+"', "", text)
            self.assertIsNone(re.search(r"[0-9a-f]{13,}", text), text[:200])
            for secret in SECRETS:
                self.assertNotIn(secret, text)


if __name__ == "__main__":
    taptest.run(GatewayTest)

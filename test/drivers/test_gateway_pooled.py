"""examples/gateway behind pgbouncer in transaction mode.

Run by test/drivers/run.sh (DRV_DB, DRV_PASSWORD, DRV_BOUNCER_PORT; the role
drv_gw has the GRANTs of examples/gateway/grants.sql).  The gateway's pool
goes through pgbouncer (--dsn), its cache's LISTEN and feed connect directly
(--feed-dsn), as the README says to run it behind a pooler.  Prints
"ok - ..." lines; exits non-zero when one fails.  Prints key_ids, never a key.
"""

import http.client
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import uuid

import psycopg

import checks
from checks import check

DB = os.environ["DRV_DB"]
PASSWORD = os.environ["DRV_PASSWORD"]
BOUNCER_PORT = int(os.environ["DRV_BOUNCER_PORT"])
MASTER = "sk-" + uuid.uuid4().hex[:8]
SECRETS = [MASTER]
def call(port, method, path, body=None, key=MASTER):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Authorization": "Bearer " + key})
    response = conn.getresponse()
    answer = json.loads(response.read())
    conn.close()
    return response.status, answer


def main():
    direct = (f"host={os.environ.get('PGHOST', 'localhost')} port={os.environ.get('PGPORT', '5432')}"
              f" dbname={DB} user=drv_gw password={PASSWORD}")
    pooled = f"host=127.0.0.1 port={BOUNCER_PORT} dbname={DB} user=drv_gw password={PASSWORD}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["KEYMGMT_MASTER_KEY"] = MASTER
    gateway = subprocess.Popen(
        ["/usr/bin/python3", "examples/gateway/gateway.py", "--listen", "127.0.0.1:0",
         "--dsn", pooled, "--feed-dsn", direct],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([gateway.stdout], [], [], 20)
        line = gateway.stdout.readline().decode() if ready else ""
        m = re.search(r":(\d+)$", line.strip())
        check(m is not None, "the gateway starts with its pool behind pgbouncer", line)
        if m is None:
            return
        port = int(m.group(1))

        status, key = call(port, "POST", "/key/generate", {"user_id": "pooled-user"})
        check(status == 200 and "key_id" in key, "generate through the pooler")
        SECRETS.append(key["key"])
        statuses = [call(port, "POST", route, {"key": key["key_id"]})[0]
                    for _ in range(10) for route in ("/key/block", "/key/unblock")]
        check(statuses == [200] * 20,
              "20 block/unblock calls through one server connection: no prepared statement"
              " left behind (psycopg's prepare_threshold=None)", statuses)
        status, body = call(port, "POST", "/key/block", {"key": "sk-does-not-exist"})
        check((status, body["error"]["type"]) == (404, "not_found_error"),
              "an unknown key is 404 through the pooler", body)

        # another client of the same role leaves a session-level SET on the one
        # server connection; the master key's call names no actor and must not
        # take it as one
        with psycopg.connect(pooled, autocommit=True) as other:
            other.prepare_threshold = None
            other.execute("SET keymgmt.actor = 'intruder'")
            left = other.execute("SHOW keymgmt.actor").fetchone()[0]
        check(left == "intruder", "the SET stays on pgbouncer's server connection", left)
        status, body = call(port, "POST", "/key/block", {"key": key["key_id"]})
        with psycopg.connect(dbname=DB, autocommit=True) as su:
            actor = su.execute("SELECT changed_by FROM keymgmt.audit_log WHERE key_id = %s"
                               " AND action = 'blocked' ORDER BY id DESC LIMIT 1",
                               [key["key_id"]]).fetchone()
        check(status == 200 and actor == ("drv_gw",),
              "the master key's block is audited as the gateway's role, not the leftover actor",
              (status, actor))

        status, _ = call(port, "POST", "/key/unblock", {"key": key["key_id"]})
        status, _ = call(port, "GET", "/v1/models", key=key["key"])
        check(status == 200, "/v1/models with the key, through the cache")
        call(port, "POST", "/key/block", {"key": key["key_id"]})
        start = time.monotonic()
        while time.monotonic() - start < 1.0 and \
                call(port, "GET", "/v1/models", key=key["key"])[0] != 401:
            time.sleep(0.02)
        check(call(port, "GET", "/v1/models", key=key["key"])[0] == 401,
              "the block reaches the cache within a second (LISTEN on the direct --feed-dsn)")
    finally:
        gateway.send_signal(signal.SIGTERM)
        try:
            rc = gateway.wait(timeout=10)
        except subprocess.TimeoutExpired:
            gateway.kill()
            rc = gateway.wait()
        printed = gateway.stdout.read().decode() + gateway.stderr.read().decode()
        check(rc == 0, "the gateway exits 0 on SIGTERM", rc)
        check(not any(secret in printed for secret in SECRETS),
              "no raw key in what the gateway printed")


if __name__ == "__main__":
    main()
    sys.exit(1 if checks.failures else 0)

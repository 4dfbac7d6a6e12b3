"""keymgmt through psycopg 3, directly and through pgbouncer (transaction
mode, one server connection per role), and the pooler leak test.

Run by test/drivers/run.sh, which creates the database (DRV_DB), the roles
(password DRV_PASSWORD) and the pgbouncer (port DRV_BOUNCER_PORT).  Direct
connections go where the PG* variables point.  Prints "ok - ..." lines;
exits non-zero when one fails.  Prints key_ids, never a key.
"""

import json
import os
import sys
import time

import psycopg

import checks
from checks import check
from psycopg import errors

DB = os.environ["DRV_DB"]
PASSWORD = os.environ["DRV_PASSWORD"]
BOUNCER_PORT = int(os.environ["DRV_BOUNCER_PORT"])
def superuser():
    return psycopg.connect(dbname=DB, autocommit=True)


def direct(user):
    return psycopg.connect(dbname=DB, user=user, password=PASSWORD, autocommit=True)


def pooled(user, prepare_threshold=None):
    # Behind pgbouncer in transaction mode a server connection belongs to
    # another client between our transactions, and pgbouncer 1.18 does not
    # carry server-side prepared statements across: psycopg must not prepare
    # (prepare_threshold=None; its default, 5, prepares a query run 5 times).
    c = psycopg.connect(host="127.0.0.1", port=BOUNCER_PORT, dbname=DB, user=user,
                        password=PASSWORD, autocommit=True)
    c.prepare_threshold = prepare_threshold
    return c


def error_of(conn, query, params=()):
    """The psycopg.Error that query raised, or None."""
    try:
        conn.execute(query, params).fetchall()
    except psycopg.Error as e:
        return e
    return None


def describe(e):
    if e is None:
        return "no error"
    return f"{type(e).__name__} {e.sqlstate}: {e.diag.message_primary}"


def raises(conn, query, params, exc, sqlstate, what):
    e = error_of(conn, query, params)
    check(isinstance(e, exc) and e.sqlstate == sqlstate, f"{what}: {sqlstate} ({exc.__name__})",
          describe(e))
    return e


def lifecycle(mode, connect):
    """Every change function, its results and its errors, as drv_admin."""
    with connect("drv_admin") as c:
        alias = f"psycopg-{mode}"
        raw, token, key_name = c.execute(
            "SELECT key, token, key_name FROM keymgmt.generate_key("
            " key_alias => %s, user_id => 'user-42', actor => 'ops')", [alias]).fetchone()
        key_id = c.execute("SELECT key_id FROM keymgmt.key_info(%s)", [token]).fetchone()[0]
        print(f"# {mode}: key {key_id}")
        check(raw.startswith("sk-") and key_name == "sk-..." + raw[-4:] and len(token) == 64,
              f"{mode}: generate_key returns a raw key, its token and its key_name")
        row = c.execute("SELECT valid, status, key_id FROM keymgmt.verify_key(%s)", [raw]).fetchone()
        check(row == (True, "valid", key_id), f"{mode}: verify_key of the new key is valid", row)

        blocked = c.execute("SELECT blocked FROM keymgmt.block_key(%s, actor => 'ops')",
                            [str(key_id)]).fetchone()[0]
        status = c.execute("SELECT status FROM keymgmt.verify_key(%s)", [raw]).fetchone()[0]
        check(blocked is True and status == "blocked", f"{mode}: block_key by key_id, verify_key says blocked",
              (blocked, status))
        blocked = c.execute("SELECT blocked FROM keymgmt.unblock_key(%s, actor => 'ops')",
                            [token]).fetchone()[0]
        check(blocked is False, f"{mode}: unblock_key by token")

        meta = c.execute("SELECT metadata FROM keymgmt.update_key(%s, %s, actor => 'ops')",
                         [str(key_id), json.dumps({"metadata": {"tier": "gold"}})]).fetchone()[0]
        check(meta == {"tier": "gold"}, f"{mode}: update_key changes metadata", meta)
        raises(c, "SELECT keymgmt.update_key(%s, '{\"blocked\": true}', actor => 'ops')", [str(key_id)],
               errors.InvalidParameterValue, "22023", f"{mode}: update_key of blocked")
        raises(c, "SELECT keymgmt.generate_key(key_alias => %s, actor => 'ops')", [alias],
               errors.UniqueViolation, "23505", f"{mode}: generate_key with a taken alias")

        new_raw, new_token, rot_id, until = c.execute(
            "SELECT key, token, key_id, previous_valid_until"
            " FROM keymgmt.rotate_key(%s, '1 hour', actor => 'ops')", [str(key_id)]).fetchone()
        old = c.execute("SELECT status, key_id, grace_until IS NOT NULL FROM keymgmt.verify_key(%s)",
                        [raw]).fetchone()
        new = c.execute("SELECT status, key_id FROM keymgmt.verify_key(%s)", [new_raw]).fetchone()
        check(rot_id == key_id and new_token != token and until is not None
              and old == ("valid", key_id, True) and new == ("valid", key_id),
              f"{mode}: rotate_key: the new secret is valid, the old one in its grace, one key_id",
              (old, new))

        gone = c.execute("SELECT key_id FROM keymgmt.delete_key(%s, actor => 'ops')",
                         [str(key_id)]).fetchone()[0]
        status = c.execute("SELECT status FROM keymgmt.verify_key(%s)", [new_raw]).fetchone()[0]
        check(gone == key_id and status == "not_found", f"{mode}: delete_key returns the row as it was",
              status)
        raises(c, "SELECT keymgmt.block_key(%s, actor => 'ops')", [str(key_id)],
               errors.UndefinedObject, "42704", f"{mode}: block_key of a deleted key")
        raises(c, "SELECT keymgmt.unblock_key(NULL)", [], errors.NullValueNotAllowed, "22004",
               f"{mode}: unblock_key(NULL)")
        raises(c, "SELECT keymgmt.delete_key('sk-not a key')", [], errors.InvalidParameterValue,
               "22023", f"{mode}: delete_key of a malformed key")
        raises(c, "SELECT keymgmt.rotate_key(%s, '1 hour')", [new_token],
               errors.UndefinedObject, "42704", f"{mode}: rotate_key of the deleted key's token")
        # a function that was never granted to drv_admin
        raises(c, "SELECT keymgmt.end_grace(%s)", [new_token], errors.InsufficientPrivilege,
               "42501", f"{mode}: end_grace, not granted")
    with connect("drv_stranger") as s:
        raises(s, "SELECT keymgmt.block_key(%s)", [token], errors.InsufficientPrivilege, "42501",
               f"{mode}: block_key by a role with no EXECUTE")


def new_key(su, alias):
    """A key of user-42's, made by the superuser; its key_id."""
    token = su.execute("SELECT token FROM keymgmt.generate_key(key_alias => %s, user_id => 'user-42')",
                       [alias]).fetchone()[0]
    return su.execute("SELECT key_id FROM keymgmt.key_info(%s)", [token]).fetchone()[0]


def prepared_statements():
    """What server-side prepared statements do behind pgbouncer 1.18."""
    query = "SELECT status FROM keymgmt.verify_key(%s)"
    with pooled("drv_admin") as a, pooled("drv_admin") as b:
        answers = [c.execute(query, ["sk-drivers-no-such-key"]).fetchone()[0]
                   for _ in range(6) for c in (a, b)]
        check(answers == ["not_found"] * 12,
              "pgbouncer: prepare_threshold=None, two clients on one server connection, 12 queries",
              answers)
    with pooled("drv_admin", prepare_threshold=0) as a, pooled("drv_admin", prepare_threshold=0) as b:
        a.execute(query, ["sk-drivers-no-such-key"])
        # b's first statement gets the same name as a's, on the same server connection
        raises(b, query, ["sk-drivers-no-such-key"], errors.DuplicatePreparedStatement, "42P05",
               "pgbouncer: with prepare_threshold=0 the second client's prepared statement")
        a.execute("DEALLOCATE ALL")


def listen():
    """LISTEN on a direct connection (pgbouncer in transaction mode cannot
    carry it: the server connection that listens is someone else's after
    the transaction); a change made through pgbouncer is notified on commit."""
    got = []
    with direct("drv_gateway") as listener, pooled("drv_admin") as c, superuser() as su:
        listener.add_notify_handler(lambda n: got.append((n.channel, n.payload)))
        listener.execute("LISTEN keymgmt")
        key_id = new_key(su, "psycopg-listen")
        c.execute("SELECT keymgmt.block_key(%s, actor => 'ops')", [str(key_id)])
        deadline = time.monotonic() + 5
        want = None
        while time.monotonic() < deadline and want is None:
            listener.execute("SELECT 1")  # psycopg reads notifications with results
            want = next((json.loads(p) for ch, p in got if ch == "keymgmt"
                         and json.loads(p).get("key_id") == str(key_id)
                         and json.loads(p).get("action") == "blocked"), None)
            time.sleep(0.05)
        check(want is not None and want.get("token") == su.execute(
            "SELECT token FROM keymgmt.keys WHERE key_id = %s", [key_id]).fetchone()[0],
            "LISTEN keymgmt on a direct connection: the block made through pgbouncer is notified"
            " with its token and key_id", got)


def audit(su, key_id):
    return su.execute("SELECT action, changed_by, db_role FROM keymgmt.audit_log"
                      " WHERE key_id = %s AND action <> 'created' ORDER BY id", [key_id]).fetchall()


def leak():
    """One client's session-level SET keymgmt.actor stays on the server
    connection; the next client's change must not be made as that actor."""
    with superuser() as su, pooled("drv_gateway") as a, pooled("drv_gateway") as b:
        key_id = new_key(su, "psycopg-leak")
        pid_a = a.execute("SELECT pg_backend_pid()").fetchone()[0]
        a.execute("SET keymgmt.actor = 'user-42'")  # session-level, in a transaction of its own
        pid_b, left = b.execute("SELECT pg_backend_pid(), current_setting('keymgmt.actor')").fetchone()
        check(pid_a == pid_b and left == "user-42",
              "leak: B gets A's server connection, with A's session-level keymgmt.actor on it",
              (pid_a == pid_b, left))
        e = raises(b, "SELECT blocked FROM keymgmt.block_key(%s)", [str(key_id)],
                   errors.InsufficientPrivilege, "42501",
                   "leak: B's block_key with no actor of its own")
        hint = e.diag.message_hint if e is not None else None
        check(hint is not None and "SET LOCAL keymgmt.actor" in hint,
              "leak: the 42501 hint says to use SET LOCAL keymgmt.actor", hint)
        blocked = su.execute("SELECT blocked FROM keymgmt.keys WHERE key_id = %s", [key_id]).fetchone()[0]
        rows = audit(su, key_id)
        check(blocked is False and rows == [],
              "leak: the key is not blocked and no audit row names user-42", rows)

        # a key of its own, so that this holds or fails on its own
        key_id = new_key(su, "psycopg-leak-local")
        with b.transaction():
            b.execute("SET LOCAL keymgmt.actor = 'ops'")
            blocked = b.execute("SELECT blocked FROM keymgmt.block_key(%s)", [str(key_id)]).fetchone()[0]
        with b.transaction():
            b.execute("SELECT set_config('keymgmt.actor', 'ops', true)")
            unblocked = b.execute("SELECT blocked FROM keymgmt.unblock_key(%s)",
                                  [str(key_id)]).fetchone()[0]
        rows = audit(su, key_id)
        check(blocked is True and unblocked is False
              and rows == [("blocked", "ops", "drv_gateway"), ("unblocked", "ops", "drv_gateway")],
              "leak: SET LOCAL and set_config(..., true) in B's transaction name B's actor", rows)
        a.execute("RESET keymgmt.actor")


def role_settings():
    """ALTER ROLE ... SET reaches only server connections opened after it;
    pgbouncer keeps the ones it has.  set_actor_required is read on every
    change, so it binds them at once."""
    with superuser() as su, pooled("drv_gateway2") as g:
        key_id = new_key(su, "psycopg-role")
        pid = g.execute("SELECT pg_backend_pid()").fetchone()[0]
        # load keymgmt in that backend (unless preloaded), so its settings exist there
        g.execute("SELECT status FROM keymgmt.verify_key('sk-drivers-load')").fetchone()
        su.execute("ALTER ROLE drv_gateway2 SET keymgmt.require_actor = on")
        try:
            pid2, setting = g.execute(
                "SELECT pg_backend_pid(), current_setting('keymgmt.require_actor')").fetchone()
            check(pid2 == pid and setting == "off",
                  "role setting: the server connection pgbouncer kept has require_actor off after"
                  " ALTER ROLE drv_gateway2 SET keymgmt.require_actor = on", (pid2 == pid, setting))
            e = error_of(g, "SELECT keymgmt.block_key(%s)", [str(key_id)])
            check(e is None, "role setting: so a change with no actor still goes through on it",
                  describe(e))
            with direct("drv_gateway2") as d:
                setting = d.execute("SELECT current_setting('keymgmt.require_actor')").fetchone()[0]
                e = error_of(d, "SELECT keymgmt.unblock_key(%s)", [str(key_id)])
                check(setting == "on" and isinstance(e, errors.InsufficientPrivilege),
                      "role setting: a new connection has it: no actor is 42501", describe(e))
            su.execute("SELECT keymgmt.set_actor_required('drv_gateway2')")
            e = error_of(g, "SELECT keymgmt.unblock_key(%s)", [str(key_id)])
            pid3 = g.execute("SELECT pg_backend_pid()").fetchone()[0]
            check(pid3 == pid and isinstance(e, errors.InsufficientPrivilege) and e.sqlstate == "42501",
                  "role setting: set_actor_required binds the old server connection at once: 42501",
                  describe(e))
        finally:
            su.execute("ALTER ROLE drv_gateway2 RESET keymgmt.require_actor")
            su.execute("SELECT keymgmt.set_actor_required('drv_gateway2', false)")


def main():
    print(f"# psycopg {psycopg.__version__} ({psycopg.pq.__impl__}, libpq {psycopg.pq.version()})")
    steps = [("direct", lambda: lifecycle("direct", direct)),
             ("pgbouncer", lambda: lifecycle("pgbouncer", pooled)),
             ("prepared statements", prepared_statements), ("listen", listen),
             ("leak", leak), ("role settings", role_settings)]
    for name, step in steps:
        try:
            step()
        except Exception as e:  # one broken step must not hide the others
            check(False, f"{name}: ran to its end",
                  describe(e) if isinstance(e, psycopg.Error) else repr(e))
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())

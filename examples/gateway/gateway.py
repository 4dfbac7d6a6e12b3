"""A LiteLLM-style key gateway in front of keymgmt.

    KEYMGMT_MASTER_KEY=sk-... /usr/bin/python3 examples/gateway/gateway.py \\
        --listen 127.0.0.1:4000 --dsn 'host=... dbname=... user=gateway'

It speaks LiteLLM's key routes with LiteLLM's request bodies (POST
/key/generate, /key/update, /key/regenerate, /key/delete, /key/block,
/key/unblock; GET /key/info, /key/list) and one authenticated route, GET
/v1/models, whose bearer key is checked through examples/keycache.py.

Each route is one database transaction that calls keymgmt's functions: the
database locks, checks, changes and audits; the gateway only maps HTTP to
calls and SQLSTATEs to HTTP.  Every error has one body shape,
{"error": {"message", "type", "param", "code"}}, whoever the caller is.

The master key (KEYMGMT_MASTER_KEY) is the proxy admin: its calls name no
actor, so the database role decides.  Any other bearer key acts as its
owner (actor = the key's user_id); a key with no user_id may manage nothing.

No body or line it prints holds a raw key or more than 12 characters of a
token, except the response that creates a key, which returns it once.  Keys
are named by key_id, key_name and key_alias.

Only the standard library and Debian's python3-psycopg, python3-psycopg-pool.
"""

import os
import sys

try:
    import psycopg
    import psycopg_pool
    from psycopg.rows import dict_row
except ImportError:
    # Debian's packages live in Debian's python; another python3 on PATH
    # (pyenv, a virtualenv) does not see them
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") \
            and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

import argparse
import datetime
import hmac
import json
import math
import re
import signal
import threading
import time
import urllib.parse
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from keycache import KeyCache  # noqa: E402

MAX_BODY = 1 << 20
RETRIES = 3                     # attempts for 40001 / 40P01 and a lost connection

# ---------------------------------------------------------------- redaction
# keymgmt never puts a raw key or a whole token into a message; the gateway
# makes sure of it for everything it prints or answers, whatever the source
# (a client's request line, PostgreSQL's own messages, metadata).
_RAW_KEY = re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]+")
_LONG_HEX = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{13,}(?![0-9A-Fa-f])")
# in data (metadata, ids) only what is surely a secret: a whole token, or a raw
# key as keymgmt recognises one embedded in a value (20 or more key characters)
_EMBEDDED_KEY = re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}")
_TOKEN = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _key_name(m):
    return "sk-..." + m.group(0)[-4:] if len(m.group(0)) > 7 else "sk-..."


def redact(text):
    """For messages and log lines: any sk-... word, any run of 13+ hex digits."""
    text = _RAW_KEY.sub(_key_name, text)
    return _LONG_HEX.sub(lambda m: m.group(0)[:12] + "...", text)


def redact_data(text):
    text = _EMBEDDED_KEY.sub(_key_name, text)
    return _TOKEN.sub(lambda m: m.group(0)[:12] + "...", text)


def redact_value(value):
    if isinstance(value, str):
        return redact_data(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    return value


def log(line):
    """One line on stderr: secrets redacted, control characters escaped."""
    line = _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group(0)), redact(line))
    print(line, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- errors
class ApiError(Exception):
    TYPES = {400: "bad_request_error", 401: "auth_error", 403: "auth_error",
             404: "not_found_error", 405: "bad_request_error", 408: "bad_request_error",
             409: "conflict_error", 411: "bad_request_error", 413: "bad_request_error",
             414: "bad_request_error", 431: "bad_request_error",
             500: "internal_server_error", 501: "bad_request_error",
             503: "service_unavailable_error"}

    def __init__(self, status, message, param=None, type_=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.type = type_ or self.TYPES.get(status, "internal_server_error")

    def body(self):
        return {"error": {"message": redact(self.message), "type": self.type,
                          "param": self.param, "code": str(self.status)}}


# SQLSTATE -> HTTP status, as the SPEC's error table has it
SQLSTATE_STATUS = {
    "22004": 400, "22023": 400,
    "42704": 404,
    "42501": 403,
    "23505": 409, "55P03": 409,
    "40001": 409, "40P01": 409,     # after RETRIES attempts
    "25006": 503, "54000": 503, "55000": 503,
}


# fields keymgmt's messages name, and the request field each one came from
MESSAGE_FIELDS = {"key_alias": "key_alias", "user_id": "user_id", "team_id": "team_id",
                  "organization_id": "organization_id", "key_name": "key_name",
                  "metadata": "metadata", "expires": "duration", "grace": "grace_period",
                  "status": "status"}
_FIELD_WORD = re.compile(r"\b(" + "|".join(MESSAGE_FIELDS) + r")\b")


def from_database(e, param=None):
    state = e.sqlstate or ""
    status = SQLSTATE_STATUS.get(state)
    if status is None and state.startswith("22"):
        status = 400                    # the caller's data: PostgreSQL's own checks
    elif status is None and (state == "57014" or state.startswith("53")):
        status = 503                    # statement timeout, out of resources
    elif status is None and not state and isinstance(e, psycopg.DataError):
        return ApiError(400, "a value could not be converted for the database", param)
    if status is None:
        log(f"unexpected database error {state}: {e.diag.message_primary or e}")
        return ApiError(500, f"internal error (SQLSTATE {state})")
    message = e.diag.message_primary or str(e).splitlines()[0]
    if state in ("40001", "40P01"):
        message = f"the key was changed concurrently; gave up after {RETRIES} attempts"
    if status == 400:
        # the field the message names (keymgmt names the one at fault), else the route's
        named = _FIELD_WORD.search(message)
        return ApiError(status, message, MESSAGE_FIELDS[named.group(1)] if named else param)
    return ApiError(status, message, param if state == "42704" else None)


def connection_lost(e):
    """A broken connection (nothing sent, or the server ended it), not an SQL error."""
    return e.sqlstate is None or e.sqlstate.startswith("08") or \
        e.sqlstate in ("57P01", "57P02", "57P03")


# ---------------------------------------------------------------- requests
_DURATION = re.compile(r"^\s*([0-9]{1,12})\s*(s|m|h|d|w|mo)?\s*$")
MAX_DURATION = datetime.timedelta(days=36500)     # a century: beyond is a typo
_UNITS = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000}


def duration(value, param):
    """LiteLLM's duration strings ("30s", "10m", "24h", "2d"); None stays None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ApiError(400, f"{param} must be a string such as \"30s\", \"10m\", \"24h\" or \"2d\"",
                       param)
    m = _DURATION.match(str(value))
    if not m:
        raise ApiError(400, f"{param} must be a number followed by s, m, h, d, w or mo", param)
    seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if seconds > MAX_DURATION.total_seconds():
        raise ApiError(400, f"{param} must be at most 36500d", param)
    return datetime.timedelta(seconds=seconds)


def check_text(value, param):
    """Every string of a request, before it reaches the database."""
    try:
        stack = [value]
        while stack:
            v = stack.pop()
            if isinstance(v, str):
                if "\x00" in v:
                    raise ApiError(400, f"{param} must not contain NUL characters", param)
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    raise ApiError(400, f"{param} is not valid UTF-8 text", param)
            elif isinstance(v, dict):
                stack.extend(v.keys())
                stack.extend(v.values())
            elif isinstance(v, list):
                stack.extend(v)
    except RecursionError:
        raise ApiError(400, f"{param} is nested too deeply", param)


def text_field(body, name, required=False):
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"{name} is required", name)
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string", name)
    return value


def metadata_field(body):
    value = body.get("metadata")
    if value is not None and not isinstance(value, dict):
        raise ApiError(400, "metadata must be a JSON object", "metadata")
    return value


def models_field(body):
    value = body.get("models")
    if value is not None and (not isinstance(value, list)
                              or not all(isinstance(m, str) for m in value)):
        raise ApiError(400, "models must be a list of strings", "models")
    return value


def bool_field(body, name):
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise ApiError(400, f"{name} must be true or false", name)
    return value


KEY_COLUMNS = ("key_id", "key_name", "key_alias", "user_id", "team_id",
               "organization_id", "blocked", "expires", "metadata",
               "created_at", "updated_at", "created_by", "updated_by")


def jsonable(value):
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def key_view(row):
    """A key as the gateway shows it: by key_id, never by token."""
    return {c: jsonable(row[c]) for c in KEY_COLUMNS if c in row}


# UPDATE fields of LiteLLM's /key/update that keymgmt keeps
UPDATABLE = ("key_alias", "user_id", "team_id", "organization_id", "metadata")


def update_changes(body):
    """update_key's changes from a LiteLLM update body, its expires interval and models."""
    changes = {}
    for name in UPDATABLE:
        if name in body:
            value = metadata_field(body) if name == "metadata" else text_field(body, name)
            if name == "metadata" and value is None:
                raise ApiError(400, "metadata cannot be null", "metadata")
            changes[name] = value
    expires_in = None
    if body.get("duration") is not None:
        if str(body["duration"]).strip() == "-1":
            changes["expires"] = None      # LiteLLM's "never expires"
        else:
            expires_in = duration(body["duration"], "duration")
    models = models_field(body)
    if models is not None and "metadata" in changes:
        changes["metadata"] = dict(changes["metadata"], models=models)
        models = None
    return changes, expires_in, models


class Caller:
    def __init__(self, master, actor=None):
        self.master = master
        self.actor = actor


# ---------------------------------------------------------------- the gateway
class Gateway:
    def __init__(self, dsn, master_key, name, pool_size=8, models=("gpt-4o-mini",),
                 feed_dsn=None):
        self.master_key = master_key.encode()
        self.default_models = list(models)
        self.name = name
        self.pool = psycopg_pool.ConnectionPool(
            dsn, min_size=1, max_size=pool_size, open=True, timeout=10,
            # no server-side prepared statements: a pooler in transaction
            # mode (pgbouncer before 1.21) cannot carry them between clients
            kwargs={"autocommit": True, "application_name": name,
                    "row_factory": dict_row, "prepare_threshold": None})
        self.pool.wait(timeout=10)
        # the cache LISTENs: it needs a connection of its own, not a pooler's
        self.cache = KeyCache(feed_dsn or dsn, application_name=name)

    def close(self):
        self.cache.close()
        self.pool.close()

    # one transaction, retried on 40001/40P01 and on a connection lost before COMMIT
    def transaction(self, work, param="key", read_only=False, repeatable_read=False):
        begin = "BEGIN"
        if read_only or repeatable_read:
            begin += " ISOLATION LEVEL REPEATABLE READ"
        if read_only:
            begin += " READ ONLY"
        # a keymgmt.actor another client of a pooler left on the connection
        # must not become the actor of a call that names none
        begin += "; SET LOCAL keymgmt.actor = ''"
        for attempt in range(1, RETRIES + 1):
            committing = False
            try:
                with self.pool.connection() as conn:
                    try:
                        conn.execute(begin)
                        result = work(conn)
                        committing = True
                        conn.execute("COMMIT")
                        return result
                    except BaseException:
                        if not conn.closed and conn.pgconn.transaction_status != \
                                psycopg.pq.TransactionStatus.UNKNOWN:
                            conn.execute("ROLLBACK")
                        raise
            except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as e:
                if attempt == RETRIES:
                    raise from_database(e, param)
                time.sleep(0.01 * attempt)
            except psycopg.OperationalError as e:
                if not connection_lost(e):
                    raise from_database(e, param)
                if committing:
                    log(f"connection lost during COMMIT: {e}")
                    raise ApiError(503, "the database connection was lost during commit;"
                                   " the change may or may not have been made")
                if attempt == RETRIES:
                    raise ApiError(503, "the database is not reachable")
                self.pool.check()       # drop every idle connection that died with it
            except psycopg_pool.PoolTimeout:
                raise ApiError(503, "no database connection available")
            except psycopg.Error as e:
                raise from_database(e, param)

    # -------- who is calling
    def bearer(self, headers):
        value = headers.get("Authorization") or ""
        if value[:7].lower() == "bearer ":
            value = value[7:].strip()
        value = value or (headers.get("x-litellm-api-key") or "").strip()
        if not value:
            raise ApiError(401, "no API key given: send Authorization: Bearer sk-...")
        return value

    def is_master(self, key):
        return hmac.compare_digest(key.encode(), self.master_key)

    @staticmethod
    def refuse(status_name):
        if status_name == "expired":
            return ApiError(401, "the API key has expired", type_="expired_key")
        if status_name == "blocked":
            return ApiError(401, "the API key is blocked")
        return ApiError(401, "invalid API key")

    def caller(self, conn, key):
        """A management route's caller, read in its own transaction (never stale)."""
        if self.is_master(key):
            return Caller(master=True)
        answer = conn.execute("SELECT status, user_id FROM keymgmt.verify_key(%s)",
                              [key]).fetchone()
        if answer["status"] != "valid":
            raise self.refuse(answer["status"])
        if answer["user_id"] is None:
            raise ApiError(403, "this API key names no user and may manage no keys")
        return Caller(master=False, actor=answer["user_id"])

    # -------- helpers that call keymgmt
    @staticmethod
    def key_row(conn, key):
        return conn.execute("SELECT * FROM keymgmt.key_info(%s)", [key]).fetchone()

    @staticmethod
    def update(conn, key, changes, expires_in, actor):
        return conn.execute(
            "SELECT * FROM keymgmt.update_key(%s, %s::jsonb || CASE WHEN %s::interval IS NULL"
            " THEN '{}'::jsonb ELSE pg_catalog.jsonb_build_object('expires',"
            " pg_catalog.now() + %s::interval) END, %s)",
            [key, json.dumps(changes), expires_in, expires_in, actor]).fetchone()

    # -------- routes
    def generate(self, bearer, body):
        key = text_field(body, "key")
        alias = text_field(body, "key_alias")
        team = text_field(body, "team_id")
        org = text_field(body, "organization_id")
        metadata = metadata_field(body)
        blocked = bool_field(body, "blocked")
        expires_in = duration(body.get("duration"), "duration")
        key_name = text_field(body, "key_name")
        models = models_field(body)
        if models is not None:
            metadata = dict(metadata or {}, models=models)

        def work(conn):
            who = self.caller(conn, bearer)
            user = text_field(body, "user_id")
            if user is None and not who.master:
                user = who.actor        # a user makes keys of their own
            meta = json.dumps(metadata if metadata is not None else {})
            if key is None:
                made = conn.execute(
                    "SELECT * FROM keymgmt.generate_key(key_alias => %s, user_id => %s,"
                    " team_id => %s, organization_id => %s,"
                    " expires => pg_catalog.now() + %s::interval, metadata => %s::jsonb,"
                    " actor => %s)",
                    [alias, user, team, org, expires_in, meta, who.actor]).fetchone()
                raw, token = made["key"], made["token"]
                if blocked:
                    conn.execute("SELECT 1 FROM keymgmt.block_key(%s, %s)", [token, who.actor])
            else:
                # a key chosen by the caller (or moved in from elsewhere)
                conn.execute(
                    "SELECT 1 FROM keymgmt.import_key(key => %s, key_name => %s,"
                    " key_alias => %s, user_id => %s, team_id => %s, organization_id => %s,"
                    " blocked => %s, expires => pg_catalog.now() + %s::interval,"
                    " metadata => %s::jsonb, actor => %s)",
                    [key, key_name, alias, user, team, org, bool(blocked), expires_in, meta,
                     who.actor])
                raw, token = (key if key.startswith("sk-") else None), key
            view = key_view(self.key_row(conn, token))
            if raw is not None:
                view["key"] = raw       # the one answer that carries the raw key
            return view
        return self.transaction(work)

    def block(self, bearer, body, unblock=False):
        key = text_field(body, "key", required=True)

        def work(conn):
            who = self.caller(conn, bearer)
            fn = "unblock_key" if unblock else "block_key"
            return key_view(conn.execute(f"SELECT * FROM keymgmt.{fn}(%s, %s)",
                                         [key, who.actor]).fetchone())
        return self.transaction(work)

    def update_route(self, bearer, body):
        key = text_field(body, "key", required=True)
        changes, expires_in, models = update_changes(body)
        blocked = bool_field(body, "blocked")

        def work(conn):
            who = self.caller(conn, bearer)
            row = None
            self.merge_models(conn, key, changes, models)
            if changes or expires_in is not None:
                row = self.update(conn, key, changes, expires_in, who.actor)
            if blocked is not None:
                fn = "block_key" if blocked else "unblock_key"
                row = conn.execute(f"SELECT * FROM keymgmt.{fn}(%s, %s)",
                                   [str(row["key_id"]) if row else key, who.actor]).fetchone()
            if row is None:
                # only fields keymgmt does not keep (budgets, limits): nothing to change
                row = self.key_row(conn, key)
                if not self.visible(conn, who, row):
                    raise ApiError(403, f"actor \"{who.actor[:64]}\" may not read this key")
            return key_view(row)
        return self.transaction(work, repeatable_read=models is not None)

    def merge_models(self, conn, key, changes, models):
        """models without metadata: the key's metadata with models replaced.  Read
        in a REPEATABLE READ transaction, so a concurrent change of the metadata is
        40001 (and the route runs again), never lost."""
        if models is not None:
            changes["metadata"] = dict(self.key_row(conn, key)["metadata"], models=models)

    def regenerate(self, bearer, body, path_key=None):
        key = path_key if path_key is not None else text_field(body, "key", required=True)
        grace = duration(body.get("grace_period"), "grace_period") or datetime.timedelta(0)
        changes, expires_in, models = update_changes(body)

        def work(conn):
            who = self.caller(conn, bearer)
            made = conn.execute("SELECT * FROM keymgmt.rotate_key(%s, %s, %s)",
                                [key, grace, who.actor]).fetchone()
            key_id = str(made["key_id"])
            self.merge_models(conn, key_id, changes, models)
            row = None
            if changes or expires_in is not None:
                row = self.update(conn, key_id, changes, expires_in, who.actor)
            view = key_view(row or self.key_row(conn, key_id))
            view["previous_valid_until"] = jsonable(made["previous_valid_until"])
            view["key"] = made["key"]   # the one answer that carries the raw key
            return view
        return self.transaction(work, repeatable_read=models is not None)

    def delete(self, bearer, body):
        keys = body.get("keys", [])
        aliases = body.get("key_aliases", [])
        keys = [] if keys is None else keys
        aliases = [] if aliases is None else aliases
        for name, values in (("keys", keys), ("key_aliases", aliases)):
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ApiError(400, f"{name} must be a list of strings", name)
        if not keys and not aliases:
            raise ApiError(400, "give keys or key_aliases to delete", "keys")

        def work(conn):
            who = self.caller(conn, bearer)
            # every key named, by its key_id, each once (a key may be named twice:
            # by its raw key and its alias); any missing one is 404 and none goes
            targets = {}
            for key in keys:
                targets.setdefault(str(self.key_row(conn, key)["key_id"]), None)
            for alias in aliases:
                found = conn.execute("SELECT key_id FROM keymgmt.key_status WHERE key_alias = %s",
                                     [alias]).fetchone()
                if found is None:
                    raise ApiError(404, f"key alias \"{alias[:64]}\" does not exist", "key_aliases")
                targets.setdefault(str(found["key_id"]), alias)
            deleted = []
            for key_id, alias in targets.items():
                row = conn.execute("SELECT * FROM keymgmt.delete_key(%s, %s)",
                                   [key_id, who.actor]).fetchone()
                if alias is not None and row["key_alias"] != alias:
                    # renamed between the lookup and the lock
                    raise ApiError(404, f"key alias \"{alias[:64]}\" does not exist", "key_aliases")
                deleted.append(row)
            return {"deleted_keys": [str(r["key_id"]) for r in deleted],
                    "deleted": [key_view(r) for r in deleted]}
        return self.transaction(work, param="keys")

    def visible(self, conn, who, row):
        """May this actor see this key?  list_keys decides, as for a listing."""
        if who.master or row["user_id"] == who.actor:
            return True
        before = uuid.UUID(int=row["key_id"].int - 1) if row["key_id"].int else None
        first = conn.execute(
            "SELECT key_id FROM keymgmt.list_keys(user_id => %s, team_id => %s,"
            " organization_id => %s, after => %s, max_rows => 1, actor => %s)",
            [row["user_id"], row["team_id"], row["organization_id"], before,
             who.actor]).fetchone()
        return first is not None and first["key_id"] == row["key_id"]

    def info(self, bearer, query):
        key = query.get("key")

        def work(conn):
            who = self.caller(conn, bearer)
            target = key
            if target is None:
                if who.master:
                    raise ApiError(400, "key is required", "key")
                target = bearer     # LiteLLM: no key means the caller's own
            row = self.key_row(conn, target)
            if not self.visible(conn, who, row):
                raise ApiError(403, f"actor \"{who.actor[:64]}\" may not read this key")
            status = conn.execute(
                "SELECT status, previous_secrets, grace_until FROM keymgmt.key_status"
                " WHERE key_id = %s", [row["key_id"]]).fetchone()
            info = key_view(row)
            info.update({k: jsonable(v) for k, v in status.items()})
            return {"key": info["key_id"], "info": info}
        return self.transaction(work, read_only=True)

    def list_route(self, bearer, query):
        filters = [query.get(n) for n in ("user_id", "team_id", "organization_id")]
        status = query.get("status")
        try:
            page = int(query.get("page", "1"))
            size = int(query.get("size", "10"))
        except ValueError:
            raise ApiError(400, "page and size must be integers", "page")
        if page < 1:
            raise ApiError(400, "page must be at least 1", "page")
        if not 1 <= size <= 100:
            raise ApiError(400, "size must be from 1 to 100", "size")
        full = query.get("return_full_object", "false").lower() == "true"
        after = query.get("after")      # keymgmt's keyset paging: the last key_id seen
        if after is not None:
            try:
                after = str(uuid.UUID(after))
            except ValueError:
                raise ApiError(400, "after must be a key_id", "after")

        alias = query.get("key_alias")

        def work(conn):
            who = self.caller(conn, bearer)

            def page_of(after_id, n):
                return conn.execute(
                    "SELECT * FROM keymgmt.list_keys(%s, %s, %s, %s, %s::uuid, %s, %s)",
                    filters + [status, after_id, n, who.actor]).fetchall()

            if alias is not None:
                # one key at most: the alias's, if list_keys would show it
                found = conn.execute("SELECT key_id FROM keymgmt.key_status"
                                     " WHERE key_alias = %s", [alias]).fetchone()
                rows = []
                if found is not None:
                    before = uuid.UUID(int=max(found["key_id"].int - 1, 0))
                    rows = [r for r in page_of(str(before), 1) if r["key_id"] == found["key_id"]]
                total = len(rows)
                return {"keys": [key_view(r) if full else str(r["key_id"])
                                 for r in (rows if page == 1 else [])],
                        "total_count": total, "current_page": page,
                        "total_pages": math.ceil(total / size)}
            if after is not None:
                rows = page_of(after, size)
            else:
                position, skip = None, (page - 1) * size   # LiteLLM pages by number
                while skip > 0:
                    skipped = page_of(position, min(skip, 1000))
                    skip -= len(skipped)
                    if not skipped:
                        break
                    position = str(skipped[-1]["key_id"])
                rows = page_of(position, size) if skip <= 0 else []
            if who.master:
                total = conn.execute(
                    "SELECT count(*) AS n FROM keymgmt.key_status WHERE"
                    " (%s::text IS NULL OR user_id = %s) AND (%s::text IS NULL OR team_id = %s)"
                    " AND (%s::text IS NULL OR organization_id = %s)"
                    " AND (%s::text IS NULL OR status = %s)",
                    [filters[0], filters[0], filters[1], filters[1], filters[2], filters[2],
                     status, status]).fetchone()["n"]
            else:
                # an actor sees only what it may manage: count what list_keys shows
                total, position_all = 0, None
                while True:
                    chunk = page_of(position_all, 1000)
                    total += len(chunk)
                    if len(chunk) < 1000:
                        break
                    position_all = str(chunk[-1]["key_id"])
            return {"keys": [key_view(r) if full else str(r["key_id"]) for r in rows],
                    "total_count": total, "current_page": page,
                    "total_pages": math.ceil(total / size)}
        return self.transaction(work, param="status", read_only=True)

    def models(self, bearer):
        if not self.is_master(bearer):
            try:
                answer = self.cache.verify(bearer)
            except psycopg.Error:
                raise ApiError(503, "the database is not reachable")
            if not answer["valid"]:
                raise self.refuse(answer["status"])
            allowed = (answer.get("metadata") or {}).get("models")
            models = allowed if isinstance(allowed, list) else self.default_models
        else:
            models = self.default_models
        return {"object": "list",
                "data": [{"id": str(m), "object": "model", "created": 0,
                          "owned_by": "keymgmt-gateway"} for m in models]}

    def ready(self):
        def work(conn):
            conn.execute("SELECT keymgmt.current_cursor()")
            return {"status": "healthy", "db": "connected"}
        return self.transaction(work, read_only=True)


# ---------------------------------------------------------------- HTTP
class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client that went away, a timeout: one line, never a traceback with data in it
        log(f"{client_address[0]} connection error: {sys.exc_info()[0].__name__}")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "keymgmt-gateway"
    sys_version = ""
    timeout = 30                # seconds a client may take to send its request
    gateway = None              # set by main()

    POST = {"/key/generate": "generate", "/key/update": "update", "/key/regenerate": "regenerate",
            "/key/delete": "delete", "/key/block": "block", "/key/unblock": "unblock"}
    GET = {"/key/info": "info", "/key/list": "list", "/v1/models": "models",
           "/models": "models", "/health/liveliness": "alive", "/health/readiness": "ready"}
    _REGENERATE = re.compile(r"^/key/([^/]+)/regenerate$")

    def log_message(self, format, *args):      # noqa: A002 (BaseHTTPRequestHandler's name)
        # decoded first: a key sent as %73%6B%2D... is a key all the same
        log(f"{self.address_string()} {urllib.parse.unquote(format % args)}")

    def send_error(self, code, message=None, explain=None):
        """The standard library's own errors (bad request line, unknown method,
        header too long) in the one error shape, and the connection closed."""
        # the standard library passes an HTTPStatus, whose str() is its name
        # before Python 3.11 (bullseye's 3.9): the code must be the number
        code = int(code)
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self.log_error("code %d, %s", code, phrase)
        data = json.dumps(ApiError(code, phrase.lower()).body()).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(data)

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        """The JSON object of the body.  A body the gateway does not read to its
        end (chunked, too large, a Content-Length it cannot trust) closes the
        connection: what follows must never be read as the next request."""
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            raise ApiError(411, "send the body with a Content-Length, not chunked")
        lengths = set(self.headers.get_all("Content-Length") or ["0"])
        length = lengths.pop().strip() if len(lengths) == 1 else ""
        if not re.fullmatch(r"[0-9]{1,10}", length):
            self.close_connection = True
            raise ApiError(400, "Content-Length must be one decimal number")
        if int(length) > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "request body too large (at most 1 MiB)")
        raw = self.rfile.read(int(length)) if int(length) else b""
        if len(raw) < int(length):
            self.close_connection = True
            raise ApiError(400, "the request body ended early")
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            raise ApiError(400, "the request body is not valid JSON (or nested too deeply)")
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        for name, value in body.items():
            check_text(name, "body")
            check_text(value, name)
        return body

    def handle_route(self, method):
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        g = self.gateway
        try:
            if method == "POST":
                body = self.read_body()     # read it whatever happens: keep-alive
                name = self.POST.get(path)
                m = self._REGENERATE.match(path)
                if name is None and m is None:
                    raise self.unknown(path)
                bearer = g.bearer(self.headers)
                if m is not None:
                    result = g.regenerate(bearer, body, urllib.parse.unquote(m.group(1)))
                elif name == "generate":
                    result = g.generate(bearer, body)
                elif name == "update":
                    result = g.update_route(bearer, body)
                elif name == "regenerate":
                    result = g.regenerate(bearer, body)
                elif name == "delete":
                    result = g.delete(bearer, body)
                else:
                    result = g.block(bearer, body, unblock=(name == "unblock"))
                created = name in ("generate", "regenerate") or m is not None
            else:
                name = self.GET.get(path)
                if name is None:
                    raise self.unknown(path)
                created = False
                if name == "alive":
                    result = "I'm alive!"
                elif name == "ready":
                    result = g.ready()
                else:
                    query = {k: v[-1] for k, v in
                             urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
                    for field, value in query.items():
                        check_text(value, field)
                    bearer = g.bearer(self.headers)
                    if name == "models":
                        result = g.models(bearer)
                    elif name == "info":
                        result = g.info(bearer, query)
                    else:
                        result = g.list_route(bearer, query)
        except ApiError as e:
            self.send_json(e.status, e.body())
            return
        except Exception as e:     # a bug: answer in the one shape, log without secrets
            log(f"internal error on {method} {path}: {type(e).__name__}: {e}")
            self.send_json(500, ApiError(500, "internal error").body())
            return
        if created:
            raw = result.pop("key", None)
            result = redact_value(result)
            if raw is not None:
                result["key"] = raw
        else:
            result = redact_value(result)
        self.send_json(200, result)

    def unknown(self, path):
        if path in self.POST or path in self.GET or self._REGENERATE.match(path):
            return ApiError(405, "method not allowed")
        return ApiError(404, "no such route")

    def do_POST(self):          # noqa: N802 (BaseHTTPRequestHandler's name)
        self.handle_route("POST")

    def do_GET(self):           # noqa: N802
        self.handle_route("GET")

    def do_PUT(self):           # noqa: N802
        self.send_error(405)    # the body is not read: the connection closes

    do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = do_CONNECT = do_PUT


def main():
    parser = argparse.ArgumentParser(description="a LiteLLM-style key gateway on keymgmt")
    parser.add_argument("--listen", default="127.0.0.1:4000", help="host:port (port 0: any)")
    parser.add_argument("--dsn", default="", help="libpq connection string")
    parser.add_argument("--feed-dsn", default=None,
                        help="a direct connection for the key cache (LISTEN and the change"
                             " feed) when --dsn goes through a pooler; default: --dsn")
    parser.add_argument("--pool-size", type=int, default=8)
    parser.add_argument("--models", default="gpt-4o-mini",
                        help="comma-separated models for /v1/models (a key's metadata.models"
                             " overrides)")
    args = parser.parse_args()
    master = os.environ.get("KEYMGMT_MASTER_KEY", "")
    if not master.startswith("sk-") or len(master) < 4:
        print("gateway: KEYMGMT_MASTER_KEY must be set to a key of the form sk-...",
              file=sys.stderr)
        return 2
    host, _, port = args.listen.rpartition(":")
    server = Server((host.strip("[]") or "127.0.0.1", int(port)), Handler)
    address = "%s:%d" % server.server_address[:2]
    try:
        gateway = Gateway(args.dsn, master, f"keymgmt gateway {address}", args.pool_size,
                          [m.strip() for m in args.models.split(",") if m.strip()],
                          args.feed_dsn)
    except (psycopg.Error, psycopg_pool.PoolTimeout) as e:
        log(f"gateway: cannot connect to the database: {e}")
        return 1
    Handler.gateway = gateway

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"keymgmt gateway ready on http://{address}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        gateway.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

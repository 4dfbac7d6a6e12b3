// keymgmt through node-postgres (npm pg), directly and through pgbouncer
// (transaction mode, one server connection per role), and the pooler leak
// test.  Run by test/drivers/run.sh, which creates the database (DRV_DB),
// the roles (password DRV_PASSWORD) and the pgbouncer (DRV_BOUNCER_PORT),
// and installs pg under DRV_NODE_MODULES.  Direct connections go where the
// PG* variables point.  Prints "ok - ..." lines; exits non-zero when one
// fails.  Prints key_ids, never a key.
'use strict';
const path = require('path');
const pg = require(path.join(process.env.DRV_NODE_MODULES, 'pg'));
const pgVersion = require(path.join(process.env.DRV_NODE_MODULES, 'pg', 'package.json')).version;

const DB = process.env.DRV_DB;
const PASSWORD = process.env.DRV_PASSWORD;
const BOUNCER_PORT = Number(process.env.DRV_BOUNCER_PORT);
let failures = 0;

function check(cond, what, diag) {
  console.log((cond ? 'ok - ' : 'not ok - ') + what);
  if (!cond) {
    failures++;
    if (diag !== undefined) console.log('# ' + String(diag).replace(/\n/g, '\n# '));
  }
}

function describe(err) {
  return err ? `${err.code}: ${err.message}` : 'no error';
}

async function connect(config) {
  const c = new pg.Client(config);
  await c.connect();
  return c;
}
// libpq's environment (PGHOST, PGPORT, PGUSER, PGPASSWORD) for the rest
const superuser = () => connect({ database: DB });
const direct = (user) => connect({ database: DB, user, password: PASSWORD });
// Through pgbouncer, node-postgres needs nothing special as long as no
// query is given a name: a query with values is sent as an unnamed
// statement (Parse, Bind, Execute in one go, each time), which lives only
// on the server connection it ran on.  {name: ...} makes a named prepared
// statement that pg remembers per client connection; behind pgbouncer in
// transaction mode (1.18 does not track prepared statements) the server
// connection is another client's between our transactions.
const pooled = (user) => connect({ host: '127.0.0.1', port: BOUNCER_PORT, database: DB, user, password: PASSWORD });

async function errorOf(c, query, values) {
  try {
    await c.query(query, values);
  } catch (err) {
    return err;
  }
  return null;
}

async function raises(c, query, values, code, what) {
  const err = await errorOf(c, query, values);
  check(err && err.code === code, `${what}: ${code}`, describe(err));
  return err;
}

async function one(c, query, values) {
  return (await c.query(query, values)).rows[0];
}

async function lifecycle(mode, open) {
  const c = await open('drv_admin');
  try {
    const alias = `node-${mode}`;
    const g = await one(c, "SELECT key, token, key_name FROM keymgmt.generate_key(key_alias => $1, user_id => 'user-42', actor => 'ops')", [alias]);
    const keyId = (await one(c, 'SELECT key_id FROM keymgmt.key_info($1)', [g.token])).key_id;
    console.log(`# ${mode}: key ${keyId}`);
    check(g.key.startsWith('sk-') && g.key_name === 'sk-...' + g.key.slice(-4) && g.token.length === 64,
      `${mode}: generate_key returns a raw key, its token and its key_name`);
    let v = await one(c, 'SELECT valid, status, key_id FROM keymgmt.verify_key($1)', [g.key]);
    check(v.valid === true && v.status === 'valid' && v.key_id === keyId, `${mode}: verify_key of the new key is valid`, JSON.stringify(v));

    const b = await one(c, "SELECT blocked FROM keymgmt.block_key($1, actor => 'ops')", [keyId]);
    v = await one(c, 'SELECT status FROM keymgmt.verify_key($1)', [g.key]);
    check(b.blocked === true && v.status === 'blocked', `${mode}: block_key by key_id, verify_key says blocked`, v.status);
    const u = await one(c, "SELECT blocked FROM keymgmt.unblock_key($1, actor => 'ops')", [g.token]);
    check(u.blocked === false, `${mode}: unblock_key by token`);

    const m = await one(c, "SELECT metadata FROM keymgmt.update_key($1, $2, actor => 'ops')", [keyId, { metadata: { tier: 'gold' } }]);
    check(JSON.stringify(m.metadata) === '{"tier":"gold"}', `${mode}: update_key changes metadata`, JSON.stringify(m.metadata));
    await raises(c, `SELECT keymgmt.update_key($1, '{"blocked": true}', actor => 'ops')`, [keyId], '22023', `${mode}: update_key of blocked`);
    await raises(c, "SELECT keymgmt.generate_key(key_alias => $1, actor => 'ops')", [alias], '23505', `${mode}: generate_key with a taken alias`);

    const r = await one(c, "SELECT key, token, key_id, previous_valid_until FROM keymgmt.rotate_key($1, '1 hour', actor => 'ops')", [keyId]);
    const old = await one(c, 'SELECT status, key_id, grace_until FROM keymgmt.verify_key($1)', [g.key]);
    const neu = await one(c, 'SELECT status, key_id FROM keymgmt.verify_key($1)', [r.key]);
    check(r.key_id === keyId && r.token !== g.token && r.previous_valid_until instanceof Date &&
      old.status === 'valid' && old.key_id === keyId && old.grace_until instanceof Date &&
      neu.status === 'valid' && neu.key_id === keyId,
    `${mode}: rotate_key: the new secret is valid, the old one in its grace, one key_id`, `${old.status} ${neu.status}`);

    const d = await one(c, "SELECT key_id FROM keymgmt.delete_key($1, actor => 'ops')", [keyId]);
    v = await one(c, 'SELECT status FROM keymgmt.verify_key($1)', [r.key]);
    check(d.key_id === keyId && v.status === 'not_found', `${mode}: delete_key returns the row as it was`, v.status);
    await raises(c, "SELECT keymgmt.block_key($1, actor => 'ops')", [keyId], '42704', `${mode}: block_key of a deleted key`);
    await raises(c, 'SELECT keymgmt.unblock_key($1)', [null], '22004', `${mode}: unblock_key(NULL)`);
    await raises(c, 'SELECT keymgmt.delete_key($1)', ['sk-not a key'], '22023', `${mode}: delete_key of a malformed key`);
    await raises(c, 'SELECT keymgmt.end_grace($1)', [r.token], '42501', `${mode}: end_grace, not granted`);
  } finally {
    await c.end();
  }
  const s = await open('drv_stranger');
  try {
    await raises(s, 'SELECT keymgmt.block_key($1)', ['sk-drivers-no-such-key'], '42501', `${mode}: block_key by a role with no EXECUTE`);
  } finally {
    await s.end();
  }
}

async function newKey(su, alias) {
  const t = await one(su, "SELECT token FROM keymgmt.generate_key(key_alias => $1, user_id => 'user-42')", [alias]);
  return (await one(su, 'SELECT key_id FROM keymgmt.key_info($1)', [t.token])).key_id;
}

async function preparedStatements() {
  const a = await pooled('drv_admin');
  const b = await pooled('drv_admin');
  try {
    const text = 'SELECT status FROM keymgmt.verify_key($1)';
    const answers = [];
    for (let i = 0; i < 6; i++) {
      for (const c of [a, b]) answers.push((await one(c, text, ['sk-drivers-no-such-key'])).status);
    }
    check(answers.every((s) => s === 'not_found') && answers.length === 12,
      'pgbouncer: unnamed statements, two clients on one server connection, 12 queries', answers.join(' '));
    const named = { name: 'drv_node_verify', text, values: ['sk-drivers-no-such-key'] };
    await a.query(named);
    // b has never prepared it, so it sends Parse: the name is taken on the server connection
    await raises(b, named, undefined, '42P05', "pgbouncer: a named query {name: ...} from the second client");
    await a.query('DEALLOCATE ALL');
  } finally {
    await a.end();
    await b.end();
  }
}

async function listen() {
  // LISTEN on a direct connection: through pgbouncer in transaction mode
  // the server connection that listens is someone else's after the
  // transaction.  The change is made through pgbouncer.
  const listener = await direct('drv_gateway');
  const c = await pooled('drv_admin');
  const su = await superuser();
  try {
    const got = [];
    let wake;
    listener.on('notification', (n) => { got.push(n); if (wake) wake(); });
    await listener.query('LISTEN keymgmt');
    const keyId = await newKey(su, 'node-listen');
    const token = (await one(su, 'SELECT token FROM keymgmt.keys WHERE key_id = $1', [keyId])).token;
    await c.query("SELECT keymgmt.block_key($1, actor => 'ops')", [keyId]);
    const match = () => got.find((n) => {
      const p = JSON.parse(n.payload);
      return n.channel === 'keymgmt' && p.action === 'blocked' && p.key_id === keyId && p.token === token;
    });
    const deadline = Date.now() + 5000;
    while (!match() && Date.now() < deadline) {
      await new Promise((resolve) => { wake = resolve; setTimeout(resolve, 100); });
    }
    check(match() !== undefined,
      'LISTEN keymgmt on a direct connection: the block made through pgbouncer is notified with its token and key_id',
      got.map((n) => n.payload).join(' '));
  } finally {
    await listener.end();
    await c.end();
    await su.end();
  }
}

async function audit(su, keyId) {
  return (await su.query("SELECT action, changed_by, db_role FROM keymgmt.audit_log WHERE key_id = $1 AND action <> 'created' ORDER BY id", [keyId]))
    .rows.map((r) => `${r.action}/${r.changed_by}/${r.db_role}`).join(' ');
}

async function leak() {
  const su = await superuser();
  const a = await pooled('drv_gateway');
  const b = await pooled('drv_gateway');
  try {
    const keyId = await newKey(su, 'node-leak');
    const pidA = (await one(a, 'SELECT pg_backend_pid() AS pid')).pid;
    await a.query("SET keymgmt.actor = 'user-42'");
    const r = await one(b, "SELECT pg_backend_pid() AS pid, current_setting('keymgmt.actor') AS actor");
    check(r.pid === pidA && r.actor === 'user-42',
      "leak: B gets A's server connection, with A's session-level keymgmt.actor on it", `${r.pid === pidA} ${r.actor}`);
    const err = await raises(b, 'SELECT blocked FROM keymgmt.block_key($1)', [keyId], '42501', "leak: B's block_key with no actor of its own");
    check(err && typeof err.hint === 'string' && err.hint.includes('SET LOCAL keymgmt.actor'),
      'leak: the 42501 hint (err.hint) says to use SET LOCAL keymgmt.actor', err && err.hint);
    let rows = await audit(su, keyId);
    check(rows === '', 'leak: no audit row names user-42', rows);

    // a key of its own, so that this holds or fails on its own
    const keyId2 = await newKey(su, 'node-leak-local');
    await b.query('BEGIN');
    await b.query("SELECT set_config('keymgmt.actor', 'ops', true)");
    const blocked = (await one(b, 'SELECT blocked FROM keymgmt.block_key($1)', [keyId2])).blocked;
    await b.query('COMMIT');
    rows = await audit(su, keyId2);
    check(blocked === true && rows === 'blocked/ops/drv_gateway',
      "leak: set_config('keymgmt.actor', ..., true) in B's transaction names B's actor", rows);
    await a.query('RESET keymgmt.actor');
  } finally {
    await su.end();
    await a.end();
    await b.end();
  }
}

async function main() {
  console.log(`# node-postgres ${pgVersion}, Node.js ${process.version}`);
  const steps = [
    ['direct', () => lifecycle('direct', direct)],
    ['pgbouncer', () => lifecycle('pgbouncer', pooled)],
    ['prepared statements', preparedStatements],
    ['listen', listen],
    ['leak', leak],
  ];
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (err) {
      check(false, `${name}: ran to its end`, describe(err));
    }
  }
  process.exitCode = failures ? 1 : 0;
}

main();

// keymgmt through pgjdbc (Debian's postgresql.jar), directly and through
// pgbouncer (transaction mode, one server connection per role), and the
// pooler leak test.  Run by test/drivers/run.sh, which creates the database
// (DRV_DB), the roles (password DRV_PASSWORD) and the pgbouncer
// (DRV_BOUNCER_PORT), and compiles this file with javac.  Direct
// connections go where PGHOST and PGPORT point (TCP: a socket directory
// means localhost).  Prints "ok - ..." lines; exits non-zero when one
// fails.  Prints key_ids, never a key.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.postgresql.util.PSQLException;

public class DriversTest {
	static final String DB = System.getenv("DRV_DB");
	static final String PASSWORD = System.getenv("DRV_PASSWORD");
	static final int BOUNCER_PORT = Integer.parseInt(System.getenv("DRV_BOUNCER_PORT"));
	static int failures = 0;

	static void check(boolean cond, String what, Object diag) {
		System.out.println((cond ? "ok - " : "not ok - ") + what);
		if (!cond) {
			failures++;
			if (diag != null)
				System.out.println("# " + String.valueOf(diag).replace("\n", "\n# "));
		}
	}

	static String env(String name, String dflt) {
		String v = System.getenv(name);
		return v == null || v.isEmpty() ? dflt : v;
	}

	static Connection open(String host, int port, String user, String password, Integer prepareThreshold)
			throws SQLException {
		Properties p = new Properties();
		p.setProperty("user", user);
		p.setProperty("password", password);
		if (prepareThreshold != null)
			p.setProperty("prepareThreshold", prepareThreshold.toString());
		return DriverManager.getConnection("jdbc:postgresql://" + host + ":" + port + "/" + DB, p);
	}

	static String directHost() {
		String h = env("PGHOST", "localhost");
		return h.startsWith("/") ? "localhost" : h;
	}

	static Connection superuser() throws SQLException {
		return open(directHost(), Integer.parseInt(env("PGPORT", "5432")), env("PGUSER", "postgres"),
				env("PGPASSWORD", ""), null);
	}

	static Connection direct(String user) throws SQLException {
		return open(directHost(), Integer.parseInt(env("PGPORT", "5432")), user, PASSWORD, null);
	}

	// prepareThreshold=0: pgjdbc never turns a PreparedStatement into a named
	// server-side statement (S_1, ...), which by default it does from the
	// 5th execution on and then expects to find on its connection.  Behind
	// pgbouncer in transaction mode (1.18 does not track prepared
	// statements) the server connection is another client's between our
	// transactions.
	static Connection pooled(String user) throws SQLException {
		return open("127.0.0.1", BOUNCER_PORT, user, PASSWORD, 0);
	}

	interface Opener {
		Connection open(String user) throws SQLException;
	}

	/** Runs query with string parameters (null: SQL NULL); its first row, as strings. */
	static List<String> one(Connection c, String query, String... params) throws SQLException {
		try (PreparedStatement ps = c.prepareStatement(query)) {
			for (int i = 0; i < params.length; i++) {
				if (params[i] == null)
					ps.setNull(i + 1, Types.VARCHAR);
				else
					ps.setString(i + 1, params[i]);
			}
			List<String> row = new ArrayList<>();
			if (ps.execute()) {
				try (ResultSet rs = ps.getResultSet()) {
					if (rs.next())
						for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++)
							row.add(rs.getString(i));
				}
			}
			return row;
		}
	}

	static SQLException errorOf(Connection c, String query, String... params) {
		try {
			one(c, query, params);
		} catch (SQLException e) {
			return e;
		}
		return null;
	}

	static String describe(SQLException e) {
		return e == null ? "no error" : e.getSQLState() + ": " + e.getMessage();
	}

	static SQLException raises(Connection c, String sqlstate, String what, String query, String... params) {
		SQLException e = errorOf(c, query, params);
		check(e != null && sqlstate.equals(e.getSQLState()), what + ": " + sqlstate, describe(e));
		return e;
	}

	static void lifecycle(String mode, Opener opener) throws SQLException {
		String token;
		try (Connection c = opener.open("drv_admin")) {
			String alias = "jdbc-" + mode;
			List<String> g = one(c, "SELECT key, token, key_name FROM keymgmt.generate_key("
					+ "key_alias => ?, user_id => 'user-42', actor => 'ops')", alias);
			String raw = g.get(0);
			token = g.get(1);
			String keyId = one(c, "SELECT key_id FROM keymgmt.key_info(?)", token).get(0);
			System.out.println("# " + mode + ": key " + keyId);
			check(raw.startsWith("sk-") && g.get(2).equals("sk-..." + raw.substring(raw.length() - 4))
					&& token.length() == 64, mode + ": generate_key returns a raw key, its token and its key_name", null);
			List<String> v = one(c, "SELECT valid, status, key_id FROM keymgmt.verify_key(?)", raw);
			check(v.equals(List.of("t", "valid", keyId)), mode + ": verify_key of the new key is valid", v);

			String b = one(c, "SELECT blocked FROM keymgmt.block_key(?, actor => 'ops')", keyId).get(0);
			String s = one(c, "SELECT status FROM keymgmt.verify_key(?)", raw).get(0);
			check(b.equals("t") && s.equals("blocked"), mode + ": block_key by key_id, verify_key says blocked", s);
			b = one(c, "SELECT blocked FROM keymgmt.unblock_key(?, actor => 'ops')", token).get(0);
			check(b.equals("f"), mode + ": unblock_key by token", b);

			String m = one(c, "SELECT metadata->>'tier' FROM keymgmt.update_key(?, ?::jsonb, actor => 'ops')",
					keyId, "{\"metadata\": {\"tier\": \"gold\"}}").get(0);
			check("gold".equals(m), mode + ": update_key changes metadata", m);
			raises(c, "22023", mode + ": update_key of blocked",
					"SELECT keymgmt.update_key(?, '{\"blocked\": true}', actor => 'ops')", keyId);
			raises(c, "23505", mode + ": generate_key with a taken alias",
					"SELECT keymgmt.generate_key(key_alias => ?, actor => 'ops')", alias);

			List<String> r = one(c, "SELECT key, token, key_id, previous_valid_until IS NOT NULL"
					+ " FROM keymgmt.rotate_key(?, '1 hour', actor => 'ops')", keyId);
			List<String> old = one(c, "SELECT status, key_id, grace_until IS NOT NULL FROM keymgmt.verify_key(?)", raw);
			List<String> neu = one(c, "SELECT status, key_id FROM keymgmt.verify_key(?)", r.get(0));
			check(r.get(2).equals(keyId) && !r.get(1).equals(token) && r.get(3).equals("t")
					&& old.equals(List.of("valid", keyId, "t")) && neu.equals(List.of("valid", keyId)),
					mode + ": rotate_key: the new secret is valid, the old one in its grace, one key_id",
					old + " " + neu);

			String d = one(c, "SELECT key_id FROM keymgmt.delete_key(?, actor => 'ops')", keyId).get(0);
			s = one(c, "SELECT status FROM keymgmt.verify_key(?)", r.get(0)).get(0);
			check(d.equals(keyId) && s.equals("not_found"), mode + ": delete_key returns the row as it was", s);
			raises(c, "42704", mode + ": block_key of a deleted key",
					"SELECT keymgmt.block_key(?, actor => 'ops')", keyId);
			raises(c, "22004", mode + ": unblock_key(NULL)", "SELECT keymgmt.unblock_key(?)", (String) null);
			raises(c, "22023", mode + ": delete_key of a malformed key", "SELECT keymgmt.delete_key(?)", "sk-not a key");
			raises(c, "42501", mode + ": end_grace, not granted", "SELECT keymgmt.end_grace(?)", r.get(1));
		}
		try (Connection s = opener.open("drv_stranger")) {
			raises(s, "42501", mode + ": block_key by a role with no EXECUTE", "SELECT keymgmt.block_key(?)", token);
		}
	}

	static String newKey(Connection su, String alias) throws SQLException {
		String token = one(su, "SELECT token FROM keymgmt.generate_key(key_alias => ?, user_id => 'user-42')", alias).get(0);
		return one(su, "SELECT key_id FROM keymgmt.key_info(?)", token).get(0);
	}

	static void preparedStatements() throws SQLException {
		String q = "SELECT status FROM keymgmt.verify_key(?)";
		try (Connection a = pooled("drv_admin"); Connection b = pooled("drv_admin");
				PreparedStatement pa = a.prepareStatement(q); PreparedStatement pb = b.prepareStatement(q)) {
			List<String> answers = new ArrayList<>();
			for (int i = 0; i < 6; i++)
				for (PreparedStatement ps : List.of(pa, pb)) {
					ps.setString(1, "sk-drivers-no-such-key");
					try (ResultSet rs = ps.executeQuery()) {
						rs.next();
						answers.add(rs.getString(1));
					}
				}
			check(answers.equals(java.util.Collections.nCopies(12, "not_found")),
					"pgbouncer: prepareThreshold=0, two clients on one server connection, a PreparedStatement 6 times each",
					answers);
		}
		// pgjdbc's default threshold (5): from the 5th execution on, named S_1
		try (Connection a = open("127.0.0.1", BOUNCER_PORT, "drv_admin", PASSWORD, null);
				Connection b = open("127.0.0.1", BOUNCER_PORT, "drv_admin", PASSWORD, null);
				PreparedStatement pa = a.prepareStatement(q); PreparedStatement pb = b.prepareStatement(q)) {
			SQLException e = null;
			String where = null;
			for (int i = 1; i <= 6 && e == null; i++)
				for (PreparedStatement ps : List.of(pa, pb)) {
					ps.setString(1, "sk-drivers-no-such-key");
					try {
						ps.executeQuery().close();
					} catch (SQLException x) {
						e = x;
						where = (ps == pa ? "a" : "b") + i;
						break;
					}
				}
			check(e != null && "42P05".equals(e.getSQLState()) && "b5".equals(where),
					"pgbouncer: with the default prepareThreshold (5), the second client's 5th execution: 42P05",
					where + " " + describe(e));
			try (Statement st = a.createStatement()) {
				st.execute("DEALLOCATE ALL");
			}
		}
	}

	static void listen() throws SQLException {
		// LISTEN on a direct connection: through pgbouncer in transaction
		// mode the server connection that listens is someone else's after
		// the transaction.  The change is made through pgbouncer.
		try (Connection listener = direct("drv_gateway"); Connection c = pooled("drv_admin");
				Connection su = superuser()) {
			try (Statement st = listener.createStatement()) {
				st.execute("LISTEN keymgmt");
			}
			String keyId = newKey(su, "jdbc-listen");
			String token = one(su, "SELECT token FROM keymgmt.keys WHERE key_id = ?::uuid", keyId).get(0);
			one(c, "SELECT keymgmt.block_key(?, actor => 'ops')", keyId);
			PGConnection pgc = listener.unwrap(PGConnection.class);
			boolean found = false;
			List<String> got = new ArrayList<>();
			long deadline = System.currentTimeMillis() + 5000;
			while (!found && System.currentTimeMillis() < deadline) {
				PGNotification[] ns = pgc.getNotifications(500);
				if (ns == null)
					continue;
				for (PGNotification n : ns) {
					got.add(n.getParameter());
					// the payload is JSON; its fields, without a JSON library: ask the server
					List<String> p = one(su, "SELECT ?::jsonb->>'action', ?::jsonb->>'key_id', ?::jsonb->>'token'",
							n.getParameter(), n.getParameter(), n.getParameter());
					found |= n.getName().equals("keymgmt") && p.equals(List.of("blocked", keyId, token));
				}
			}
			check(found, "LISTEN keymgmt on a direct connection: the block made through pgbouncer is notified"
					+ " with its token and key_id (PGConnection.getNotifications)", got);
		}
	}

	static String audit(Connection su, String keyId) throws SQLException {
		StringBuilder sb = new StringBuilder();
		try (PreparedStatement ps = su.prepareStatement("SELECT action, changed_by, db_role FROM keymgmt.audit_log"
				+ " WHERE key_id = ?::uuid AND action <> 'created' ORDER BY id")) {
			ps.setString(1, keyId);
			try (ResultSet rs = ps.executeQuery()) {
				while (rs.next())
					sb.append(sb.length() > 0 ? " " : "").append(rs.getString(1)).append('/')
							.append(rs.getString(2)).append('/').append(rs.getString(3));
			}
		}
		return sb.toString();
	}

	static void leak() throws SQLException {
		try (Connection su = superuser(); Connection a = pooled("drv_gateway"); Connection b = pooled("drv_gateway")) {
			String keyId = newKey(su, "jdbc-leak");
			String pidA = one(a, "SELECT pg_backend_pid()").get(0);
			try (Statement st = a.createStatement()) {
				st.execute("SET keymgmt.actor = 'user-42'");
			}
			List<String> r = one(b, "SELECT pg_backend_pid(), current_setting('keymgmt.actor')");
			check(r.equals(List.of(pidA, "user-42")),
					"leak: B gets A's server connection, with A's session-level keymgmt.actor on it", r);
			SQLException e = raises(b, "42501", "leak: B's block_key with no actor of its own",
					"SELECT blocked FROM keymgmt.block_key(?)", keyId);
			String hint = e instanceof PSQLException && ((PSQLException) e).getServerErrorMessage() != null
					? ((PSQLException) e).getServerErrorMessage().getHint() : null;
			check(hint != null && hint.contains("SET LOCAL keymgmt.actor"),
					"leak: the 42501 hint (PSQLException.getServerErrorMessage().getHint()) says to use SET LOCAL keymgmt.actor",
					hint);
			String rows = audit(su, keyId);
			check(rows.isEmpty(), "leak: no audit row names user-42", rows);

			// a key of its own, so that this holds or fails on its own
			String keyId2 = newKey(su, "jdbc-leak-local");
			b.setAutoCommit(false);
			try (Statement st = b.createStatement()) {
				st.execute("SET LOCAL keymgmt.actor = 'ops'");
			}
			String blocked = one(b, "SELECT blocked FROM keymgmt.block_key(?)", keyId2).get(0);
			b.commit();
			b.setAutoCommit(true);
			rows = audit(su, keyId2);
			check(blocked.equals("t") && rows.equals("blocked/ops/drv_gateway"),
					"leak: SET LOCAL keymgmt.actor in B's transaction names B's actor", rows);
			try (Statement st = a.createStatement()) {
				st.execute("RESET keymgmt.actor");
			}
		}
	}

	interface Step {
		void run() throws Exception;
	}

	public static void main(String[] args) {
		System.out.println("# pgjdbc " + org.postgresql.util.DriverInfo.DRIVER_VERSION + ", Java "
				+ System.getProperty("java.version"));
		Object[][] steps = {
				{"direct", (Step) () -> lifecycle("direct", DriversTest::direct)},
				{"pgbouncer", (Step) () -> lifecycle("pgbouncer", DriversTest::pooled)},
				{"prepared statements", (Step) DriversTest::preparedStatements},
				{"listen", (Step) DriversTest::listen},
				{"leak", (Step) DriversTest::leak},
		};
		for (Object[] s : steps) {
			try {
				((Step) s[1]).run();
			} catch (Exception e) {
				check(false, s[0] + ": ran to its end",
						e instanceof SQLException ? describe((SQLException) e) : e.toString());
			}
		}
		System.exit(failures == 0 ? 0 : 1);
	}
}

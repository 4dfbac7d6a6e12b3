-- bench/harness.sql: helpers for bench/run.sh (not a comparator, not the product).

CREATE SCHEMA bench_harness;

-- Keys first..last, imported the way a LiteLLM key table would be: the raw
-- key 'sk-bench-<i>' is never stored, only its token (lowercase hex SHA-256).
CREATE FUNCTION bench_harness.load_keys(first bigint, last bigint)
RETURNS bigint LANGUAGE sql AS $$
	WITH ins AS (
		INSERT INTO keymgmt.keys (token, key_name, user_id, team_id,
								  organization_id, metadata, created_by, updated_by)
		SELECT encode(sha256(convert_to('sk-bench-' || i, 'UTF8')), 'hex'),
			   'sk-...' || right('sk-bench-' || i, 4),
			   'user-' || (i % 5000), 'team-' || (i % 200), 'org-' || (i % 20),
			   jsonb_build_object('tier', 'bench', 'rpm_limit', 600),
			   'bench-import', 'bench-import'
		  FROM generate_series(first, last) AS i
		RETURNING 1)
	SELECT count(*) FROM ins
$$;

-- Samples what the pgbench backends are doing every `every` seconds for
-- `seconds` seconds, and counts the samples per state: CPU (active, no wait
-- event), Type:Event (active and waiting), idle:ClientRead (waiting for
-- pgbench to send the next statement).
CREATE FUNCTION bench_harness.sample_waits(seconds float8, every float8 DEFAULT 0.1)
RETURNS TABLE(wait text, samples bigint) LANGUAGE plpgsql AS $$
DECLARE
	stop	timestamptz := clock_timestamp() + make_interval(secs => seconds);
	acc		text[] := '{}';
BEGIN
	WHILE clock_timestamp() < stop LOOP
		PERFORM pg_stat_clear_snapshot();
		acc := acc || ARRAY(
			SELECT CASE WHEN a.state = 'active'
						THEN COALESCE(a.wait_event_type || ':' || a.wait_event, 'CPU')
						ELSE COALESCE(a.state, '?') || ':' || COALESCE(a.wait_event, '-') END
			  FROM pg_stat_activity a
			 WHERE a.application_name = 'pgbench'
			   AND a.backend_type = 'client backend'
			   AND a.pid <> pg_backend_pid());
		PERFORM pg_sleep(every);
	END LOOP;
	RETURN QUERY SELECT w, count(*) FROM unnest(acc) AS w GROUP BY w ORDER BY 2 DESC, 1;
END
$$;

-- verify, the PL/pgSQL reference (bench/reference.sql).  :unknown percent of the keys do not exist.
\set i case when random(1, 100) <= :unknown then :nkeys + random(1, :nkeys) else random(1, :nkeys) end
SELECT * FROM bench_ref.verify_key('sk-bench-' || :i);

-- verify, the protocol floor: one round trip of a prepared statement that does nothing.
\set i case when random(1, 100) <= :unknown then :nkeys + random(1, :nkeys) else random(1, :nkeys) end
SELECT 1;

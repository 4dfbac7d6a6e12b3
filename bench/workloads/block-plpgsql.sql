-- block/unblock, the PL/pgSQL reference (bench/reference.sql): same semantics as keymgmt.
-- One pgbench transaction = one block and one unblock of the same random key = 2 changes.
\set i random(1, :nkeys)
SELECT blocked FROM bench_ref.block_key('sk-bench-' || :i);
SELECT blocked FROM bench_ref.unblock_key('sk-bench-' || :i);

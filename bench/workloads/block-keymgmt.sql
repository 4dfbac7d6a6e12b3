-- block/unblock, keymgmt: one call per change, each its own (autocommit) transaction.
-- One pgbench transaction = one block and one unblock of the same random key = 2 changes.
\set i random(1, :nkeys)
SELECT blocked FROM keymgmt.block_key('sk-bench-' || :i);
SELECT blocked FROM keymgmt.unblock_key('sk-bench-' || :i);

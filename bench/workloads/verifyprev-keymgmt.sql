-- verify, keymgmt, a previous secret of a rotated key inside its grace.
\set i random(1, :prev)
SELECT * FROM keymgmt.verify_key('sk-bench-' || :i);

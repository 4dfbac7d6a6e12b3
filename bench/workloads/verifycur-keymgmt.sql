-- verify, keymgmt, a current secret (of the keys that were not rotated).
\set i random(:prev + 1, :half)
SELECT * FROM keymgmt.verify_key('sk-bench-' || :i);

#!/usr/bin/env bash
# Runs every keymgmt test suite on a throwaway PostgreSQL 15 cluster:
# pg_regress, isolation specs, pgTAP, a pg_dump round trip, and the long
# ones: crash and load (TAP), memory, fuzzing, sqlsmith, valgrind.
#
#   bash test/run.sh          # everything (about 15 minutes on 2 cores: 14.5 measured)
#   bash test/run.sh quick    # without the long suites (under a minute)
#
# As root on a fresh Debian 12 machine it installs what it needs first.
# The server runs as the postgres user (pg_virtualenv); the cluster is
# dropped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/bootstrap.sh

# the server (user postgres) writes nothing here, but pg_regress writes
# results/ as whoever runs this script
rm -rf results output_iso regression.diffs regression.out
[ "${1:-}" = quick ] && export KEYMGMT_QUICK=1
KEYMGMT_SUMMARY=$(mktemp)
export KEYMGMT_SUMMARY
trap 'rm -f "$KEYMGMT_SUMMARY"' EXIT
rc=0
pg_virtualenv -v 15 bash test/suites.sh || rc=$?
# the last line is the summary, not pg_virtualenv's "Dropping cluster"
if [ -s "$KEYMGMT_SUMMARY" ]; then
	cat "$KEYMGMT_SUMMARY"
else
	echo "0 passed, 1 failed (the suites did not finish: pg_virtualenv exited with $rc)"
	[ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"

#!/usr/bin/env bash
# Runs every keymgmt test suite on a throwaway PostgreSQL cluster:
# pg_regress, isolation specs, pgTAP, a pg_dump round trip, and the long
# ones: crash and load (TAP), memory, fuzzing, sqlsmith, valgrind.
#
#   bash test/run.sh          # everything (about 25 minutes on 2 cores: 24 measured)
#   bash test/run.sh quick    # without the long suites (under a minute)
#   KEYMGMT_PG=17 bash test/run.sh quick    # on another major version (default 15)
#   KEYMGMT_PORT=NNNN ...     # the cluster's port (default: pg_createcluster
#                             # picks the next free one from 5432)
#
# As root on a fresh Debian machine it installs what it needs first
# (tools/bootstrap.sh; with quick, not what only the long suites need).
# The server runs as the postgres user (pg_virtualenv); the cluster is
# dropped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
# before the bootstrap: it installs the long suites' packages only without it
[ "${1:-}" = quick ] && export KEYMGMT_QUICK=1
source tools/bootstrap.sh

# the server (user postgres) writes nothing here, but pg_regress writes
# results/ as whoever runs this script
rm -rf results output_iso regression.diffs regression.out
KEYMGMT_SUMMARY=$(mktemp)
export KEYMGMT_SUMMARY
trap 'rm -f "$KEYMGMT_SUMMARY"' EXIT
rc=0
port=()
[ -n "${KEYMGMT_PORT:-}" ] && port=(-c "-p $KEYMGMT_PORT")
pg_virtualenv -v "$KEYMGMT_PG" "${port[@]}" bash test/suites.sh || rc=$?
# the last line is the summary, not pg_virtualenv's "Dropping cluster"
if [ -s "$KEYMGMT_SUMMARY" ]; then
	cat "$KEYMGMT_SUMMARY"
else
	echo "0 passed, 1 failed (the suites did not finish: pg_virtualenv exited with $rc)"
	[ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"

#!/usr/bin/env bash
# A tour of keymgmt on a throwaway PostgreSQL 15 cluster:
#
#   bash examples/demo.sh
#
# As root on a fresh Debian 12 machine it installs what is missing, builds
# and installs the extension, starts a server as the postgres user, runs
# examples/demo.sql in psql, and drops the cluster again.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/bootstrap.sh
exec pg_virtualenv -v 15 psql -X -f examples/demo.sql

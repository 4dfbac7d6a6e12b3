#!/usr/bin/env bash
# A tour of keymgmt on a throwaway PostgreSQL 15 cluster:
#
#   bash examples/demo.sh            # the tour, then the cluster is dropped
#   bash examples/demo.sh gateway    # the tour, then the HTTP gateway on
#                                    # 127.0.0.1:4000 until Ctrl-C
#
# As root on a fresh Debian 12 machine it installs what is missing, builds
# and installs the extension, starts a server as the postgres user, runs
# examples/demo.sql in psql, and drops the cluster again.
set -euo pipefail
cd "$(dirname "$0")/.."
export KEYMGMT_QUICK=${KEYMGMT_QUICK:-1}	# the tour needs none of the long suites' tools
source tools/bootstrap.sh
if [ "${1:-}" = gateway ]; then
	exec pg_virtualenv -v "$KEYMGMT_PG" bash -c \
		'psql -X -f examples/demo.sql && bash examples/gateway/serve.sh'
fi
exec pg_virtualenv -v "$KEYMGMT_PG" psql -X -f examples/demo.sql

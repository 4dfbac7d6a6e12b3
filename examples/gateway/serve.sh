#!/usr/bin/env bash
# Starts examples/gateway/gateway.py on 127.0.0.1:4000 against the server the
# PG* variables point at (examples/demo.sh gateway runs it inside the demo's
# throwaway cluster): makes the extension and a role "gateway" with the GRANTs
# of grants.sql, then runs the gateway until Ctrl-C.
#
# The master key is KEYMGMT_MASTER_KEY, or the demo's documented
# sk-demo-master-key-change-me (a demo on loopback only).
set -euo pipefail
cd "$(dirname "$0")/../.."
psql -X -q -v ON_ERROR_STOP=1 \
	-c "CREATE EXTENSION IF NOT EXISTS keymgmt" \
	-c "DO \$\$BEGIN CREATE ROLE gateway LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END\$\$" \
	-c "ALTER ROLE gateway PASSWORD 'gateway-demo'"
psql -X -q -v ON_ERROR_STOP=1 -v role=gateway -f examples/gateway/grants.sql
export KEYMGMT_MASTER_KEY=${KEYMGMT_MASTER_KEY:-sk-demo-master-key-change-me}
dsn="host=${PGHOST:-localhost} port=${PGPORT:-5432} dbname=${PGDATABASE:-postgres} user=gateway password=gateway-demo"
echo "== the gateway, until Ctrl-C; in another terminal:"
echo "   curl -s -H 'Authorization: Bearer \$KEYMGMT_MASTER_KEY' -d '{\"key\": \"sk-does-not-exist\"}' http://127.0.0.1:4000/key/block"
# what the gateway needs is in its --dsn, not in libpq's environment
exec env -u PGHOST -u PGPORT -u PGUSER -u PGPASSWORD -u PGDATABASE \
	/usr/bin/python3 examples/gateway/gateway.py --listen 127.0.0.1:4000 --dsn "$dsn"

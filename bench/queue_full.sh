#!/usr/bin/env bash
# bench/queue_full.sh -- a full NOTIFY queue against each keymgmt.notify mode.
#
#   PG_CONFIG=/usr/lib/postgresql/17/bin/pg_config bash bench/queue_full.sh
#
# Needs PostgreSQL 17 or later (max_notify_queue_pages; before 17 the queue
# holds 8 GB and cannot be filled in a test) and keymgmt installed there.
# Run as root (the server runs as postgres) or as a user that may initdb.
#
# A role that may only LISTEN and NOTIFY -- every role may -- fills the
# queue: one session listens inside an open transaction, so the queue's
# tail cannot move past it, and another sends notifications until
# PostgreSQL refuses with 54000.  Then a key change in each mode: in commit
# mode it fails with 54000 (the change is rolled back), in batched and off
# modes it commits.  Prints one line per mode.
set -euo pipefail
PG_CONFIG=${PG_CONFIG:-pg_config}
BIN=$("$PG_CONFIG" --bindir)
[ "$("$PG_CONFIG" --version | sed 's/[^0-9]*\([0-9]*\).*/\1/')" -ge 17 ] ||
	{ echo "queue_full.sh: needs PostgreSQL 17 or later (max_notify_queue_pages)" >&2; exit 2; }
DIR=$(mktemp -d /tmp/keymgmt-queue.XXXXXX)
chmod 755 "$DIR"
AS=()
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$DIR"; AS=(runuser -u postgres --); fi
PORT=54$((RANDOM % 90 + 10))
cleanup() { "${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
"${AS[@]}" "$BIN/initdb" -D "$DIR/data" -A trust -U postgres --no-sync >/dev/null
cat >>"$DIR/data/postgresql.conf" <<EOF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$DIR'
max_notify_queue_pages = 64
EOF
"${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w start >/dev/null
psql_() { "$BIN/psql" -X -q -h "$DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }

psql_ >/dev/null <<'SQL'
CREATE EXTENSION keymgmt;
SELECT 1 FROM keymgmt.import_key('sk-queue-full-test-key', user_id => 'u');
CREATE ROLE filler LOGIN;
SQL

# the listener that never reads: its open transaction pins the queue's tail
{ echo "LISTEN keymgmt; BEGIN; SELECT 1;"; sleep 120; } |
	"$BIN/psql" -X -q -h "$DIR" -p "$PORT" -U filler -d postgres >/dev/null 2>&1 &
HOLDER=$!
sleep 1
filled=0
for _ in $(seq 2000); do
	if ! out=$("$BIN/psql" -X -q -h "$DIR" -p "$PORT" -U filler -d postgres -v ON_ERROR_STOP=1 \
		-c "SELECT pg_notify('keymgmt', repeat('x', 7000)) FROM generate_series(1, 8)" 2>&1); then
		grep -q "too many notifications" <<<"$out" && filled=1
		break
	fi
done
[ $filled = 1 ] || { echo "queue_full.sh: the queue did not fill" >&2; exit 1; }
echo "queue: full ($(psql_ -At -c "SELECT round(pg_notification_queue_usage() * 100)")% used), filled by a role with no privilege"
for mode in commit batched off; do
	out=$(psql_ -At -c "SET keymgmt.notify = $mode" \
		-c "\\set VERBOSITY sqlstate" \
		-c "SELECT blocked FROM keymgmt.block_key('sk-queue-full-test-key')" 2>&1 || true)
	state=$(psql_ -At -c "SELECT blocked FROM keymgmt.key_info('sk-queue-full-test-key')")
	echo "keymgmt.notify = $mode: block_key -> $(tr '\n' ' ' <<<"$out")(the key is now blocked=$state)"
	psql_ -c "SET keymgmt.notify = off" -c "SELECT 1 FROM keymgmt.unblock_key('sk-queue-full-test-key')" >/dev/null
done
kill "$HOLDER" 2>/dev/null || true

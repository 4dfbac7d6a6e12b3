#!/usr/bin/env bash
# Runs the suites against the server that PG* variables point at
# (test/run.sh starts one).  Ends with one line "N passed, N failed",
# counting test files across all suites (and writes it to $KEYMGMT_SUMMARY
# when that is set).
set -uo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."

passed=0
failed=0
tally() {	# suite name, passed, failed
	echo "== $1: $2 passed, $3 failed"
	passed=$((passed + $2))
	failed=$((failed + $3))
}

# pg_regress, then the isolation specs (PGXS runs each with its own tool)
for suite in regress isolation; do
	if [ $suite = regress ]; then only="ISOLATION="; else only="REGRESS="; fi
	rc=0
	make -s installcheck "$only" > "$suite.log" 2>&1 || rc=$?
	cat "$suite.log"
	# pg_regress prints "test x ... ok" up to 15 and TAP ("ok 1 - x") from 16
	f=$(grep -cE '\.\.\. FAILED|failed \(ignored\)|^not ok [0-9]+' "$suite.log")
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1	# it did not even run
	tally "$suite" "$(grep -cE '\.\.\. ok|^ok [0-9]+' "$suite.log")" "$f"
	rm -f "$suite.log"
done
for d in regression.diffs output_iso/regression.diffs; do
	[ -f "$d" ] && head -300 "$d"
done

# pgTAP, in a database of its own
psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS keymgmt_tap' -c 'CREATE DATABASE keymgmt_tap'
psql -X -q -d keymgmt_tap -c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION keymgmt'
tap=(test/pgtap/*.sql)
n=${#tap[@]}
f=0
for t in "${tap[@]}"; do
	pg_prove -d keymgmt_tap --failures "$t" || f=$((f + 1))
done
tally pgtap $((n - f)) "$f"

# shell-level tests (pg_dump round trip, ...)
n=0
f=0
for t in test/shell/*.sh; do
	n=$((n + 1))
	if bash "$t"; then echo "ok - $t"; else echo "not ok - $t"; f=$((f + 1)); fi
done
tally shell $((n - f)) "$f"

# the long suites: crash and load (TAP), memory, fuzzing, sqlsmith, valgrind.
# Each prints TAP lines; a suite that fails without one counts as one failure.
long_suite() {	# name, command...
	local name=$1 out rc=0 p f
	shift
	echo "== $name: $*"
	out=$(mktemp)
	"$@" 2>&1 | tee "$out" || rc=$?
	p=$(grep -cE '^ *ok [0-9]+' "$out")
	f=$(grep -cE '^ *not ok [0-9]+' "$out")
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	rm -f "$out"
	tally "$name" "$p" "$f"
}
# the reference cache client (examples/keycache.py), about 10 seconds
long_suite keycache /usr/bin/python3 examples/test_keycache.py
# the LiteLLM-style gateway over HTTP (examples/gateway), about 15 seconds
long_suite gateway /usr/bin/python3 examples/gateway/test_gateway.py
if [ "${KEYMGMT_QUICK:-0}" != 1 ]; then
	long_suite tap env PROVE_FLAGS=-v bash test/tap.sh
	long_suite memory /usr/bin/python3 test/memory/memory.py
	long_suite drivers bash test/drivers/run.sh
	for s in fuzz sqlsmith valgrind; do
		[ -f "test/$s/run.sh" ] && long_suite "$s" bash "test/$s/run.sh"
	done
fi

echo "$passed passed, $failed failed"
# test/run.sh prints it again, after the cluster's teardown has spoken
[ -n "${KEYMGMT_SUMMARY:-}" ] && echo "$passed passed, $failed failed" >"$KEYMGMT_SUMMARY"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# Runs keymgmt's regression tests and isolation specs (`make installcheck`)
# against a PostgreSQL server (KEYMGMT_PG, default 15) under valgrind memcheck, and fails if
# valgrind reports an invalid read or write, a use of an uninitialised value
# or a definite leak in keymgmt code; then, unless --no-asan, runs the
# quick suites (KEYMGMT_QUICK=1 test/suites.sh: regression, isolation, pgTAP,
# pg_dump round trip; not the long suites, which include this script)
# against a server that loads keymgmt.so built from src/ with
# AddressSanitizer, and fails on any ASan report.  Prints TAP lines last.
#
#   bash test/valgrind/run.sh [--no-asan | --asan-only] [--all-suites]
#                             [--no-suppressions] [--keep]
#
#   --no-asan      the valgrind pass only
#   --asan-only    the ASan pass only
#   --all-suites   under valgrind too, run test/suites.sh (adds pgTAP and the
#                  pg_dump round trip; about 2 more minutes)
#   --no-suppressions  without postgres.supp: to check that it hides nothing
#                  of keymgmt's (the verdict must not change; the noise does)
#   --keep         keep the clusters and builds (logs are always kept)
#
# As root on Debian 12 (it installs valgrind if missing; the servers run as
# the postgres user), or as any user who can run initdb.  It tests the
# keymgmt that is INSTALLED (PG_CONFIG, default KEYMGMT_PG's); if keymgmt is
# not installed yet it builds and installs it first (tools/bootstrap.sh).
# Everything else happens in a scratch directory /tmp/keymgmt-valgrind.*:
# the suites run from a copy of the tree, so results/ here is not touched.
# Exit status: 0 clean, 1 keymgmt errors or failing tests, 2 the check itself
# failed (server did not start, positive control not seen, ...).
#
# What each pass can see (Debian's PostgreSQL is not built with
# USE_VALGRIND, and no PostgreSQL build here is built with ASan):
#
#   valgrind  malloc-level errors anywhere in the backend: reads and writes
#             outside malloc'd blocks (which includes past the end of a
#             palloc'd chunk above 8 kB, as those get a malloc'd block of
#             their own), uninitialised values used in a branch, an address
#             or a system call (with the origin of the value), bad frees,
#             overlapping copies, malloc'd blocks leaked (definite).  Blind to
#             errors inside palloc'd memory (an overrun of a small chunk into
#             its neighbour, use after pfree, palloc leaks), and to overruns
#             of stack or static arrays.
#   ASan      instruments keymgmt.so only: its own loads and stores on the
#             stack, in globals and in malloc'd memory (stack-buffer-overflow,
#             global-buffer-overflow, heap-buffer-overflow, use after free,
#             stack-use-after-return), and, through its interceptors, any
#             memcpy/strlen/... range in the whole server.  Blind to
#             uninitialised values, to leaks (detect_leaks=0: PostgreSQL does
#             not free at exit), and to palloc'd memory as well.  About 2x
#             slower than plain, so it runs every suite.
#
# How the valgrind pass decides (see scan.py for the details):
#   - the postmaster runs under valgrind --trace-children=yes; PostgreSQL
#     forks without exec, so every backend is traced and writes its own
#     vg.<pid>.log; leaks are reported when each process exits, so the
#     server is stopped cleanly before the logs are read;
#   - an error is keymgmt's when a frame of its stack, or of the stack that
#     allocated the block or created the uninitialised value, is in
#     keymgmt.so (by object, or by source path from keymgmt.so's DWARF);
#   - postgres.supp hides PostgreSQL's own noise, anchored where keymgmt
#     cannot be on the stack;
#   - a positive control (canary.c) then makes keymgmt.so read past a block,
#     branch on uninitialised bytes, hand libcrypto a bad length, and leaks a
#     block, in one more backend; if scan.py does not find each of them the
#     run fails, because a check that sees nothing proves nothing.
#
# Options not used, on purpose: --error-exitcode.  The postmaster reads its
# children's exit codes: a backend exiting with anything but 0 or 1 is a
# crash (all sessions are killed), and the startup process or checkpointer
# exiting non-zero stops the server.  The logs are the verdict instead.
# Timeouts: pg_regress has none per test; isolationtester gives up on a step
# after 300 s (PGISOLATIONTIMEOUT, set to 1200 here); the whole valgrind
# suite run is bounded by KEYMGMT_VG_TIMEOUT (default 1800 s).  On a 2-core
# machine the valgrind pass takes 3 to 4 minutes (about 6 when the machine
# is busy with other work), the ASan pass under a minute.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

do_valgrind=yes
do_asan=yes
all_suites=no
keep=no
supp=$here/postgres.supp
for arg in "$@"; do
	case $arg in
		--no-asan) do_asan=no ;;
		--asan-only) do_valgrind=no ;;
		--all-suites) all_suites=yes ;;
		--no-suppressions) supp= ;;
		--keep) keep=yes ;;
		-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		*) echo "run.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
	esac
done

export KEYMGMT_PG=${KEYMGMT_PG:-15}
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$KEYMGMT_PG/bin/pg_config}
timeout_suites=${KEYMGMT_VG_TIMEOUT:-1800}
# nothing of the caller's libpq environment may reach the suites
for v in $(compgen -e | grep '^PG' || true); do
	[ "$v" = PG_CONFIG ] || unset "$v"
done

say() { printf '\n=== %s\n' "$*"; }
die() { echo "run.sh: $*" >&2; exit 2; }

# --- what the machine needs ----------------------------------------------
need=()
command -v valgrind >/dev/null || need+=(valgrind)
command -v python3 >/dev/null || need+=(python3)
command -v readelf >/dev/null || need+=(binutils)
if [ ${#need[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || die "missing: ${need[*]} (install them as root)"
	echo "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

[ -x "$PG_CONFIG" ] || die "no pg_config at $PG_CONFIG (set PG_CONFIG)"
bindir=$("$PG_CONFIG" --bindir)
pkglibdir=$("$PG_CONFIG" --pkglibdir)
sharedir=$("$PG_CONFIG" --sharedir)
pgversion=$("$PG_CONFIG" --version)
case $pgversion in
	"PostgreSQL 15."*) ;;
	# the suppressions name PostgreSQL 15's functions: on another version
	# some of its own noise may show (it is never counted as keymgmt's)
	*) echo "run.sh: warning: $pgversion (KEYMGMT_PG=$KEYMGMT_PG); postgres.supp was written for 15" >&2 ;;
esac
if [ ! -f "$pkglibdir/keymgmt.so" ] || [ ! -f "$sharedir/extension/keymgmt.control" ]; then
	echo "keymgmt is not installed in $pkglibdir: building and installing it"
	(cd "$top" && source tools/bootstrap.sh)
fi
if [ -f "$top/keymgmt.so" ] && ! cmp -s "$top/keymgmt.so" "$pkglibdir/keymgmt.so"; then
	echo "run.sh: warning: $top/keymgmt.so differs from the installed one;" \
		"this run tests the installed $pkglibdir/keymgmt.so" >&2
fi

# the servers run as postgres when we are root (initdb refuses root)
if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 || die "no postgres user"
	pg_cmd=(setpriv --reuid=postgres --regid=postgres --init-groups --)
	owner=postgres
else
	pg_cmd=()
	owner=$(id -un)
fi
as_pg() { "${pg_cmd[@]}" "$@"; }

# --- scratch directory, a copy of the tree -------------------------------
work=$(mktemp -d /tmp/keymgmt-valgrind.XXXXXX)
chmod 755 "$work"
cd "$work"
mkdir tree
(cd "$top" && cp -a Makefile keymgmt.control sql src test "$work/tree/" &&
	if [ -d expected ]; then cp -a expected "$work/tree/"; fi &&
	if [ -d examples ]; then cp -a examples "$work/tree/"; fi)
rm -f tree/src/*.o tree/src/*.bc
# the server runs as $owner and reads the suppressions: the tree may be in a
# directory it cannot enter (a clone in /root, mode 0700), the copy is not
if [ -n "$supp" ]; then
	cp "$supp" "$work/postgres.supp"
	chmod 644 "$work/postgres.supp"
	supp=$work/postgres.supp
fi

server_pid=
server_data=
stop_server() {	# clean shutdown, so that every process writes its leak report
	[ -n "$server_pid" ] || return 0
	if kill -0 "$server_pid" 2>/dev/null; then
		as_pg "$bindir/pg_ctl" stop -D "$server_data" -m fast -w -t 600 >/dev/null ||
			as_pg "$bindir/pg_ctl" stop -D "$server_data" -m immediate -w -t 60 >/dev/null ||
			kill -KILL "$server_pid" 2>/dev/null || true
	fi
	wait "$server_pid" 2>/dev/null || true	# the postmaster's own report comes last
	server_pid=
}
cleanup() {
	local rc=$?
	if [ -n "${suites_pid:-}" ]; then
		kill -TERM "$suites_pid" 2>/dev/null || true
		wait "$suites_pid" 2>/dev/null || true
	fi
	stop_server
	if [ $keep = no ]; then
		rm -rf "$work"/*/data "$work/tree" "$work/asan/root" "$work/asan/build"
	fi
	echo "logs: $work"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

new_cluster() {	# dir: initdb (never under valgrind) and our settings
	local dir=$1 port=$2
	mkdir -p "$dir"
	chown "$owner" "$dir"
	as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
		--locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log"; die "initdb failed"; }
	cat >>"$dir/data/postgresql.conf" <<-EOF
		listen_addresses = ''
		unix_socket_directories = '$dir'
		port = $port
		max_connections = 40
		shared_buffers = 32MB
		fsync = off
		autovacuum = off
		jit = off
		huge_pages = off
		restart_after_crash = off
		log_connections = on
		log_line_prefix = '%m [%p] %q%a '
	EOF
}

wait_ready() {	# dir port log seconds
	for _ in $(seq 1 "$4"); do
		if "$bindir/pg_isready" -q -h "$1" -p "$2" -U postgres -d postgres; then
			return 0
		fi
		kill -0 "$server_pid" 2>/dev/null || {
			tail -20 "$3"
			die "the server did not start (its output is above and in $3)"
		}
		sleep 1
	done
	tail -20 "$3"
	die "the server was not ready after $4 s"
}

client_env() {	# dir port: the libpq environment of the suites
	export PGHOST=$1 PGPORT=$2 PGUSER=postgres PGDATABASE=postgres
	export PGISOLATIONTIMEOUT=1200
}

suites_pid=
run_suites() {	# log: make installcheck, or test/suites.sh, in the copy
	local log=$1 what=$2 rc=0
	rm -rf tree/results tree/output_iso tree/regression.* tree/*.log
	# in the background, so that a signal to us reaches the trap at once
	# (timeout runs its command in a process group of its own)
	if [ "$what" = all ]; then
		# KEYMGMT_QUICK: not the long suites, which include this script
		(cd tree && KEYMGMT_QUICK=1 exec timeout -k 30 "$timeout_suites" bash test/suites.sh) \
			>"$log" 2>&1 &
	else
		# every regression file but the 20,000-key bulk one, hours under memcheck
		(cd tree && exec timeout -k 30 "$timeout_suites" make -s installcheck \
			REGRESS="$(cd test/sql && ls *.sql | sed 's/\.sql$//' | grep -vx bulk_many | tr '\n' ' ')") \
			>"$log" 2>&1 &
	fi
	suites_pid=$!
	wait "$suites_pid" || rc=$?
	suites_pid=
	# progress, as TAP comments: test/suites.sh counts our own ok lines only
	grep -E '^(not )?ok |\.\.\. |^== |passed|failed|Result:' "$log" | sed 's/^/# /' || true
	if [ $rc -ne 0 ]; then
		[ $rc -eq 124 ] && echo "the suites timed out after $timeout_suites s"
		for d in tree/regression.diffs tree/output_iso/regression.diffs; do
			[ -f "$d" ] && head -100 "$d"
		done
	fi
	return $rc
}

# canary.c, built against the server headers, outside the tree
build_canary() {
	mkdir -p canary
	cp "$here/canary.c" canary/
	# shellcheck disable=SC2046
	$("$PG_CONFIG" --cc) $("$PG_CONFIG" --cflags) $("$PG_CONFIG" --cflags_sl) -O0 -g \
		-I"$("$PG_CONFIG" --includedir-server)" -shared -o canary/canary.so canary/canary.c \
		>canary/build.log 2>&1 || { cat canary/build.log; die "could not build the canary"; }
}

run_canary() {	# prints the canary backend's pid
	psql -X -q -At -v ON_ERROR_STOP=1 -d postgres \
		-c "CREATE FUNCTION keymgmt_vg_canary() RETURNS text
		    AS '$work/canary/canary.so', 'keymgmt_vg_canary' LANGUAGE C" \
		-c "SELECT pg_backend_pid()" \
		-c "SELECT keymgmt_vg_canary()" 2>canary/psql.err | head -1 || true
}

started=$(date +%s)
build_canary

# results, printed as TAP lines at the end (test/suites.sh counts them)
tap=()
blind=no
check() {	# ok|fail, description
	if [ "$1" = ok ]; then tap+=("ok $((${#tap[@]} + 1)) - $2")
	else tap+=("not ok $((${#tap[@]} + 1)) - $2"); fi
}
verdict() {	# "yes" if it holds, description, what to add when it does not
	if [ "$1" = yes ]; then check ok "$2"; else check fail "$2 ($3)"; fi
}
holds() { if "$@"; then echo yes; else echo no; fi; }
crashes() {	# server log: processes that died of a signal or exited with 2+
	grep -E 'terminated by signal|exited with exit code ([2-9]|[1-9][0-9]+)' "$1" || true
}

# --- pass 1: valgrind memcheck -------------------------------------------
if [ $do_valgrind = yes ]; then
	say "valgrind: $(valgrind --version), $pgversion, $pkglibdir/keymgmt.so"
	port=$(free_port)
	new_cluster "$work/vg" "$port"
	mkdir -p "$work/vg/logs"
	chown "$owner" "$work/vg/logs"
	t0=$(date +%s)
	(
		cd "$work/vg"
		exec 0</dev/null
		exec "${pg_cmd[@]}" valgrind --tool=memcheck --trace-children=yes \
			--leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
			--track-origins=yes --read-var-info=yes --num-callers=50 --error-limit=no \
			--gen-suppressions=all --error-markers=VGERR-BEGIN,VGERR-END --fullpath-after= \
			${supp:+--suppressions="$supp"} --log-file="$work/vg/logs/vg.%p.log" \
			"$bindir/postgres" -D "$work/vg/data" >"$work/vg/server.log" 2>&1
	) &
	server_pid=$!
	server_data=$work/vg/data
	wait_ready "$work/vg" "$port" "$work/vg/server.log" 600
	echo "server up under valgrind in $(($(date +%s) - t0)) s (port $port)"

	client_env "$work/vg" "$port"
	t1=$(date +%s)
	suites_rc=0
	if [ $all_suites = yes ]; then
		what="every suite (test/suites.sh)"
		run_suites "$work/vg/suites.log" all || suites_rc=$?
	else
		what="make installcheck"
		run_suites "$work/vg/suites.log" installcheck || suites_rc=$?
	fi
	echo "suites under valgrind: $(($(date +%s) - t1)) s, exit $suites_rc"

	canary_pid=$(run_canary)
	[ -n "$canary_pid" ] || { cat canary/psql.err; echo "the canary did not run"; }
	t2=$(date +%s)
	stop_server
	echo "server stopped in $(($(date +%s) - t2)) s"

	say "valgrind: scanning $(find "$work/vg/logs" -name 'vg.*.log' | wc -l) logs"
	python3 "$here/scan.py" --logs "$work/vg/logs" --server-log "$work/vg/server.log" \
		--module "keymgmt=$pkglibdir/keymgmt.so" --result "$work/vg/scan.result" \
		--canary "canary=$work/canary/canary.so" ${canary_pid:+--canary-pid "$canary_pid"} ||
		true
	km_errors=$(sed -n 's/^km_errors=//p' "$work/vg/scan.result" 2>/dev/null)
	km_leaks=$(sed -n 's/^km_leaks=//p' "$work/vg/scan.result" 2>/dev/null)
	problems=$(sed -n 's/^problems=//p' "$work/vg/scan.result" 2>/dev/null)
	crashed=$(crashes "$work/vg/server.log" | grep -v "PID ${canary_pid:-none})" || true)
	[ -z "$crashed" ] || echo "$crashed"

	verdict "$(holds [ $suites_rc -eq 0 ])" "valgrind: $what passes" \
		"exit $suites_rc, see $work/vg/suites.log"
	verdict "$(holds [ -z "$crashed" ])" "valgrind: no server process crashed" \
		"see $work/vg/server.log"
	verdict "$(holds [ "${km_errors:-x}" = 0 ])" "valgrind: no invalid access or uninitialised value in keymgmt.so" \
		"${km_errors:-?} found"
	verdict "$(holds [ "${km_leaks:-x}" = 0 ])" "valgrind: no definite leak in keymgmt.so" \
		"${km_leaks:-?} found"
	if [ "${problems:-x}" = 0 ]; then
		check ok "valgrind: every process reported, and the positive control was seen"
	else
		check fail "valgrind: every process reported, and the positive control was seen"
		blind=yes
	fi
	echo "valgrind pass: $(($(date +%s) - t0)) s"
fi

# --- pass 2: keymgmt.so built with AddressSanitizer ----------------------
if [ $do_asan = yes ]; then
	libasan=$($("$PG_CONFIG" --cc) -print-file-name=libasan.so)
	[ -e "$libasan" ] || die "no libasan.so for $("$PG_CONFIG" --cc)"
	say "ASan: keymgmt.so built with -fsanitize=address, $libasan preloaded"
	t0=$(date +%s)
	# a private installation: the server finds $libdir and its share
	# directory relative to its own binary, so a copy of postgres next to a
	# lib/ holding the ASan keymgmt.so (and links to everything else) loads
	# that one, and the installed keymgmt.so stays as it is
	root=$work/asan/root
	mkdir -p "$work/asan/build"
	cp -a tree/Makefile tree/keymgmt.control tree/sql tree/src "$work/asan/build/"
	make -s -C "$work/asan/build" with_llvm=no \
		COPT='-fsanitize=address -fno-omit-frame-pointer -fno-common' >"$work/asan/build.log" 2>&1 ||
		{ cat "$work/asan/build.log"; die "the ASan build failed"; }
	make -s -C "$work/asan/build" with_llvm=no DESTDIR="$root" install >>"$work/asan/build.log" 2>&1 ||
		{ cat "$work/asan/build.log"; die "the ASan install failed"; }
	mkdir -p "$root$bindir" "$root$sharedir/extension"
	cp "$bindir/postgres" "$root$bindir/"
	for f in "$pkglibdir"/*; do [ -e "$root$pkglibdir/${f##*/}" ] || ln -s "$f" "$root$pkglibdir/"; done
	for f in "$sharedir"/*; do [ -e "$root$sharedir/${f##*/}" ] || ln -s "$f" "$root$sharedir/"; done
	for f in "$sharedir"/extension/*; do
		[ -e "$root$sharedir/extension/${f##*/}" ] || ln -s "$f" "$root$sharedir/extension/"
	done

	# gcc 12's (and clang 14's) ASan runtime, preloaded into Debian's
	# postgres, hangs before main(): libgpg-error's constructor runs first
	# and calls bindtextdomain(), whose malloc() starts the runtime, whose
	# initialisation looks up swift_demangle and calls dlerror() when there
	# is none, and dlerror() waits for the gettext lock that bindtextdomain()
	# holds.  A swift_demangle of our own makes that lookup succeed.
	cat >"$work/asan/swift_stub.c" <<-'EOF'
		#include <stddef.h>
		char *swift_demangle(const char *m, size_t n, char *out, size_t *outn, unsigned f);
		char *swift_demangle(const char *m, size_t n, char *out, size_t *outn, unsigned f)
		{ (void) m; (void) n; (void) out; (void) outn; (void) f; return NULL; }
	EOF
	$("$PG_CONFIG" --cc) -shared -fPIC -O2 -o "$work/asan/swift_stub.so" "$work/asan/swift_stub.c"

	port=$(free_port)
	new_cluster "$work/asan" "$port"
	mkdir -p "$work/asan/logs"
	chown "$owner" "$work/asan/logs"
	symbolizer=$(command -v llvm-symbolizer || true)
	(
		cd "$work/asan"
		exec 0</dev/null
		exec "${pg_cmd[@]}" env LD_PRELOAD="$libasan $work/asan/swift_stub.so" ${symbolizer:+ASAN_SYMBOLIZER_PATH=$symbolizer} \
			ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:log_path=$work/asan/logs/asan" \
			"$root$bindir/postgres" -D "$work/asan/data" >"$work/asan/server.log" 2>&1
	) &
	server_pid=$!
	server_data=$work/asan/data
	wait_ready "$work/asan" "$port" "$work/asan/server.log" 120
	client_env "$work/asan" "$port"

	# is it really the ASan build that backends load?
	maps=$(psql -X -q -At -d postgres -c "LOAD '\$libdir/keymgmt'" \
		-c "SELECT pg_read_file('/proc/' || pg_backend_pid() || '/maps')")
	grep -q "$root$pkglibdir/keymgmt.so" <<<"$maps" ||
		die "the ASan server did not load $root$pkglibdir/keymgmt.so"
	grep -q libasan <<<"$maps" || die "the ASan server has no ASan runtime"

	suites_rc=0
	if command -v pg_prove >/dev/null && [ -f "$sharedir/extension/pgtap.control" ]; then
		what="every suite (test/suites.sh)"
		run_suites "$work/asan/suites.log" all || suites_rc=$?
	else
		what="make installcheck (no pg_prove or pgtap here)"
		run_suites "$work/asan/suites.log" installcheck || suites_rc=$?
	fi
	# the positive control, last: ASan stops the backend at its first error
	canary_pid=$(run_canary)
	sleep 1
	stop_server

	say "ASan: reports"
	reports=0
	canary_seen=no
	for f in "$work"/asan/logs/asan.*; do
		[ -e "$f" ] || continue
		pid=${f##*.}
		if [ -n "$canary_pid" ] && [ "$pid" = "$canary_pid" ]; then
			if grep -q 'heap-buffer-overflow' "$f" && grep -q 'KeyParse' "$f"; then
				canary_seen=yes
			fi
			continue
		fi
		reports=$((reports + 1))
		echo "--- $f"
		head -60 "$f"
	done
	echo "ASan reports from the suites: $reports"
	[ $canary_seen = yes ] &&
		echo "positive control: heap-buffer-overflow in KeyParse reported (pid $canary_pid)"
	crashed=$(crashes "$work/asan/server.log" | grep -v "PID ${canary_pid:-none})" || true)
	[ -z "$crashed" ] || echo "$crashed"

	verdict "$(holds [ $suites_rc -eq 0 ])" "asan: $what passes" \
		"exit $suites_rc, see $work/asan/suites.log"
	verdict "$(holds [ -z "$crashed" ])" "asan: no server process crashed" \
		"see $work/asan/server.log"
	verdict "$(holds [ $reports -eq 0 ])" "asan: no AddressSanitizer report" \
		"$reports found"
	if [ $canary_seen = yes ]; then
		check ok "asan: the positive control was seen"
	else
		check fail "asan: the positive control was seen"
		blind=yes
	fi
	echo "ASan pass: $(($(date +%s) - t0)) s"
fi

echo
printf '%s\n' "${tap[@]}"
echo "1..${#tap[@]}"
rc=0
printf '%s\n' "${tap[@]}" | grep -q '^not ok' && rc=1
[ $blind = yes ] && rc=2
say "total $(($(date +%s) - started)) s: $([ $rc -eq 0 ] && echo clean || echo "FAILED ($rc)")"
exit $rc

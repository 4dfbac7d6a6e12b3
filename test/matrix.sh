#!/usr/bin/env bash
# Builds keymgmt with -Wall -Wextra -Werror and runs the quick suites
# (regression, isolation, pgTAP, pg_dump round trip, the Python cache
# client and gateway) on every PostgreSQL major version keymgmt supports,
# each on the Debian release that ships it:
#
#   13  bullseye  chroot
#   15  bookworm  this machine (test/run.sh quick, as CI runs it)
#   17  trixie    chroot
#   18  sid       chroot
#
#   bash test/matrix.sh             # all four (make matrix)
#   bash test/matrix.sh 13 18       # some of them
#   bash test/matrix.sh --head 17   # HEAD instead of the working tree
#
# As root, on Debian 12, with Debian's archive reachable.  What is tested is
# a snapshot of the work tree (the files git knows, and new ones it does not
# ignore; with --head, git archive HEAD), unpacked where the postgres user
# can read it: /srv/keymgmt-matrix in a chroot, /tmp/keymgmt-matrix.* here.
# In it, as root: tools/bootstrap.sh (KEYMGMT_QUICK=1 KEYMGMT_WERROR=1
# KEYMGMT_PG=N: the release's packages, the strict build, make install),
# then KEYMGMT_PG=N bash test/run.sh quick.
#
# Chroots are made with debootstrap (minbase) from KEYMGMT_MIRROR (default
# http://deb.debian.org/debian) into KEYMGMT_MATRIX_CACHE (default
# /var/cache/keymgmt-matrix/<release>) when missing, and reused by later
# runs; remove the directory for a fresh one.  While one is used, /proc,
# /dev, /dev/pts and a tmpfs on /dev/shm are mounted in it; they are
# unmounted, and anything still running in the chroot is ended, on exit.
# No service starts in a chroot (policy-rc.d), so the "main" cluster the
# postgresql package creates there stays down.  The chroot shares this
# machine's network: each cluster gets a port that is free here and named
# by no cluster of this machine (KEYMGMT_PORT, see free_port).
#
# Bullseye has no psycopg 3: the cache client's tests (and psycopg_pool's)
# run there with bookworm's python3-psycopg, python3-psycopg-pool and
# python3-typing-extensions (pure Python, Architecture: all; their other
# dependencies, python3 and libpq5, are bullseye's), downloaded with this
# machine's apt and installed in the chroot before the bootstrap.  Nor does
# its postgresql-13 ship PostgreSQL's isolation tester: it is built from
# the source package of the installed postgresql-13, once per chroot.
#
# The step on this machine waits while another pg_virtualenv runs here
# (their clusters would both be 15/regress), up to KEYMGMT_MATRIX_HOST_WAIT
# seconds (default 1800).
#
# Prints, per version, its summary line ("N passed, N failed") and wall
# time, then a table; the logs stay in the directory it names.  Exits
# non-zero when any version failed.  KEYMGMT_MATRIX_TIMEOUT (default 3600)
# bounds each step, in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${KEYMGMT_MATRIX_CACHE:-/var/cache/keymgmt-matrix}
mirror=${KEYMGMT_MIRROR:-http://deb.debian.org/debian}
step_timeout=${KEYMGMT_MATRIX_TIMEOUT:-3600}
all_versions=(13 15 17 18)

release_of() {	# major version: the Debian release that ships it ("host": this machine)
	case $1 in
		13) echo bullseye ;;
		15) echo host ;;
		17) echo trixie ;;
		18) echo sid ;;
		*) return 1 ;;
	esac
}

tree=worktree
versions=()
for arg in "$@"; do
	case $arg in
		--head) tree='head' ;;
		-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		*)
			if ! release_of "$arg" >/dev/null; then
				echo "matrix.sh: no such version: $arg (one of ${all_versions[*]})" >&2
				exit 2
			fi
			versions+=("$arg") ;;
	esac
done
[ ${#versions[@]} -gt 0 ] || versions=("${all_versions[@]}")

if [ "$(id -u)" -ne 0 ]; then
	echo "matrix.sh: run it as root (debootstrap, chroot, apt-get)" >&2
	exit 2
fi

logs=$(mktemp -d /tmp/keymgmt-matrix-logs.XXXXXX)
chmod 755 "$logs"

# the snapshot of the tree, once for every version
snapshot=$logs/tree.tar
if [ $tree = head ]; then
	git archive --format=tar HEAD >"$snapshot"
	what="HEAD $(git rev-parse --short HEAD)"
else
	# tracked files that still exist, and untracked ones git does not ignore
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
		done | tar --null --no-recursion -T - -cf "$snapshot"
	what="the work tree (HEAD $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo ' + changes'))"
fi

# --- chroots ------------------------------------------------------------

mounted=()	# mount points, in mount order
active_root=
unmount_all() {
	local i
	[ -n "$active_root" ] && end_chroot_processes "$active_root"
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" 2>/dev/null || true
	done
	mounted=()
	active_root=
}
host_dirs=()
cleanup() {
	local rc=$?
	if [ -n "${step_pid:-}" ]; then
		kill -TERM "$step_pid" 2>/dev/null || true
		wait "$step_pid" 2>/dev/null || true
	fi
	unmount_all
	for d in "${host_dirs[@]}"; do rm -rf "$d"; done
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# end_chroot_processes ROOT: the processes left running in the chroot (a
# server of an interrupted run), by pid: only they have it as their root
end_chroot_processes() {
	local root pids=() p sig
	root=$(readlink -f "$1")
	for sig in TERM KILL; do
		pids=()
		for p in /proc/[0-9]*; do
			[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && pids+=("${p#/proc/}")
		done
		[ ${#pids[@]} -eq 0 ] && return 0
		kill -"$sig" "${pids[@]}" 2>/dev/null || true
		sleep 2
	done
}

mount_chroot() {	# root
	local root=$1
	active_root=$root
	mount -t proc proc "$root/proc" && mounted+=("$root/proc")
	# /dev alone (not --rbind): the host's /dev/shm and /dev/pts stay outside
	mount --bind /dev "$root/dev" && mounted+=("$root/dev")
	mount --bind /dev/pts "$root/dev/pts" && mounted+=("$root/dev/pts")
	# PostgreSQL's dynamic shared memory, private to the chroot
	mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm" && mounted+=("$root/dev/shm")
}

# a clean environment for every command run in the snapshot, here or in a
# chroot: nothing of the caller's (PGPORT, PG_CONFIG, ...) reaches the suites
clean_env=(/usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive)
in_chroot() {	# root, command...: as root, in a clean environment
	local root=$1
	shift
	chroot "$root" "${clean_env[@]}" "$@"
}

# make_chroot RELEASE ROOT: debootstrap, then what every run needs
make_chroot() {
	local release=$1 root=$2 partial=$2.partial
	rm -rf "$partial"
	mkdir -p "$(dirname "$root")"
	debootstrap --variant=minbase "$release" "$partial" "$mirror" >"$logs/debootstrap-$release.log" 2>&1 || {
		tail -30 "$logs/debootstrap-$release.log"
		echo "matrix.sh: debootstrap $release failed (log: $logs/debootstrap-$release.log)" >&2
		return 1
	}
	# the release alone, as debootstrap set it up (its point releases bring
	# PostgreSQL's minor versions; -updates and -security are left out: a
	# mirror or proxy that serves the release may not serve their pools)
	echo "deb $mirror $release main" >"$partial/etc/apt/sources.list"
	if [ "$release" = sid ]; then
		# the sid Release file here may be past its Valid-Until
		echo 'Acquire::Check-Valid-Until "false";' >"$partial/etc/apt/apt.conf.d/99keymgmt-matrix"
	fi
	# no service starts when a package is installed (the postgresql
	# package's main cluster would take a port of the shared network)
	printf '#!/bin/sh\nexit 101\n' >"$partial/usr/sbin/policy-rc.d"
	chmod 755 "$partial/usr/sbin/policy-rc.d"
	mv "$partial" "$root"
}

# free_port: a TCP port for a chroot's cluster.  pg_createcluster in a
# chroot picks the first port from 5432 that no cluster of the chroot's
# /etc/postgresql names and that is free on the shared network: it cannot
# see this machine's clusters that are down (15/main), and this machine's
# pg_virtualenv and pg_createcluster search from 5432 too.  So: a port from
# 20000-29999 (below the kernel's ephemeral ports and the 49152-65535 of
# PostgreSQL's TAP clusters), named by no cluster of this machine, that
# nothing listens on or is connected from here (IPv4 and IPv6).  It is
# chosen just before run.sh starts the cluster, after the bootstrap.
free_port() {
	local taken
	taken=$(pg_lsclusters -h 2>/dev/null | awk '{print $3}' | tr '\n' ' ')
	python3 - $taken <<-'EOF'
		import random, socket, sys
		taken = {int(p) for p in sys.argv[1:]}
		for _ in range(500):
		    port = random.randint(20000, 29999)
		    if port in taken:
		        continue
		    free = True
		    for family, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
		        try:
		            s = socket.socket(family, socket.SOCK_STREAM)
		        except OSError:
		            continue        # no IPv6 here
		        try:
		            if family == socket.AF_INET6:
		                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
		            s.bind((addr, port))
		        except OSError:
		            free = False
		        finally:
		            s.close()
		    if free:
		        print(port)
		        sys.exit(0)
		sys.exit("no free port in 20000-29999")
	EOF
}

# bullseye: bookworm's psycopg 3 (see the header)
psycopg_from_bookworm() {	# root, log
	local root=$1 log=$2 dir
	local policy
	policy=$(in_chroot "$root" apt-cache policy python3-psycopg 2>/dev/null || true)
	grep -q 'Candidate: [0-9]' <<<"$policy" && return 0
	echo "   no psycopg 3 in this release: installing bookworm's python3-psycopg, python3-psycopg-pool, python3-typing-extensions"
	dir=$root/var/cache/keymgmt-matrix-debs
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && apt-get download python3-psycopg python3-psycopg-pool python3-typing-extensions) >>"$log" 2>&1 || {
		echo "   this machine's apt could not download them: the Python suites will fail on this version"
		return 0
	}
	in_chroot "$root" sh -c 'apt-get install -y -qq --no-install-recommends /var/cache/keymgmt-matrix-debs/*.deb' >>"$log" 2>&1 || {
		echo "   installing them failed (see $log): the Python suites will fail on this version"
		return 0
	}
}

# isolation_tester ROOT VERSION LOG: bullseye's postgresql-13 packages do
# not ship PostgreSQL's isolation tester (Debian's packages have it from
# 14, in postgresql-client-N); PGXS's installcheck looks for it in
# lib/pgxs/src/test/isolation.  So it is built there from the source of the
# very postgresql-N package installed (apt-get source), once per chroot.
isolation_tester() {
	local root=$1 v=$2 log=$3 pgxs
	pgxs=/usr/lib/postgresql/$v/lib/pgxs/src/test/isolation
	[ -x "$root$pgxs/pg_isolation_regress" ] && [ -x "$root$pgxs/isolationtester" ] && return 0
	echo "   no isolation tester in postgresql-$v here: building it from its source package"
	grep -q '^deb-src ' "$root/etc/apt/sources.list" ||
		sed -n 's/^deb /deb-src /p' "$root/etc/apt/sources.list" >>"$root/etc/apt/sources.list"
	step "$log" chroot "$root" "${clean_env[@]}" bash -euc "
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends bzip2 xz-utils >/dev/null
		rm -rf /var/tmp/keymgmt-isolation && mkdir /var/tmp/keymgmt-isolation && cd /var/tmp/keymgmt-isolation
		apt-get source --download-only -qq postgresql-$v
		tar -xf postgresql-${v}_*.orig.tar.*
		cd postgresql-$v.*/
		./configure -q --without-readline --without-zlib --without-icu --without-openssl \
			--prefix=/usr/lib/postgresql/$v >/dev/null
		make -s -j2 -C src/test/isolation >/dev/null
		mkdir -p $pgxs
		install -m 755 src/test/isolation/pg_isolation_regress src/test/isolation/isolationtester $pgxs/
		cd / && rm -rf /var/tmp/keymgmt-isolation"
}

# host_cluster_free VERSION: pg_virtualenv names its cluster "regress",
# and two at once on this machine collide (another test/run.sh, CI).  Waits
# while one runs here (not in a chroot: those have clusters of their own)
# or VERSION/regress exists, up to KEYMGMT_MATRIX_HOST_WAIT seconds
# (default 1800); false if it is still busy then.
host_cluster_free() {
	local v=$1 waited=0 limit=${KEYMGMT_MATRIX_HOST_WAIT:-1800} p busy
	while :; do
		busy=
		[ -e "/etc/postgresql/$v/regress" ] && busy="$v/regress exists"
		for p in $(pgrep -f pg_virtualenv || true); do
			[ "$(readlink "/proc/$p/root" 2>/dev/null)" = / ] && busy="pg_virtualenv runs (pid $p)"
		done
		[ -z "$busy" ] && return 0
		[ "$waited" -ge "$limit" ] && { echo "   $busy: gave up after $waited s"; return 1; }
		[ "$waited" -eq 0 ] && echo "   waiting: $busy"
		sleep 10
		waited=$((waited + 10))
	done
}

# --- one version --------------------------------------------------------

results=()
failed_any=0

# step LOG COMMAND...: in the background, so that a signal reaches our trap
# at once (the trap ends it, then whatever it left in the chroot)
step_pid=
step() {
	local log=$1 rc=0
	shift
	timeout "$step_timeout" "$@" >>"$log" 2>&1 &
	step_pid=$!
	wait "$step_pid" || rc=$?
	step_pid=
	return $rc
}

# run_steps: the strict build and install, then the quick suites, in the
# snapshot at DIR (its path as the commands see it), each command run
# through the PREFIX (chroot ROOT, or nothing) and a clean environment
run_steps() {	# version, log, tree dir (as the commands see it), command prefix...
	local v=$1 log=$2 dir=$3 port rc
	shift 3
	echo "   build and install (tools/bootstrap.sh, -Wall -Wextra -Werror)"
	rc=0
	step "$log" "$@" "${clean_env[@]}" bash -c "cd '$dir' && KEYMGMT_PG=$v KEYMGMT_QUICK=1 KEYMGMT_WERROR=1 bash tools/bootstrap.sh" || rc=$?
	if [ $rc -ne 0 ]; then
		tail -40 "$log" | sed 's/^/   | /'
		summary="build failed (exit $rc)"
		return 1
	fi
	# in a chroot whose release packages no isolation tester, build one
	if [ "${1:-}" = chroot ] && ! isolation_tester "$2" "$v" "$log"; then
		tail -30 "$log" | sed 's/^/   | /'
		summary="could not build the isolation tester"
		return 1
	fi
	port=$(free_port)
	echo "   KEYMGMT_PG=$v bash test/run.sh quick (port $port)"
	rc=0
	step "$log" "$@" "${clean_env[@]}" bash -c "cd '$dir' && KEYMGMT_PG=$v KEYMGMT_QUICK=1 KEYMGMT_WERROR=1 KEYMGMT_PORT=$port bash test/run.sh quick" || rc=$?
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	[ -n "$summary" ] || summary="the suites did not finish"
	if [ $rc -ne 0 ]; then
		grep -E '^== |not ok|\.\.\. FAILED|FAILED' "$log" | grep -vE ' 0 failed$' | tail -40 | sed 's/^/   | /'
		[ $rc -eq 124 ] && summary="$summary (timed out after $step_timeout s)"
		return 1
	fi
}

run_version() {	# version
	local v=$1 release root log t0 t_boot=0 fresh=cached rc=0 dir
	release=$(release_of "$v")
	log=$logs/pg$v.log
	: >"$log"
	t0=$(date +%s)
	summary=
	if [ "$release" = host ]; then
		echo "== PostgreSQL $v on this machine"
		if host_cluster_free "$v"; then
			dir=$(mktemp -d /tmp/keymgmt-matrix.XXXXXX)
			host_dirs+=("$dir")
			chmod 755 "$dir"
			tar -xf "$snapshot" -C "$dir"
			run_steps "$v" "$log" "$dir" || rc=$?
			rm -rf "$dir"
		else
			rc=1
			summary="not run: this machine's $v/regress stayed busy"
		fi
	else
		root=$cache/$release
		echo "== PostgreSQL $v in a $release chroot ($root)"
		if [ ! -x "$root/usr/sbin/policy-rc.d" ]; then
			fresh=fresh
			echo "   debootstrap $release from $mirror"
			make_chroot "$release" "$root" || rc=$?
			t_boot=$(($(date +%s) - t0))
		fi
		if [ $rc -eq 0 ]; then
			mount_chroot "$root"
			cp /etc/resolv.conf "$root/etc/resolv.conf"
			# a cluster an interrupted run left behind
			if [ -d "$root/etc/postgresql/$v/regress" ]; then
				in_chroot "$root" pg_dropcluster --stop "$v" regress >>"$log" 2>&1 || true
			fi
			rm -rf "$root/srv/keymgmt-matrix"
			mkdir -p "$root/srv/keymgmt-matrix"
			chmod 755 "$root/srv" "$root/srv/keymgmt-matrix"
			tar -xf "$snapshot" -C "$root/srv/keymgmt-matrix"
			in_chroot "$root" apt-get update -qq >>"$log" 2>&1 || {
				rc=$?
				tail -20 "$log" | sed 's/^/   | /'
				summary="apt-get update failed in the chroot"
			}
			if [ $rc -eq 0 ]; then
				psycopg_from_bookworm "$root" "$log"
				run_steps "$v" "$log" /srv/keymgmt-matrix chroot "$root" || rc=$?
			fi
			unmount_all
		else
			summary="no chroot"
		fi
	fi
	local secs=$(($(date +%s) - t0)) when
	when="${secs} s"
	[ $fresh = fresh ] && when="$when (fresh chroot; debootstrap ${t_boot} s)"
	[ "$release" != host ] && [ $fresh = cached ] && when="$when (cached chroot)"
	if [ $rc -eq 0 ]; then status=ok; else status=FAILED; failed_any=1; fi
	echo "   $status: $summary; $when; log $log"
	results+=("$(printf '%-4s %-9s %-7s %-42s %s' "$v" "$release" "$status" "$summary" "$when")")
}

echo "matrix: PostgreSQL ${versions[*]}; testing $what; logs in $logs"
for v in "${versions[@]}"; do
	run_version "$v"
done

echo
printf '%-4s %-9s %-7s %-42s %s\n' PG release result summary "wall time"
printf '%s\n' "${results[@]}"
exit $failed_any

#!/usr/bin/env bash
# Runs the TAP tests in test/t (crash safety, load), written with
# PostgreSQL's PostgreSQL::Test::Cluster, against the installed keymgmt
# (`make install` first).  Each test starts servers of its own.
#
#   bash test/tap.sh                        # every test/t/*.pl
#   bash test/tap.sh test/t/002_load.pl     # some of them
#
# initdb refuses to run as root, so as root the tests run as the postgres
# user, in a copy of test/t in a fresh directory that user owns (TESTDIR:
# tmp_check/ with the servers' data and logs goes there).  It is removed
# when every test passes, and kept, with its path printed, when one fails.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/${KEYMGMT_PG:-15}/bin/pg_config}
bindir=$("$PG_CONFIG" --bindir)
pgxs_src=$(dirname "$(dirname "$("$PG_CONFIG" --pgxs)")")	# .../lib/pgxs/src

for f in "$("$PG_CONFIG" --pkglibdir)/keymgmt.so" \
	"$("$PG_CONFIG" --sharedir)/extension/keymgmt.control"; do
	if [ ! -f "$f" ]; then
		echo "tap.sh: $f is missing; run make install first" >&2
		exit 2
	fi
done

tests=()
for t in "${@:-test/t/*.pl}"; do
	for f in $t; do tests+=("t/$(basename "$f")"); done
done

work=$(mktemp -d "${TMPDIR:-/tmp}/keymgmt-tap.XXXXXX")
cp -r test/t "$work/t"
as=()
if [ "$(id -u)" -eq 0 ]; then
	chown -R postgres: "$work"
	as=(runuser -u postgres --)
fi

# a clean environment: no PGUSER, PGOPTIONS, ... of the caller's
rc=0
(cd "$work" && "${as[@]}" env -i \
	PATH="$bindir:/usr/local/bin:/usr/bin:/bin" \
	LANG=C.UTF-8 \
	TESTDIR="$work" \
	PG_REGRESS="$pgxs_src/test/regress/pg_regress" \
	${PG_TEST_NOCLEAN:+PG_TEST_NOCLEAN=1} \
	prove --timer ${PROVE_FLAGS:-} -I "$pgxs_src/test/perl" -I t "${tests[@]}") || rc=$?

if [ "$rc" -eq 0 ] && [ -z "${PG_TEST_NOCLEAN:-}" ]; then
	rm -rf "$work"
else
	echo "tap.sh: logs kept in $work/tmp_check/log"
fi
exit "$rc"

#!/usr/bin/env bash
# Makes this machine ready to build and test keymgmt, then builds and
# installs it.  Sourced by test/run.sh and examples/demo.sh.
#
# KEYMGMT_PG (default 15) is the PostgreSQL major version: its server,
# headers and pgTAP from Debian's archive, and its pg_config.  With
# KEYMGMT_QUICK=1 (test/run.sh quick) the packages only the long suites
# need (TAP's IPC::Run, clang for the fuzzer, sqlsmith, valgrind) are not
# installed.
#
# As root on Debian it installs what is missing from Debian's archive;
# elsewhere it only checks that the tools are there.
set -euo pipefail

export KEYMGMT_PG=${KEYMGMT_PG:-15}
source "$(dirname "${BASH_SOURCE[0]}")/packages.sh"

# postgresql-$KEYMGMT_PG has the contrib modules (the postgresql-contrib
# meta package would pull the release's default version instead)
KEYMGMT_PACKAGES=(
	make gcc libssl-dev
	"postgresql-$KEYMGMT_PG" "postgresql-server-dev-$KEYMGMT_PG"
	"postgresql-$KEYMGMT_PG-pgtap" libtap-parser-sourcehandler-pgtap-perl
	python3-psycopg python3-psycopg-pool curl
)
if [ "${KEYMGMT_QUICK:-0}" != 1 ]; then
	keymgmt_clang_pkgs=$(keymgmt_clang_packages)
	# shellcheck disable=SC2206
	KEYMGMT_PACKAGES+=(libipc-run-perl sqlsmith valgrind $keymgmt_clang_pkgs)
	# test/drivers: a pooler and the drivers (Node.js may come from elsewhere, with npm)
	KEYMGMT_PACKAGES+=(pgbouncer libpostgresql-jdbc-java default-jdk-headless nodejs)
fi

keymgmt_build_and_install() {
	export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$KEYMGMT_PG/bin/pg_config}
	make -s PG_CONFIG="$PG_CONFIG"
	make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

install_packages keymgmt "${KEYMGMT_PACKAGES[@]}"
keymgmt_build_and_install

#!/usr/bin/env bash
# Makes this machine ready to build and test keymgmt, then builds and
# installs it.  Sourced by test/run.sh and examples/demo.sh.
#
# As root on Debian 12 it installs what is missing from Debian's archive;
# elsewhere it only checks that the tools are there.
set -euo pipefail

KEYMGMT_PACKAGES=(
	make gcc
	postgresql-15 postgresql-server-dev-15 postgresql-contrib
	postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
	libipc-run-perl python3-psycopg
	clang-14 libclang-rt-14-dev libssl-dev sqlsmith valgrind
	# test/drivers: a pooler and the drivers (Node.js may come from elsewhere, with npm)
	pgbouncer libpostgresql-jdbc-java default-jdk-headless nodejs python3-psycopg-pool
)

keymgmt_build_and_install() {
	export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
	make -s PG_CONFIG="$PG_CONFIG"
	make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

source "$(dirname "${BASH_SOURCE[0]}")/packages.sh"
install_packages keymgmt "${KEYMGMT_PACKAGES[@]}"
keymgmt_build_and_install

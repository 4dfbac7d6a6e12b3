# keymgmt — built with PGXS.  `make && make install`, then
# `make installcheck` against a running server (see README.md).

EXTENSION = keymgmt
MODULE_big = keymgmt
OBJS = src/keymgmt.o src/token.o src/names.o src/caller.o src/actor.o src/change.o src/keys.o src/update.o src/rotate.o src/bulk.o src/list.o src/verify.o src/authority.o src/notify.o src/feed.o src/notifier.o
DATA = sql/keymgmt--1.0.sql sql/keymgmt--1.1.sql sql/keymgmt--1.0--1.1.sql
PGFILEDESC = "keymgmt - API keys managed inside PostgreSQL"

# pg_regress: inputs in test/sql, outputs in the top-level expected/
REGRESS = $(sort $(patsubst test/sql/%.sql,%,$(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test
# isolation specs: test/specs/*.spec, outputs in expected/ as well
ISOLATION = $(sort $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test

EXTRA_CLEAN = results output_iso regression.diffs regression.out tmp_check

# KEYMGMT_WERROR=1 (test/matrix.sh sets it): -Wextra -Werror on top of
# PostgreSQL's own warning flags (-Wall and more).  The server's headers are
# named as system headers (-isystem; GCC then ignores the -I PGXS gives for
# the same directory), so that what they warn of under -Wextra does not
# count: 15's inline functions in ilist.h and bufpage.h have unused
# parameters, and so has every function declared with fmgr.h's
# PG_FUNCTION_ARGS that takes no argument.  The flags judge keymgmt's code,
# not PostgreSQL's.  The bitcode (clang, for the JIT) is built without them.
# Set before PGXS is included, which reads PG_CPPFLAGS; includedir_server is
# expanded afterwards, once PGXS has set it.
ifneq ($(KEYMGMT_WERROR),)
PG_CPPFLAGS = -isystem $(includedir_server) -isystem $(includedir_internal)
COPT += -Wextra -Werror
endif

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# pgTAP suites, run by pg_prove against the database named by PGDATABASE
# (test/run.sh creates one with pgtap and keymgmt installed).
.PHONY: prove
prove:
	pg_prove --failures test/pgtap/*.sql

# Builds with -Wall -Wextra -Werror and runs the quick suites on PostgreSQL
# 13, 15, 17 and 18 (test/matrix.sh; chroots for all but the host's 15).
# VERSIONS="13 18" for some of them.
.PHONY: matrix
matrix:
	bash test/matrix.sh $(VERSIONS)

# The benchmarks against the alternatives (bench/run.sh, then the 1.1
# lifecycle functions, bench/lifecycle.sh, then the change feed and the
# notification modes, bench/feed.sh; not part of the tests).
.PHONY: bench
bench:
	bash bench/run.sh
	bash bench/lifecycle.sh
	bash bench/feed.sh

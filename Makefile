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

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# pgTAP suites, run by pg_prove against the database named by PGDATABASE
# (test/run.sh creates one with pgtap and keymgmt installed).
.PHONY: prove
prove:
	pg_prove --failures test/pgtap/*.sql

# The benchmarks against the alternatives (bench/run.sh, then the 1.1
# lifecycle functions, bench/lifecycle.sh, then the change feed and the
# notification modes, bench/feed.sh; not part of the tests).
.PHONY: bench
bench:
	bash bench/run.sh
	bash bench/lifecycle.sh
	bash bench/feed.sh

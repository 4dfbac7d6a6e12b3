#!/usr/bin/env bash
# Fuzzes the key parser (src/token.c) with libFuzzer, ASan and UBSan for a
# bounded number of runs; fuzz_key.c says what it checks.
#
#   bash test/fuzz/run.sh                   # 2,000,000 runs
#   FUZZ_RUNS=100000 bash test/fuzz/run.sh  # fewer
#   FUZZ_SEED=1234 bash test/fuzz/run.sh    # replay a run's mutations
#
# Builds into a temporary directory, never into the source tree, and fuzzes
# a copy of test/fuzz/corpus there.  Ends with a TAP line and "N runs in S s
# (R/s), 0 crashes", or prints the failure and keeps the crash file with the
# binary (reproduce with ./fuzz_key crash-...) and exits non-zero.  Needs no
# server.  As root on a fresh Debian machine it installs what it needs
# (KEYMGMT_PG, default 15, picks the PostgreSQL headers and libraries).
set -euo pipefail
cd "$(dirname "$0")/../.."

FUZZ_RUNS=${FUZZ_RUNS:-2000000}
KEYMGMT_PG=${KEYMGMT_PG:-15}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$KEYMGMT_PG/bin/pg_config}

# it needs no server and must not build or install the extension
source tools/packages.sh
# the clang this Debian release ships (14 on bookworm; tools/packages.sh)
clang_version=$(keymgmt_clang)
clang_pkgs=$(keymgmt_clang_packages)
# shellcheck disable=SC2206
FUZZ_PACKAGES=($clang_pkgs libssl-dev "postgresql-server-dev-$KEYMGMT_PG")
install_packages fuzz "${FUZZ_PACKAGES[@]}"

dir=$(mktemp -d /tmp/keymgmt-fuzz.XXXXXX)
keep=no
trap '[ $keep = yes ] || rm -rf "$dir"' EXIT

# token.c as it is built for the server, against the frontend libpgcommon
# and libpgport (SHA-256, base64, snprintf, random) and backend_stubs.c
libdir=$("$PG_CONFIG" --pkglibdir)
"clang-$clang_version" -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Wall -Wno-ignored-attributes -D_GNU_SOURCE \
	-I "$("$PG_CONFIG" --includedir-server)" -I src \
	test/fuzz/fuzz_key.c test/fuzz/backend_stubs.c src/token.c \
	"$libdir/libpgcommon.a" "$libdir/libpgport.a" -lssl -lcrypto \
	-o "$dir/fuzz_key"

cp -r test/fuzz/corpus "$dir/corpus"
# the long seeds are made here, so that nothing shaped like a whole key is
# kept in the repository: 43 characters (a generated key's length), the
# longest raw key (252) and one character more
long_seed() {	# length, file
	printf 'sk-%s' "$(head -c 400 /dev/zero | tr '\0' 'a' | head -c "$1" | sed 's/aaaa/Ab_-/g')" > "$dir/corpus/$2"
}
long_seed 43 raw_43
long_seed 252 raw_252
long_seed 253 raw_253_too_long
seed=()
[ -n "${FUZZ_SEED:-}" ] && seed=(-seed="$FUZZ_SEED")

rc=0
start=$(date +%s%N)
(cd "$dir" && ./fuzz_key -runs="$FUZZ_RUNS" -max_len=300 -timeout=10 \
	-artifact_prefix="$dir/" -print_final_stats=1 "${seed[@]}" corpus \
	> fuzz.log 2>&1) || rc=$?
ms=$((($(date +%s%N) - start) / 1000000))

done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$dir/fuzz.log" || true)
crashes=$(find "$dir" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' \
	-o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
if [ "$rc" -ne 0 ] || [ -z "$done_line" ] || [ "$crashes" -ne 0 ]; then
	keep=yes
	tail -60 "$dir/fuzz.log"
	echo "not ok 1 - fuzz_key: a crash or a property violated (exit $rc, $crashes crash files)"
	echo "fuzz: FAILED; binary, log and inputs in $dir"
	exit 1
fi

runs=$(echo "$done_line" | awk '{print $2}')
grep -E '^INFO: Seed:|[[:space:]](INITED|DONE)[[:space:]]' "$dir/fuzz.log" | sed 's/^/# fuzz: /' || true
echo "ok 1 - fuzz_key: $runs runs, 0 crashes"
echo "fuzz: $runs runs in $((ms / 1000)).$(printf %03d $((ms % 1000))) s ($((runs * 1000 / (ms > 0 ? ms : 1)))/s), 0 crashes"

#!/usr/bin/env bash
# install_packages LABEL PACKAGE...: installs from Debian's archive the
# packages that are missing, as root; elsewhere it only names them and
# fails.  Sourced by tools/bootstrap.sh and by the scripts that need
# packages of their own (test/fuzz, test/sqlsmith, bench).
install_packages() {
	local label=$1 missing=() p
	shift
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
			|| missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "$label: missing packages: ${missing[*]} (install them as root)" >&2
		exit 1
	fi
	echo "$label: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# keymgmt_clang: the major version of clang this Debian release ships as
# `clang` (11 on bullseye, 14 on bookworm, 19 on trixie), which the fuzzer
# build uses; KEYMGMT_CLANG overrides it.  Read from the archive's `clang`
# meta package (apt-get update first when the package lists are empty),
# else from the clang on PATH.
keymgmt_clang() {
	local v=${KEYMGMT_CLANG:-}
	[ -n "$v" ] || v=$(keymgmt_clang_from_archive)
	if [ -z "$v" ] && [ "$(id -u)" -eq 0 ]; then
		apt-get update -qq >/dev/null 2>&1 || true
		v=$(keymgmt_clang_from_archive)
	fi
	[ -n "$v" ] || v=$(clang --version 2>/dev/null |
		awk 'match($0, /clang version [0-9]+/) && !v { v = substr($0, RSTART + 14, RLENGTH - 14) } END { print v }')
	if [ -z "$v" ]; then
		echo "keymgmt_clang: cannot tell which clang this release ships (set KEYMGMT_CLANG)" >&2
		return 1
	fi
	echo "$v"
}
keymgmt_clang_from_archive() {
	apt-cache depends clang 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^clang-[0-9]+$/ && !v { v = substr($2, 7) } END { print v }' || true
}

# keymgmt_clang_packages: clang and its sanitizer and libFuzzer runtimes,
# which are libclang-rt-N-dev from LLVM 14 on and part of
# libclang-common-N-dev before (bullseye's 11)
keymgmt_clang_packages() {
	local v
	v=$(keymgmt_clang) || return 1
	if apt-cache show "libclang-rt-$v-dev" >/dev/null 2>&1; then
		echo "clang-$v libclang-rt-$v-dev"
	else
		echo "clang-$v libclang-common-$v-dev"
	fi
}

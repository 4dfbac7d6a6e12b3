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

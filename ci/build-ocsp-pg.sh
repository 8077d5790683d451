#!/usr/bin/env bash
# Build PostgreSQL 18.6 with pgtls's OCSP stapling patch, and the image pgtls/postgres:18-ocsp.
#
#   ci/build-ocsp-pg.sh [--force] [--no-image] [--tap] [-j N]
#   ci/build-ocsp-pg.sh --print-bindir
#
# 1. Source: the upstream tarball of Debian sid's postgresql-18 source package (18.6),
#    fetched with `apt-get source --download-only` through a private apt configuration
#    (one deb-src line for sid, with the Signed-By keyring of this machine's Debian
#    entry; the system's apt sources are left alone), checked against the .dsc's sha256
#    and cached in $PGTLS_OCSP_BUILD_DIR/src/.
# 2. Patch: ci/patches/ocsp-stapling/0001-ocsp-stapling.patch, applied with patch -p1
#    (the build stops if it does not apply cleanly).
# 3. Build: configure --with-openssl --enable-tap-tests --without-icu, prefix
#    /usr/lib/postgresql/18 (Debian's layout), binaries linked with
#    RUNPATH=$ORIGIN/../lib, so that the tree is relocatable: it is installed as
#    $PGTLS_OCSP_BUILD_DIR/<key>/{bin,lib,share,include} (and $PGTLS_OCSP_BUILD_DIR/current ->
#    <key>), where <key> is a hash of the patch, this script and the source version.
#    The tree is world-readable, for servers run as an unprivileged user.
# 4. Image: pgtls/postgres:18-ocsp, built the way ci/build-images.sh builds its images
#    (no registry: mmdebstrap minbase + `docker load` of a hand-written image config,
#    entrypoint ci/images/docker-entrypoint.sh, postgres uid 999 in group ssl-cert,
#    STOPSIGNAL SIGINT, no VOLUME), with two layers: a Debian bookworm root filesystem
#    with the install's runtime libraries (cached as a tarball in $PGTLS_OCSP_BUILD_DIR/, keyed
#    by its own recipe), and the install at /usr/lib/postgresql/18.
#
# Each step runs only when its result is missing or its recipe changed; a run with
# nothing to do prints "up to date" twice and takes a fraction of a second.
#
# Options:
#   --force         rebuild the install and the image even if they are up to date
#   --no-image      do not build the image (it is skipped anyway when no Docker engine answers)
#   --tap           also run upstream's src/test/ssl TAP suite in the build tree, as
#                   PGTLS_SERVER_USER (default postgres); forces a build
#   -j N            parallel compile jobs (default 2, or PGTLS_BUILD_JOBS)
#   --print-bindir  print the bin directory of the current recipe's install and exit
#                   (exit status 1 when it is not built)
#
# Environment: PGTLS_DEBIAN_MIRROR, PGTLS_DEBIAN_SECURITY_MIRROR (default: this machine's
# apt sources), PGTLS_BUILD_TMPDIR (default /dev/shm when it has 3 GiB free),
# PGTLS_OCSP_IMAGE (default pgtls/postgres:18-ocsp), PGTLS_SERVER_USER, PGTLS_OCSP_BUILD_DIR
# (default /var/cache/pgtls/pg-ocsp).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
self="$here/$(basename "${BASH_SOURCE[0]}")"
patch_file="$here/patches/ocsp-stapling/0001-ocsp-stapling.patch"
entrypoint="$here/images/docker-entrypoint.sh"
# Outside the checkout, so a clean checkout on the same machine (CI) reuses it; readable by the
# server user, which root's home is not.
out="${PGTLS_OCSP_BUILD_DIR:-/var/cache/pgtls/pg-ocsp}"
image="${PGTLS_OCSP_IMAGE:-pgtls/postgres:18-ocsp}"
jobs="${PGTLS_BUILD_JOBS:-2}"
server_user="${PGTLS_SERVER_USER:-postgres}"

# The source: upstream version, Debian source package, suite it comes from.
pg_version=18.6
pg_major=18
src_package=postgresql-18
src_suite=sid
# The image's Debian suite: the one this script is meant to build on (bookworm), so that
# the binaries find a glibc and an OpenSSL at least as new as those they were built with.
image_suite=bookworm
image_packages=libssl3,libreadline8,zlib1g,ssl-cert
# Where the install lives in the image (Debian's layout); also the configured prefix.
image_prefix=/usr/lib/postgresql/$pg_major
configure_args=(--prefix="$image_prefix" --with-openssl --enable-tap-tests --without-icu)
build_deps=(build-essential libssl-dev libreadline-dev zlib1g-dev bison flex perl
	libipc-run-perl libio-pty-perl pkg-config dpkg-dev patch bzip2)

die() { printf 'build-ocsp-pg: error: %s\n' "$*" >&2; exit 1; }
note() { printf 'build-ocsp-pg: %s\n' "$*" >&2; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$self"; }

force=0 with_image=1 tap=0 print_bindir=0
while [ $# -gt 0 ]; do
	case "$1" in
		--force) force=1 ;;
		--no-image) with_image=0 ;;
		--tap) tap=1 ;;
		--print-bindir) print_bindir=1 ;;
		-j) [ $# -ge 2 ] || die "-j needs a number"; jobs="$2"; shift ;;
		-j*) jobs="${1#-j}" ;;
		-h|--help) usage; exit 0 ;;
		*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "-j wants a positive number, got '$jobs'"
[ -r "$patch_file" ] || die "missing $patch_file"

sha() { sha256sum | cut -d' ' -f1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }

# The install's key: what the compiled tree depends on (the source, the patch, and this
# script up to its image section, which has a recipe of its own).
key="$({
	printf 'pg=%s package=%s suite=%s\n' "$pg_version" "$src_package" "$src_suite"
	cat "$patch_file"
	sed '/^# -* image$/q' "$self"
} | sha | cut -c1-12)"
prefix="$out/$key"
bindir="$prefix/bin"

if [ "$print_bindir" = 1 ]; then
	[ -f "$prefix/.complete" ] || die "not built yet: run ci/build-ocsp-pg.sh (as root)"
	printf '%s\n' "$bindir"
	exit 0
fi

# ---------------------------------------------------------------- source and build
# Keyring and mirror of this machine's Debian entry (comment lines skipped).
detect_mirror() { # $1 = debian | debian-security
	{ grep -hvE '^[[:space:]]*#' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources 2>/dev/null || true; } \
		| grep -oE "https?://[^[:space:]]+/$1/?([[:space:]]|\$)" | head -n1 \
		| sed -E 's:[[:space:]]+$::; s:/$::' || true
}
detect_keyring() {
	local k
	k="$({ grep -hvE '^[[:space:]]*#' /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } \
		| awk '/^[[:space:]]*$/ { uri = 0; kr = "" }
			/^URIs:.*\/debian\/?([[:space:]]|$)/ { uri = 1 }
			/^Signed-By:/ { kr = $2 }
			uri && kr != "" { print kr; exit }')"
	[ -n "$k" ] || k="$({ grep -hvE '^[[:space:]]*#' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } \
		| grep -oE 'signed-by=[^] ]+' | head -n1 | cut -d= -f2)"
	printf '%s\n' "${k:-/usr/share/keyrings/debian-archive-keyring.gpg}"
}
deb="${PGTLS_DEBIAN_MIRROR:-$(detect_mirror debian)}"
debsec="${PGTLS_DEBIAN_SECURITY_MIRROR:-$(detect_mirror debian-security)}"
: "${deb:=http://deb.debian.org/debian}"
: "${debsec:=${deb%/debian}/debian-security}"

tmp="${PGTLS_BUILD_TMPDIR:-}"
if [ -z "$tmp" ]; then
	tmp="$out"
	if [ -d /dev/shm ] && [ -w /dev/shm ] \
		&& [ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -gt $((3 * 1024 * 1024)) ]; then
		tmp=/dev/shm
	fi
fi

work=""
cleanup() { [ -z "$work" ] || rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_build_deps() {
	local missing=() p
	for p in "${build_deps[@]}"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	[ "$(id -u)" = 0 ] || die "missing build dependencies (${missing[*]}); run as root to install them"
	note "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
		|| die "apt-get install ${missing[*]} failed"
}

# Prints the path of the verified upstream tarball, fetching it when needed.
fetch_source() {
	local src="$out/src" apt="$out/src/apt" dsc orig want got
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
	orig="$(ls "$src"/"${src_package}_$pg_version".orig.tar.* 2>/dev/null | head -n1 || true)"
	dsc="$(ls "$src"/"${src_package}_$pg_version"-*.dsc 2>/dev/null | head -n1 || true)"
	if [ -z "$orig" ] || [ -z "$dsc" ]; then
		printf 'deb-src [signed-by=%s] %s %s main\n' "$(detect_keyring)" "$deb" "$src_suite" >"$apt/sources.list"
		local -a aptopts=(-o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
			-o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache"
			-o Acquire::Check-Valid-Until=false -o Acquire::Retries=3 -o APT::Sandbox::User=root)
		apt-get "${aptopts[@]}" -qq update >&2 || die "apt-get update of $src_suite's sources failed"
		rm -f "$src"/*.dsc "$src"/*.orig.tar.* "$src"/*.debian.tar.*
		(cd "$src" && apt-get "${aptopts[@]}" -qq source --download-only "$src_package" >&2) \
			|| die "apt-get source --download-only $src_package failed"
		orig="$(ls "$src"/"${src_package}_$pg_version".orig.tar.* 2>/dev/null | head -n1 || true)"
		dsc="$(ls "$src"/"${src_package}_$pg_version"-*.dsc 2>/dev/null | head -n1 || true)"
		if [ -z "$orig" ] || [ -z "$dsc" ]; then
			die "$src_suite's $src_package is not $pg_version any more ($(ls "$src" | grep -v '^apt$' | tr '\n' ' ')): update pg_version in $self and check that the patch applies"
		fi
	fi
	want="$(awk -v f="$(basename "$orig")" '/^Checksums-Sha256:/ { s = 1; next } /^[^ ]/ { s = 0 } s && $3 == f { print $1 }' "$dsc")"
	got="$(sha <"$orig")"
	[ -n "$want" ] && [ "$want" = "$got" ] || die "$orig does not match the sha256 in $dsc (remove $src and retry)"
	printf '%s\n' "$orig"
}

build_install() {
	local t0 t1 t2 t3 t4 t5 orig tree stage log="$out/build.log"
	ensure_build_deps
	mkdir -p "$out"
	: >"$log"
	t0="$(now)"
	orig="$(fetch_source)"
	t1="$(now)"
	work="$(mktemp -d "$tmp/pgtls-ocsp-pg.XXXXXX")"
	tar -C "$work" -xf "$orig"
	tree="$work/postgresql-$pg_version"
	[ -d "$tree" ] || die "$orig has no postgresql-$pg_version/"
	if ! (cd "$tree" && patch -p1 --dry-run --batch --forward --fuzz=0 <"$patch_file" >>"$log" 2>&1); then
		tail -n 20 "$log" >&2
		die "$patch_file does not apply to $pg_version"
	fi
	(cd "$tree" && patch -p1 --batch --forward --fuzz=0 --quiet <"$patch_file")
	t2="$(now)"
	note "source ${orig#"$here/"} unpacked and patched in $(secs "$t0" "$t2") s; configuring (log: ${log#"$here/"})"
	(cd "$tree" && ./configure "${configure_args[@]}" >>"$log" 2>&1) || { tail -n 20 "$log" >&2; die "configure failed"; }
	t3="$(now)"
	note "compiling with -j$jobs"
	# rpath: $ORIGIN, single-quoted by Makefile.global ('$(rpathdir)'), so that the shell
	# passes it through to the linker (RUNPATH, --enable-new-dtags).
	(cd "$tree" && make -s -j"$jobs" rpathdir='$$ORIGIN/../lib' >>"$log" 2>&1) \
		|| { tail -n 30 "$log" >&2; die "make failed"; }
	t4="$(now)"
	stage="$work/stage"
	(cd "$tree" && make -s install DESTDIR="$stage" rpathdir='$$ORIGIN/../lib' >>"$log" 2>&1) \
		|| { tail -n 20 "$log" >&2; die "make install failed"; }
	[ -x "$stage$image_prefix/bin/postgres" ] || die "make install produced no $image_prefix/bin/postgres"
	rm -rf "$prefix" "$prefix.tmp"
	mkdir -p "$prefix.tmp"
	# cp, not mv: the stage may be on another file system (tmpfs)
	cp -a "$stage$image_prefix"/. "$prefix.tmp"/
	chmod -R a+rX "$prefix.tmp"
	check_relocated "$prefix.tmp"
	printf 'version=%s\nkey=%s\nsource=%s\nbuilt=%s\n' "$pg_version" "$key" "$(basename "$orig")" \
		"$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$prefix.tmp/.complete"
	mv "$prefix.tmp" "$prefix"
	ln -sfn "$key" "$out/current"
	t5="$(now)"
	note "built in $(secs "$t0" "$t5") s (fetch $(secs "$t0" "$t1") s, unpack+patch $(secs "$t1" "$t2") s, configure $(secs "$t2" "$t3") s, compile $(secs "$t3" "$t4") s, install $(secs "$t4" "$t5") s)"
	if [ "$tap" = 1 ]; then
		run_tap "$tree"
	fi
	rm -rf "$work"
	work=""
	# older builds of other recipes
	local d
	for d in "$out"/*/; do
		d="${d%/}"
		[ ! -L "$d" ] || continue # current
		case "$(basename "$d")" in src|"$key") continue ;; esac
		[ -f "$d/.complete" ] || [ -d "$d/bin" ] || continue
		rm -rf "$d"
	done
}

# The tree runs from wherever it is: psql and postgres find their libraries and share dir.
check_relocated() { # $1 = install tree
	local bad
	bad="$(ldd "$1/bin/psql" "$1/bin/postgres" | awk '/not found/ || /libpq/ && $3 !~ /^\// ' || true)"
	[ -z "$bad" ] || die "unresolved libraries in the relocated tree: $bad"
	ldd "$1/bin/psql" | grep -q "=> $1/bin/../lib/libpq.so.5" \
		|| die "psql does not use the tree's own libpq: $(ldd "$1/bin/psql" | grep libpq)"
	"$1/bin/psql" --version >/dev/null || die "$1/bin/psql does not run"
	[ "$("$1/bin/pg_config" --sharedir)" = "$1/share" ] || die "pg_config --sharedir is not $1/share"
}

# Upstream's SSL TAP suite, in the build tree, as an unprivileged user.
run_tap() { # $1 = build tree
	local t0 t1 rc=0 log="$out/tap-ssl.log"
	id "$server_user" >/dev/null 2>&1 || die "no user $server_user to run the TAP suite as (PGTLS_SERVER_USER)"
	chown -R "$server_user" "$1"
	chmod a+rx "$work"
	note "running src/test/ssl's TAP suite as $server_user (log: ${log#"$here/"})"
	t0="$(now)"
	runuser -u "$server_user" -- env PG_TEST_EXTRA=ssl make -C "$1/src/test/ssl" check rpathdir='$$ORIGIN/../lib' \
		>"$log" 2>&1 || rc=$?
	t1="$(now)"
	grep -E '^(t/|All tests|Files=|Result:)' "$log" >&2 || true
	[ "$rc" = 0 ] || die "the TAP suite failed after $(secs "$t0" "$t1") s (exit $rc); see $log"
	note "TAP suite passed in $(secs "$t0" "$t1") s"
}

t_start="$(now)"
if [ "$force" = 0 ] && [ "$tap" = 0 ] && [ -f "$prefix/.complete" ]; then
	ln -sfn "$key" "$out/current" 2>/dev/null || true
	echo "PostgreSQL $pg_version with OCSP stapling up to date: $bindir"
else
	[ "$(id -u)" = 0 ] || die "run as root (apt-get and mmdebstrap need it)"
	build_install
	echo "PostgreSQL $pg_version with OCSP stapling built in $(secs "$t_start" "$(now)") s: $bindir"
fi

# ---------------------------------------------------------------- image
if [ "$with_image" = 0 ]; then
	exit 0
fi
if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
	note "no Docker engine answers: $image not built"
	exit 0
fi

# The base layer: Debian minbase with the install's runtime libraries, the postgres user
# (uid/gid 999, group ssl-cert, as in ci/build-images.sh's images) and the entrypoint.
base_sources() {
	echo "deb $deb $image_suite main"
	echo "deb $deb $image_suite-updates main"
	echo "deb $debsec $image_suite-security main"
}
base_recipe="$({
	printf 'suite=%s include=%s\n' "$image_suite" "$image_packages"
	base_sources | sed "s#$deb#@DEB@#; s#$debsec#@DEBSEC@#"
	cat "$entrypoint"
	sed -n '/^# -* image$/,$p' "$self"
} | sha | cut -c1-12)"
recipe="$(printf '%s %s\n' "$key" "$base_recipe" | sha)"
image_recipe() { docker image inspect -f '{{ index .Config.Labels "pgtls.recipe" }}' "$1" 2>/dev/null || true; }

if [ "$force" = 0 ] && [ "$(image_recipe "$image")" = "$recipe" ]; then
	echo "$image up to date"
	exit 0
fi
[ "$(id -u)" = 0 ] || die "run as root to build $image (mmdebstrap)"
command -v mmdebstrap >/dev/null || {
	note "installing mmdebstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null || die "apt-get install mmdebstrap failed"
}

# Same path filters as ci/build-images.sh: no docs, man pages, translations, locales.
dpkg_filters=(
	'path-exclude=/usr/share/doc/*'
	'path-include=/usr/share/doc/*/copyright'
	'path-exclude=/usr/share/man/*'
	'path-exclude=/usr/share/info/*'
	'path-exclude=/usr/share/lintian/*'
	'path-exclude=/usr/share/locale/*'
	'path-exclude=/usr/share/i18n/*'
	'path-include=/usr/share/i18n/SUPPORTED'
)
essential_hook=$(cat <<'EOF'
set -e
grep -q '^postgres:' "$1/etc/group" || echo 'postgres:x:999:' >>"$1/etc/group"
grep -q '^postgres:' "$1/etc/passwd" \
	|| echo 'postgres:x:999:999:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash' >>"$1/etc/passwd"
EOF
)
customize_hook=$(cat <<'EOF'
set -e
root="$1"
chroot "$root" usermod -a -G ssl-cert postgres
install -m 0755 "$PGTLS_ENTRYPOINT" "$root/usr/local/bin/docker-entrypoint.sh"
ln -sfn usr/local/bin/docker-entrypoint.sh "$root/docker-entrypoint.sh"
mkdir -p "$root/docker-entrypoint-initdb.d" "$root/etc/pgtls"
find "$root/run" -mindepth 1 -maxdepth 1 ! -name lock -exec rm -rf {} +
mkdir -p "$root/var/lib/postgresql/data" "$root/run/postgresql"
chroot "$root" chown postgres:postgres /var/lib/postgresql /var/lib/postgresql/data /run/postgresql
chmod 1777 "$root/var/lib/postgresql/data"
chmod 3777 "$root/run/postgresql"
chroot "$root" sh -c 'command -v bash && command -v setpriv && command -v find' >/dev/null
[ "$(chroot "$root" id -u postgres):$(chroot "$root" id -g postgres)" = 999:999 ]
chroot "$root" id -nG postgres | grep -qw ssl-cert
find "$root/var/cache/apt" "$root/var/lib/apt/lists" -type f ! -name lock -delete
rm -rf "$root"/var/log/apt/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old \
	"$root"/var/lib/dpkg/*-old "$root"/tmp/* 2>/dev/null || true
EOF
)

json_str() { local v="${1//\\/\\\\}"; printf '"%s"' "${v//\"/\\\"}"; }

t0="$(now)"
base_tar="$out/rootfs-$image_suite-$base_recipe.tar"
if [ ! -s "$base_tar" ] || [ ! -s "$base_tar.sha256" ]; then
	note "building the $image_suite base layer (mmdebstrap; log: ${out#"$here/"}/rootfs.log)"
	rm -f "$out"/rootfs-*.tar "$out"/rootfs-*.tar.sha256
	dpkgopts=(--dpkgopt=force-unsafe-io)
	for f in "${dpkg_filters[@]}"; do dpkgopts+=(--dpkgopt="$f"); done
	mapfile -t sources < <(base_sources)
	if ! PGTLS_ENTRYPOINT="$entrypoint" TMPDIR="$tmp" mmdebstrap --variant=minbase --format=tar \
		--aptopt='Acquire::Check-Valid-Until "false"' --aptopt='Acquire::Retries "3"' \
		--include="$image_packages" "${dpkgopts[@]}" --skip=cleanup/run \
		--essential-hook="$essential_hook" --customize-hook="$customize_hook" \
		"$image_suite" "$base_tar.tmp" "${sources[@]}" >"$out/rootfs.log" 2>&1; then
		rm -f "$base_tar.tmp"
		tail -n 25 "$out/rootfs.log" >&2
		die "mmdebstrap failed"
	fi
	sha <"$base_tar.tmp" >"$base_tar.sha256"
	mv "$base_tar.tmp" "$base_tar"
fi
t1="$(now)"

# The install layer; the sample configuration listens on all addresses, like the
# official image's.
work="$(mktemp -d "$tmp/pgtls-ocsp-image.XXXXXX")"
mkdir -p "$work/layer$(dirname "$image_prefix")"
cp -a "$prefix" "$work/layer$image_prefix"
rm -f "$work/layer$image_prefix/.complete"
sample="$work/layer$image_prefix/share/postgresql.conf.sample"
sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "$sample"
grep -q "^listen_addresses = '\*'" "$sample" || die "could not set listen_addresses in $sample"
tar -C "$work/layer" --owner=0 --group=0 --numeric-owner --sort=name -cf "$work/pg.tar" usr

created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
base_id="sha256:$(cat "$base_tar.sha256")"
pg_id="sha256:$(sha <"$work/pg.tar")"
{
	printf '{"architecture":"amd64","os":"linux","created":"%s",' "$created"
	printf '"config":{'
	printf '"Env":[%s,%s,%s,%s,%s],' \
		"$(json_str "PATH=$image_prefix/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")" \
		"$(json_str "PG_MAJOR=$pg_major")" "$(json_str "PG_VERSION=$pg_version")" \
		"$(json_str "PGDATA=/var/lib/postgresql/data")" "$(json_str "LANG=C.UTF-8")"
	printf '"Entrypoint":["docker-entrypoint.sh"],"Cmd":["postgres"],'
	printf '"ExposedPorts":{"5432/tcp":{}},"StopSignal":"SIGINT",'
	printf '"Labels":{"pgtls.recipe":%s,"pgtls.pg-major":%s,"pgtls.pg-version":%s,"pgtls.debian-suite":%s,"pgtls.patch":%s,' \
		"$(json_str "$recipe")" "$(json_str "$pg_major")" "$(json_str "$pg_version")" \
		"$(json_str "$image_suite")" "$(json_str "ocsp-stapling $key")"
	printf '"org.opencontainers.image.title":"pgtls/postgres","org.opencontainers.image.version":%s,' \
		"$(json_str "$pg_version-ocsp")"
	printf '"org.opencontainers.image.description":%s}},' \
		"$(json_str "PostgreSQL $pg_version with the OCSP stapling patch (ci/patches/ocsp-stapling), on Debian $image_suite minbase, for the pgtls TLS conformance harness")"
	printf '"rootfs":{"type":"layers","diff_ids":["%s","%s"]},' "$base_id" "$pg_id"
	printf '"history":[{"created":"%s","created_by":%s},{"created":"%s","created_by":%s}]}' \
		"$created" "$(json_str "pgtls ci/build-ocsp-pg.sh: mmdebstrap --variant=minbase $image_suite + $image_packages")" \
		"$created" "$(json_str "pgtls ci/build-ocsp-pg.sh: PostgreSQL $pg_version + ocsp-stapling patch at $image_prefix")"
} >"$work/config.json"
printf '[{"Config":"config.json","RepoTags":["%s"],"Layers":["base.tar","pg.tar"]}]' "$image" >"$work/manifest.json"
ln -s "$base_tar" "$work/base.tar"
old="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
tar -C "$work" -chf - manifest.json config.json base.tar pg.tar | docker load -q >/dev/null
rm -rf "$work"
work=""
if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$image")" ]; then
	docker rmi "$old" >/dev/null 2>&1 || true
fi
[ "$(image_recipe "$image")" = "$recipe" ] || die "docker load did not produce the expected $image"
version="$(docker run --rm --entrypoint postgres "$image" --version)"
[ "$version" = "postgres (PostgreSQL) $pg_version" ] || die "$image runs '$version'"
t2="$(now)"
size="$(docker image inspect -f '{{.Size}}' "$image")"
echo "$image built in $(secs "$t0" "$t2") s ($(( (size + 524288) / 1048576 )) MiB; base layer $(secs "$t0" "$t1") s, install layer and docker load $(secs "$t1" "$t2") s)"

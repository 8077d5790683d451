#!/usr/bin/env bash
# Build the offline PostgreSQL images pgtls/postgres:NN from the Debian archive.
#
#   ci/build-images.sh [--force] [--with-19] [-j N] [--keep-tar] [MAJOR...]
#
# MAJORs: 13 (bullseye) 15 (bookworm) 17 (trixie) 18 (sid), default all four;
# 19 (experimental, on sid) is added by --with-19 or when named. --keep-tar keeps
# the root filesystem tarball in ci/build/.
#
# No registry is needed: each image is an mmdebstrap --variant=minbase root
# filesystem (Debian's own postgresql-NN package) made into a one-layer image
# by `docker load` of a hand-written image config (docker 20.10's
# `docker import --change` cannot set STOPSIGNAL). The images follow the
# official postgres image's interface (ci/images/docker-entrypoint.sh,
# POSTGRES_* variables, PGDATA, port 5432) but declare no VOLUME, so
# initialised containers can be `docker commit`ed with their data.
#
# An image is rebuilt only when it is missing or its recipe changed: the label
# pgtls.recipe holds the sha256 of this script, the entrypoint and the
# per-major parameters. --force rebuilds anyway.
#
# Environment:
#   PGTLS_IMAGE_REPO          image repository (default pgtls/postgres)
#   PGTLS_BUILD_JOBS          parallel builds (default 2; same as -j)
#   PGTLS_DEBIAN_MIRROR       .../debian URL (default: taken from /etc/apt/sources.list*)
#   PGTLS_DEBIAN_SECURITY_MIRROR  .../debian-security URL (likewise)
#   PGTLS_BUILD_TMPDIR        where mmdebstrap works (default /dev/shm if it
#                             has 3 GiB free, else ci/build)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
self="$here/$(basename "${BASH_SOURCE[0]}")"
entrypoint="$here/images/docker-entrypoint.sh"
build_dir="$here/build"
repo="${PGTLS_IMAGE_REPO:-pgtls/postgres}"
jobs="${PGTLS_BUILD_JOBS:-2}"
default_majors=(13 15 17 18)

die() { printf 'build-images: error: %s\n' "$*" >&2; exit 1; }
note() { printf 'build-images: %s\n' "$*" >&2; }

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$self"
}

force=0 with19=0 keep_tar=0 majors=()
while [ $# -gt 0 ]; do
	case "$1" in
		--force) force=1 ;;
		--with-19) with19=1 ;;
		--keep-tar) keep_tar=1 ;;
		-j) [ $# -ge 2 ] || die "-j needs a number"; jobs="$2"; shift ;;
		-j*) jobs="${1#-j}" ;;
		-h|--help) usage; exit 0 ;;
		13|15|17|18|19) [[ " ${majors[*]} " == *" $1 "* ]] || majors+=("$1") ;;
		*) die "unknown argument '$1' (majors: 13 15 17 18 19; see --help)" ;;
	esac
	shift
done
[ ${#majors[@]} -gt 0 ] || majors=("${default_majors[@]}")
if [ "$with19" = 1 ] && [[ " ${majors[*]} " != *" 19 "* ]]; then
	majors+=(19)
fi
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "-j wants a positive number, got '$jobs'"

# ---------------------------------------------------------------- preflight
[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap builds in root mode here)"
[ -r "$entrypoint" ] || die "missing $entrypoint"
command -v docker >/dev/null || die "the docker CLI is not installed"
if ! docker_err="$(docker version --format '{{.Server.Version}}' 2>&1 >/dev/null)" \
	|| ! docker info >/dev/null 2>&1; then
	die "cannot reach the Docker daemon (DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}): ${docker_err:-docker info failed}"
fi
if ! command -v mmdebstrap >/dev/null; then
	note "installing mmdebstrap (apt-get update + install)"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
		|| die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null \
		|| die "apt-get install mmdebstrap failed"
fi

# The Debian mirror this machine's apt uses (comment lines skipped: the
# sources may carry a commented-out snapshot URL).
detect_mirror() { # $1 = debian | debian-security
	{ grep -hvE '^[[:space:]]*#' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources 2>/dev/null || true; } \
		| grep -oE "https?://[^[:space:]]+/$1/?([[:space:]]|\$)" | head -n1 \
		| sed -E 's:[[:space:]]+$::; s:/$::' || true
}
deb="${PGTLS_DEBIAN_MIRROR:-$(detect_mirror debian)}"
debsec="${PGTLS_DEBIAN_SECURITY_MIRROR:-$(detect_mirror debian-security)}"
: "${deb:=http://deb.debian.org/debian}"
: "${debsec:=${deb%/debian}/debian-security}"

mkdir -p "$build_dir"
# Where mmdebstrap builds the root filesystems (~600 MiB each at peak).
tmp="${PGTLS_BUILD_TMPDIR:-}"
if [ -z "$tmp" ]; then
	tmp="$build_dir"
	if [ -d /dev/shm ] && [ -w /dev/shm ] \
		&& [ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -gt $((3 * 1024 * 1024)) ]; then
		tmp=/dev/shm
	fi
fi

# ---------------------------------------------------------------- recipe
# Per-major parameters: suite, packages, apt sources. The mirror URL is not
# part of the recipe (same archive content either way).
suite_of() {
	case "$1" in
		13) echo bullseye ;; 15) echo bookworm ;; 17) echo trixie ;;
		18|19) echo sid ;;
	esac
}
# On sid, postgresql-common depends on "systemd | systemd-standalone-tmpfiles
# | ...": naming the standalone tmpfiles keeps full systemd (~20 MB) out.
include_of() {
	case "$1" in
		18) echo 'postgresql-18,systemd-standalone-tmpfiles' ;;
		19) echo 'postgresql-19/experimental,postgresql-client-19/experimental,libpq5/experimental,systemd-standalone-tmpfiles' ;;
		*) echo "postgresql-$1" ;;
	esac
}
sources_of() { # one source line per output line, with @DEB@/@DEBSEC@ placeholders
	local s; s="$(suite_of "$1")"
	case "$1" in
		18) echo "deb @DEB@ sid main" ;;
		19) echo "deb @DEB@ sid main"; echo "deb @DEB@ experimental main" ;;
		*) echo "deb @DEB@ $s main"; echo "deb @DEB@ $s-updates main"; echo "deb @DEBSEC@ $s-security main" ;;
	esac
}
recipe_of() {
	{
		cat "$self" "$entrypoint"
		printf 'major=%s suite=%s include=%s\n' "$1" "$(suite_of "$1")" "$(include_of "$1")"
		sources_of "$1"
	} | sha256sum | cut -d' ' -f1
}

# Files left out of the root filesystem (dpkg path filters): documentation,
# man/info pages, message translations, locale sources (C.UTF-8 is built into
# libc), and the LLVM JIT (PostgreSQL silently runs without JIT when llvmjit.so
# is missing). The two man pages kept are the masters of the
# update-alternatives groups that postgresql's maintainer scripts register.
dpkg_filters=(
	'path-exclude=/usr/share/doc/*'
	'path-include=/usr/share/doc/*/copyright'
	'path-exclude=/usr/share/man/*'
	'path-exclude=/usr/share/info/*'
	'path-exclude=/usr/share/lintian/*'
	'path-exclude=/usr/share/locale/*'
	'path-exclude=/usr/share/i18n/*'
	'path-include=/usr/share/i18n/SUPPORTED'
	'path-exclude=/usr/share/postgresql/*/man/*'
	'path-include=/usr/share/postgresql/*/man/man1/psql.1.gz'
	'path-include=/usr/share/postgresql/*/man/man1/postmaster.1.gz'
	'path-exclude=/usr/lib/postgresql/*/lib/llvmjit*'
	'path-exclude=/usr/lib/postgresql/*/lib/bitcode/*'
	'path-exclude=/usr/lib/x86_64-linux-gnu/libLLVM*'
	'path-exclude=/usr/lib/llvm-*'
	'path-exclude=/usr/lib/x86_64-linux-gnu/libz3.so*'
)

# Runs after the Essential packages, before postgresql is installed:
# the postgres user gets uid/gid 999 like in the official image (adduser in
# postgresql-common's postinst then keeps it; passwd's postinst adds the
# shadow entries), and no "main" cluster is created.
essential_hook=$(cat <<'EOF'
set -e
grep -q '^postgres:' "$1/etc/group" || echo 'postgres:x:999:' >>"$1/etc/group"
grep -q '^postgres:' "$1/etc/passwd" \
	|| echo 'postgres:x:999:999:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash' >>"$1/etc/passwd"
mkdir -p "$1/etc/postgresql-common"
echo 'create_main_cluster = false' >"$1/etc/postgresql-common/createcluster.conf"
EOF
)

# Runs on the finished root filesystem (before mmdebstrap's own cleanup).
customize_hook=$(cat <<'EOF'
set -e
NN="$PGTLS_MAJOR"
root="$1"
# No cluster may exist (createcluster.conf above should have prevented one).
if [ -n "$(ls -A "$root/etc/postgresql" 2>/dev/null)" ]; then
	chroot "$root" pg_dropcluster "$NN" main
fi
install -m 0755 "$PGTLS_ENTRYPOINT" "$root/usr/local/bin/docker-entrypoint.sh"
ln -sfn usr/local/bin/docker-entrypoint.sh "$root/docker-entrypoint.sh"
mkdir -p "$root/docker-entrypoint-initdb.d"
# where the harness installs its server key (install -o postgres ... /etc/pgtls/server.key)
mkdir -p "$root/etc/pgtls"
# like the official image: PGDATA and the socket dir exist, owned by postgres
# (mmdebstrap's own /run cleanup is skipped: it would delete /run/postgresql)
find "$root/run" -mindepth 1 -maxdepth 1 ! -name lock ! -name postgresql -exec rm -rf {} +
mkdir -p "$root/var/lib/postgresql/data" "$root/run/postgresql"
chroot "$root" chown postgres:postgres /var/lib/postgresql /var/lib/postgresql/data /run/postgresql
chmod 1777 "$root/var/lib/postgresql/data"
chmod 3777 "$root/run/postgresql"
# listen on all addresses by default, like the official image
sample="$root/usr/share/postgresql/$NN/postgresql.conf.sample"
sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "$sample"
grep -q "^listen_addresses = '\*'" "$sample"
ln -sfn "$NN/postgresql.conf.sample" "$root/usr/share/postgresql/postgresql.conf.sample"
# sanity checks: what the entrypoint needs
chroot "$root" sh -c 'command -v bash && command -v setpriv && command -v find' >/dev/null
chroot "$root" "/usr/lib/postgresql/$NN/bin/postgres" --version
chroot "$root" id postgres
chroot "$root" dpkg-query -W -f='${Version}' "postgresql-$NN" >"$PGTLS_VERSION_FILE"
# leftovers; the package lists and .debs too: mmdebstrap's own apt cleanup
# leaves them in place on this host (it is run with the host's apt config)
find "$root/var/cache/apt" "$root/var/lib/apt/lists" -type f ! -name lock -delete
rm -rf "$root"/var/log/apt/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old \
	"$root"/var/lib/dpkg/*-old "$root"/var/log/postgresql/* "$root"/tmp/* 2>/dev/null || true
EOF
)

# ---------------------------------------------------------------- build one
now() { date +%s.%N; }
mib() { awk -v b="$1" 'BEGIN { printf "%d", b / 1048576 + 0.5 }'; }

json_str() { # minimal JSON string quoting (the values here are plain ASCII)
	local v="${1//\\/\\\\}"
	printf '"%s"' "${v//\"/\\\"}"
}

build_one() { # $1 = major; stdout/stderr go to the log file
	local nn="$1" suite include recipe verfile version t0 t1 t2 work diff_id created old
	suite="$(suite_of "$nn")"; include="$(include_of "$nn")"; recipe="$(recipe_of "$nn")"
	local suite_label="$suite"
	[ "$nn" != 19 ] || suite_label="sid+experimental"
	verfile="$build_dir/pg$nn.version"
	local -a sources=()
	mapfile -t sources < <(sources_of "$nn" | sed "s#@DEB@#$deb#; s#@DEBSEC@#$debsec#")
	local -a dpkgopts=(--dpkgopt=force-unsafe-io)
	local f; for f in "${dpkg_filters[@]}"; do dpkgopts+=(--dpkgopt="$f"); done

	t0="$(now)"
	rm -f "$verfile"
	# Build in $tmp (a tmpfs when possible: dpkg's fsyncs made builds on this
	# disk 2-3x slower).
	work="$(mktemp -d "$tmp/pgtls-image.XXXXXX")"
	trap "rm -rf '$work'" EXIT
	PGTLS_MAJOR="$nn" PGTLS_ENTRYPOINT="$entrypoint" PGTLS_VERSION_FILE="$verfile" TMPDIR="$tmp" \
	mmdebstrap --variant=minbase --format=tar \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--aptopt='Acquire::Retries "3"' \
		--include="$include" \
		"${dpkgopts[@]}" \
		--skip=cleanup/run \
		--essential-hook="$essential_hook" \
		--customize-hook="$customize_hook" \
		"$suite" "$work/layer.tar" "${sources[@]}"
	t1="$(now)"
	version="$(cat "$verfile")"
	[ -n "$version" ] || { echo "no postgresql-$nn version recorded" >&2; return 1; }
	[ "$keep_tar" = 0 ] || cp "$work/layer.tar" "$build_dir/pg$nn-$suite.tar"

	# The image is assembled as a `docker save`-style archive (one layer plus
	# an image config) and fed to `docker load`: no registry, no builder, and
	# unlike `docker import --change` (docker 20.10) it can set STOPSIGNAL.
	diff_id="sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"
	created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	{
		printf '{"architecture":"amd64","os":"linux","created":"%s",' "$created"
		printf '"config":{'
		printf '"Env":[%s,%s,%s,%s,%s],' \
			"$(json_str "PATH=/usr/lib/postgresql/$nn/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")" \
			"$(json_str "PG_MAJOR=$nn")" "$(json_str "PG_VERSION=$version")" \
			"$(json_str "PGDATA=/var/lib/postgresql/data")" "$(json_str "LANG=C.UTF-8")"
		printf '"Entrypoint":["docker-entrypoint.sh"],"Cmd":["postgres"],'
		printf '"ExposedPorts":{"5432/tcp":{}},"StopSignal":"SIGINT",'
		printf '"Labels":{"pgtls.recipe":%s,"pgtls.pg-major":%s,"pgtls.pg-version":%s,"pgtls.debian-suite":%s,' \
			"$(json_str "$recipe")" "$(json_str "$nn")" "$(json_str "$version")" "$(json_str "$suite_label")"
		printf '"org.opencontainers.image.title":"pgtls/postgres","org.opencontainers.image.version":%s,' "$(json_str "$version")"
		printf '"org.opencontainers.image.description":%s}},' \
			"$(json_str "PostgreSQL $nn from Debian $suite_label (mmdebstrap minbase) for the pgtls TLS conformance harness")"
		printf '"rootfs":{"type":"layers","diff_ids":["%s"]},' "$diff_id"
		printf '"history":[{"created":"%s","created_by":%s}]}' "$created" \
			"$(json_str "pgtls ci/build-images.sh: mmdebstrap --variant=minbase $suite_label + $include")"
	} >"$work/config.json"
	printf '[{"Config":"config.json","RepoTags":["%s:%s"],"Layers":["layer.tar"]}]' "$repo" "$nn" \
		>"$work/manifest.json"
	old="$(docker image inspect -f '{{.Id}}' "$repo:$nn" 2>/dev/null || true)"
	tar -C "$work" -cf - manifest.json config.json layer.tar | docker load -q
	rm -rf "$work"
	# drop the image this one replaces (fails harmlessly while something uses it)
	if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$repo:$nn")" ]; then
		docker rmi "$old" >/dev/null 2>&1 || true
	fi
	[ "$(docker image inspect -f '{{.Config.StopSignal}} {{ index .Config.Labels "pgtls.recipe" }}' "$repo:$nn")" = "SIGINT $recipe" ] \
		|| { echo "docker load did not produce the expected $repo:$nn" >&2; return 1; }
	t2="$(now)"
	printf 'timing: mmdebstrap %.1f s, docker load %.1f s\n' \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$(awk -v a="$t1" -v b="$t2" 'BEGIN{print b-a}')"
}

# ---------------------------------------------------------------- main
image_recipe() {
	docker image inspect -f '{{ index .Config.Labels "pgtls.recipe" }}' "$1" 2>/dev/null || true
}

exec 3>&1
run_one() { # $1 = major; prints the one-line result on fd 3; returns the build status
	local nn="$1" log="$build_dir/pg$1.log" t0 t1 size rc=0
	t0="$(now)"
	# a subshell outside any `||` context, so that errexit applies inside build_one
	set +e
	(set -e; build_one "$nn") >"$log" 2>&1
	rc=$?
	set -e
	t1="$(now)"
	if [ "$rc" != 0 ]; then
		printf '%s:%s FAILED after %.0f s (exit %s); last lines of %s:\n' \
			"$repo" "$nn" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$rc" "$log" >&3
		tail -n 25 "$log" | sed 's/^/    /' >&3
		return "$rc"
	fi
	size="$(docker image inspect -f '{{.Size}}' "$repo:$nn")"
	printf '%s:%s built in %.0f s (%s MiB) [%s]\n' "$repo" "$nn" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$(mib "$size")" \
		"$(grep -h '^timing:' "$log" | sed 's/^timing: //')" >&3
}

todo=()
for nn in "${majors[@]}"; do
	if [ "$force" = 0 ] && [ "$(image_recipe "$repo:$nn")" = "$(recipe_of "$nn")" ]; then
		echo "$repo:$nn up to date"
	else
		todo+=("$nn")
	fi
done
[ ${#todo[@]} -gt 0 ] || exit 0
note "mirror $deb (security: $debsec); building ${todo[*]} with up to $jobs in parallel; logs in ${build_dir#"$PWD"/}/pgNN.log"

failed=0 running=0
for nn in "${todo[@]}"; do
	if [ "$running" -ge "$jobs" ]; then
		wait -n || failed=$((failed + 1))
		running=$((running - 1))
	fi
	run_one "$nn" &
	running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
	wait -n || failed=$((failed + 1))
	running=$((running - 1))
done
[ "$failed" = 0 ] || die "$failed build(s) failed"

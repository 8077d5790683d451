#!/usr/bin/env bash
# Prove the README's two commands on a fresh machine: a clean Debian 12 root filesystem with
# only what a Rust developer has (build-essential, pkg-config, libssl-dev, ca-certificates,
# git, and this host's Rust toolchain mounted read-only; the host's local CA certificates, which
# the machine's egress proxy needs, are trusted as on any machine of its kind), no PostgreSQL, no postgres user, no
# Python, no Docker. The repository's committed HEAD is cloned there and the README's
# commands run exactly as written:
#
#   cargo run --release -- run scenarios
#   cargo test --workspace --locked
#
#   ci/clean-room.sh [REPO]     (default REPO: this checkout)
#
# The root filesystem (mmdebstrap --variant=minbase bookworm, with -updates and -security, so
# its OpenSSL is Debian's newest 3.0.x, not necessarily the host's) becomes the image
# pgtls/clean-room:bookworm, rebuilt when its recipe changes. Each run is a fresh container
# (--rm, host network for crates.io, PyPI and the Debian mirror; loopback for the tests),
# removed on exit, failure or ^C. Exits non-zero when either command fails. Runs as root.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
image=pgtls/clean-room:bookworm
packages=build-essential,pkg-config,libssl-dev,ca-certificates,git
for a in "$@"; do
	case "$a" in
		-h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
		-*) echo "clean-room: unknown option $a" >&2; exit 2 ;;
		*) repo="$(cd "$a" && pwd)" ;;
	esac
done

note() { printf 'clean-room: %s\n' "$*" >&2; }
die() { note "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap and docker)"
docker info >/dev/null 2>&1 || die "no Docker engine answers"
command -v mmdebstrap >/dev/null || {
	note "installing mmdebstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
}

# ---------------------------------------------------------------- the image
recipe="$(printf '%s\n' "bookworm minbase $packages v1" | sha256sum | cut -c1-16)"
have="$(docker image inspect --format '{{index .Config.Labels "pgtls.recipe"}}' "$image" 2>/dev/null || true)"
if [ "$have" != "$recipe" ]; then
	start=$SECONDS
	tmp="$(mktemp -d /dev/shm/pgtls-clean-room.XXXXXX)"
	trap 'rm -rf "$tmp"' EXIT
	note "building $image (mmdebstrap bookworm minbase + $packages)"
	mmdebstrap --variant=minbase --aptopt='Acquire::Check-Valid-Until "false"' \
		--include="$packages" \
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		bookworm "$tmp/rootfs.tar" >"$tmp/mmdebstrap.log" 2>&1 \
		|| { tail -20 "$tmp/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
	docker import --change "LABEL pgtls.recipe=$recipe" --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		"$tmp/rootfs.tar" "$image" >/dev/null
	rm -rf "$tmp"
	trap - EXIT
	note "$image built in $((SECONDS - start)) s"
fi

# ---------------------------------------------------------------- the run
sysroot="$(rustc --print sysroot)"
[ -x "$sysroot/bin/cargo" ] || die "no cargo in the toolchain at $sysroot"
name="pgtls-clean-room-$$"
trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT INT TERM
note "OpenSSL inside: $(docker run --rm "$image" dpkg-query -W -f '${Version}' libssl3); host: $(openssl version | cut -d' ' -f2)"
# shellcheck disable=SC2016
script='
set -euo pipefail
# This machine kind reaches the registries through a TLS-intercepting egress proxy whose CA
# the host trusts; a fresh machine of the kind trusts it too.
if ls /host-ca/*.crt >/dev/null 2>&1; then
	cp /host-ca/*.crt /usr/local/share/ca-certificates/ && update-ca-certificates >/dev/null 2>&1
fi
! command -v psql && ! command -v pg_config && ! ls /usr/lib/postgresql >/dev/null 2>&1 \
	|| { echo "clean-room: PostgreSQL is present in the clean room" >&2; exit 1; }
! id postgres 2>/dev/null || { echo "clean-room: a postgres user exists in the clean room" >&2; exit 1; }
git clone -q /repo /work/pgtls
cd /work/pgtls
echo "clean-room: commit $(git rev-parse --short HEAD)" >&2
t0=$SECONDS
cargo run --release -- run scenarios
t1=$SECONDS
echo "clean-room: cargo run --release -- run scenarios: ok in $((t1 - t0)) s" >&2
cargo test --workspace --locked
echo "clean-room: cargo test --workspace --locked: ok in $((SECONDS - t1)) s" >&2
'
# In the background and waited for, so that ^C or TERM runs the trap at once.
docker run --name "$name" --rm --network host --shm-size 4g \
	--label dev.pgtls.clean-room=1 \
	-v "$repo:/repo:ro" -v "$sysroot:/opt/rust:ro" -v /usr/local/share/ca-certificates:/host-ca:ro \
	-e PATH=/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	-e CARGO_HOME=/root/.cargo -e CI=true -e INSTA_UPDATE=no -e CARGO_TERM_COLOR=never \
	"$image" bash -c "$script" &
wait $!
note "both README commands passed"

#!/usr/bin/env bash
# Regenerates docs/img/pg-suite-matrix.png from a real run: scenarios/pg-suite on the native
# PostgreSQL and on the Docker images of 13, 15, 17, 18 and 19, with libpq and rust (and
# asyncpg when its adapter is installed), merged by `pgtls report` into the HTML matrix and
# photographed by headless Chromium at 1280 px wide.
#
#   ci/screenshot-report.sh [--view all|differs|servers|clients|failures] [--height PX]
#
# Needs: PostgreSQL (native), a Docker engine with the images (ci/build-images.sh;
# PGTLS_IMAGE_PATTERN, default pgtls/postgres:{major}), Debian's chromium. The JSON and HTML
# are kept in $PGTLS_SCREENSHOT_DIR (default: a temporary directory, removed afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."

view=all
height=1500
while [ $# -gt 0 ]; do
	case "$1" in
	--view) view=$2; shift 2 ;;
	--height) height=$2; shift 2 ;;
	*) echo "usage: $0 [--view all|differs|servers|clients|failures] [--height PX]" >&2; exit 2 ;;
	esac
done

log() { printf '==> %s\n' "$*"; }
command -v chromium >/dev/null || { echo "chromium is not installed (apt-get install chromium)" >&2; exit 2; }
export PGTLS_IMAGE_PATTERN="${PGTLS_IMAGE_PATTERN:-pgtls/postgres:{major\}}"
clients=libpq,rust
[ -x adapters/asyncpg/.venv/bin/python ] && clients=$clients,asyncpg

work=${PGTLS_SCREENSHOT_DIR:-}
if [ -z "$work" ]; then
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

log "building pgtls"
cargo build --release --locked -q
pgtls=target/release/pgtls

# A run with failures still renders (exit 1); anything worse stops here.
pgtls() { "$pgtls" "$@" || [ $? -eq 1 ]; }
log "pg-suite on native PostgreSQL ($clients)"
pgtls run scenarios/pg-suite --client "$clients" --json "$work/native.json"
log "pg-suite on Docker 13, 15, 17, 18, 19 ($clients)"
pgtls run scenarios/pg-suite --backend docker --pg 13,15,17,18,19 --client "$clients" --json "$work/docker.json"
pgtls report "$work/native.json" "$work/docker.json" --html "$work/matrix.html" --json "$work/matrix.json"

log "photographing the matrix (view: $view) at 1280x$height"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="1280,$height" \
	--virtual-time-budget=10000 --screenshot="$PWD/docs/img/pg-suite-matrix.png" \
	"file://$work/matrix.html#show=$view" 2>/dev/null
log "wrote docs/img/pg-suite-matrix.png"

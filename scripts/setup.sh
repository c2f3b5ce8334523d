#!/usr/bin/env bash
# Create .venv and install stenoscope with the exact versions of requirements-ci.txt (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-ci.txt
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .

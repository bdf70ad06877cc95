#!/usr/bin/env bash
# Create .venv (if missing) and install the given requirements file into it. Idempotent.
set -euo pipefail
req=${1:-requirements.txt}
py=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$py" -m venv .venv
stamp=.venv/.installed-$(basename "$req")
if [ ! -f "$stamp" ] || [ "$req" -nt "$stamp" ] || [ requirements.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req"
  touch "$stamp"
fi

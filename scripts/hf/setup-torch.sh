#!/usr/bin/env bash
# Installs what regenerating the Hugging Face fixtures and goldens needs (docs/hf-goldens.md):
# Debian's PyTorch (CPU, float64 is all we use), NumPy, `regex` (\p{L} in the GPT-2 pattern) and
# Jinja2 (renders the chat template). Idempotent: does nothing when they already import.
# CI does not run this: the fixtures and goldens are committed, and the tests only read them.
#
# The scripts run Debian's interpreter, /usr/bin/python3 (a pyenv or venv python3 on PATH does
# not see the Debian packages), with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for that process
# only (set on some machines for other tools; Debian's OpenBLAS misbehaves with them):
#   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 scripts/hf/reference.py
set -euo pipefail

PY=/usr/bin/python3
check() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" -c 'import torch, numpy, regex, jinja2' 2>/dev/null; }

if [ -x "$PY" ] && check; then
  echo "setup-torch: torch, numpy, regex and jinja2 already import under $PY"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y python3 python3-torch libopenblas0-pthread python3-numpy python3-regex python3-jinja2

check || { echo "setup-torch: torch still does not import under $PY" >&2; exit 1; }
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" -c 'import torch; print("setup-torch: torch", torch.__version__)'

#!/usr/bin/env bash
# Creates benchmarks/.venv-torch, the PyTorch CPU reference environment used by
# benchmarks/run_benchmarks.py. PyTorch is never a dependency of the project itself:
# it lives only in this separate virtualenv (gitignored).
#   usage: bash benchmarks/setup_torch_env.sh [python]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-torch"
python="${1:-${PYTHON:-$(command -v python3.11 || command -v python3)}}"
torch_version="${TORCH_VERSION:-2.13.0}"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import torch, numpy" 2>/dev/null; then
    echo "torch env ready: $venv"
    exit 0
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q "torch==$torch_version" numpy
"$venv/bin/python" -c "import torch; print('torch env ready:', torch.__version__, '$venv')"

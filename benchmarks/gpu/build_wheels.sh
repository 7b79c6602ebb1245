#!/usr/bin/env bash
# Fills benchmarks/wheels/ (gitignored; carried to the device with `carry`) with the wheels of
# what the device image lacks for `pip install --no-index -e .` there (benchmarks/README.md):
# chainer 7.8.1 (built here from its sdist: pure Python) and the pure-Python packages below,
# for CPython 3.12 on manylinux x86-64, at the versions of constraints.txt.
# Usage (repository root, a machine with pip access): bash benchmarks/gpu/build_wheels.sh [PYTHON]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${1:-.venv/bin/python}
DEST=benchmarks/wheels
# missing from the image's package list (/work/.library/device/KINDS.md): chainer, progressbar2
# (+ python-utils), dask[distributed] (+ partd, locket, zict, tblib, tornado), and setuptools<74
# (chainer imports pkg_resources; the image's setuptools may be newer)
PACKAGES="progressbar2 python-utils dask distributed partd locket zict tblib tornado setuptools"
pin() {  # version of $1 in constraints.txt
    sed -n "s/^$1==\([^ ;]*\).*/\1/p" constraints.txt | head -1
}
mkdir -p "$DEST"
rm -f "$DEST"/*.whl
"$PY" -m pip wheel -q --no-deps --no-build-isolation -c constraints.txt -w "$DEST" chainer
specs=""
for p in $PACKAGES; do
    v=$(pin "$p"); [[ -n "$v" ]] || { echo "no pin for $p in constraints.txt" >&2; exit 1; }
    specs="$specs $p==$v"
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 \
    -d "$DEST" $specs
ls -1 "$DEST"
du -sh "$DEST"

#!/usr/bin/env bash
# The GPU path on a CUDA machine (benchmarks/README.md, "GPU check").
#
#   OUT=DIR bash benchmarks/gpu_check.sh    on the GPU machine: results into DIR
#   bash benchmarks/gpu_check.sh --dry-run  here, without a GPU (see below)
#
# 1. Installs the project into a throwaway venv over the image's packages without downloading:
#    `venv --system-site-packages`, plus a .pth naming the image interpreter's own site dirs
#    (its python3 may itself be a venv, whose packages --system-site-packages would not see),
#    then `pip install --no-index --find-links benchmarks/wheels` (built by
#    benchmarks/gpu/build_wheels.sh: chainer and the pure-Python packages the image lacks).
# 2. In at most 8 minutes (each step under `timeout`): the gpu-marked tests and the NVRTC kernel
#    compiles; TransformGFilter and every G-conv link in float16/32/64, CuPy vs CPU;
#    P4CNN trained one epoch on the embedded digits with --gpu 0 (loss must fall); P4CNN and
#    P4AllCNNC (batch 128) training steps beside the PyTorch twins (benchmarks/gpu/check.py).
# 3. Writes $OUT/gpu_check.json (everything) and $OUT/gpu_check.log.
#
# --dry-run: the same install step and every check on the CPU: NumPy stands in for CuPy in the
# comparisons, training uses --gpu -1, the steps run on the CPU (1 step, batch 16). IMAGE_PYTHON
# names the interpreter standing in for the image's python3 (TORCH_PYTHON one with torch).
# GPU_CHECK_WHEELS: another wheel folder (default benchmarks/wheels).
set -uo pipefail
cd "$(dirname "$0")/.."
DRY_RUN=0
case "${1:-}" in
    --dry-run) DRY_RUN=1 ;;
    "") ;;
    *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac
OUT=${OUT:-/tmp/gpu_check_out}
IMAGE_PYTHON=${IMAGE_PYTHON:-python3}
WHEELS=${GPU_CHECK_WHEELS:-benchmarks/wheels}
WORK=$(mktemp -d /tmp/gpu_check.XXXXXX)
VENV=$WORK/venv
PARTS=$WORK/parts
mkdir -p "$OUT" "$PARTS"
exec > >(tee "$OUT/gpu_check.log") 2>&1
export PYTHONUNBUFFERED=1
start=$SECONDS
echo "gpu_check: dry_run=$DRY_RUN image python: $(command -v "$IMAGE_PYTHON") work: $WORK"

# --- 1. install -------------------------------------------------------------------------------
ls "$WHEELS"/chainer-*.whl >/dev/null 2>&1 || {
    echo "no wheels in $WHEELS: run benchmarks/gpu/build_wheels.sh and carry $WHEELS" >&2; exit 1; }
install() {
    # without ensurepip in the image's base Python, the venv uses the image's own pip (below)
    "$IMAGE_PYTHON" -m venv --system-site-packages "$VENV" ||
        { rm -rf "$VENV"; "$IMAGE_PYTHON" -m venv --system-site-packages --without-pip "$VENV"; } ||
        return 1
    local site
    site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    "$IMAGE_PYTHON" -c 'import site, sys; print("\n".join(p for p in sys.path if p.endswith("-packages")))' \
        > "$site/image-site-packages.pth" || return 1
    local pip=(timeout 180 "$VENV/bin/python" -m pip install -q --no-index
               --find-links "$WHEELS" --no-cache-dir --disable-pip-version-check)
    # chainer imports pkg_resources: setuptools<74 from the wheels (the image's may be newer)
    "${pip[@]}" "setuptools<74" || return 1
    # PEP 660 editable install (also with an old pip): installs groupy-chainer-compat.pth.
    # If the image's versions do not satisfy some requirement, fall back to no dependency
    # resolution (every carried wheel as is, then the project): the checks still run.
    if ! "${pip[@]}" --no-build-isolation --use-pep517 -e .; then
        echo "install with dependencies failed: falling back to --no-deps" >&2
        NO_DEPS=true
        "${pip[@]}" --no-deps "$WHEELS"/*.whl || return 1
        "${pip[@]}" --no-deps --no-build-isolation --use-pep517 -e . || return 1
    fi
    "$VENV/bin/python" -c "import chainer, groupy.gconv.chainer_gconv, gconv_experiments.training"
}
NO_DEPS=false
if ! install; then
    echo '{"install": {"ok": false}}' > "$OUT/gpu_check.json"
    echo "install failed after $((SECONDS - start)) s" >&2
    exit 1
fi
echo "{\"install\": {\"ok\": true, \"no_deps_fallback\": $NO_DEPS, \"seconds\": $((SECONDS - start))}}" \
    > "$PARTS/0_install.json"
PY="$VENV/bin/python"
CHECK=benchmarks/gpu/check.py

# --- 2. checks (at most 8 minutes) ------------------------------------------------------------
run_part() {  # name limit_s command...: its JSON on stdout goes to $PARTS/name.json
    local name=$1 limit=$2 s=$SECONDS
    shift 2
    echo "=== $name (at most ${limit} s)"
    timeout "$limit" "$@" > "$PARTS/$name.json"
    local rc=$?
    echo "{\"seconds_$name\": $((SECONDS - s)), \"returncode_$name\": $rc}" > "$PARTS/$name.time.json"
    echo "    rc=$rc, $((SECONDS - s)) s"
}
if [[ $DRY_RUN == 1 ]]; then
    GPU=-1; DEVICE=cpu; COMPARE=(--dry-run); STEPS=(--steps 1 --warmup 0 --batch 16)
    [[ -n ${TORCH_PYTHON:-} ]] && STEPS+=(--torch-python "$TORCH_PYTHON")
else
    GPU=0; DEVICE=gpu; COMPARE=(); STEPS=(--steps 10 --warmup 3)
fi
checks=$SECONDS
run_part 1_env 30 "$PY" $CHECK env
run_part 2_gpu_tests 150 "$PY" $CHECK gpu-tests --timeout 70
run_part 3_compare 60 "$PY" $CHECK compare "${COMPARE[@]}"
run_part 4_train 90 "$PY" $CHECK train --datadir "$WORK/digits" --resultdir "$WORK/p4cnn" --gpu $GPU
run_part 5_steps 140 "$PY" $CHECK steps --device $DEVICE "${STEPS[@]}" --timeout 60
echo "{\"dry_run\": $([[ $DRY_RUN == 1 ]] && echo true || echo false), \"checks_seconds\": $((SECONDS - checks)), \"total_seconds\": $((SECONDS - start))}" \
    > "$PARTS/9_total.json"

# --- 3. summary -------------------------------------------------------------------------------
"$PY" $CHECK summary "$PARTS"/*.json > "$OUT/gpu_check.json"
"$PY" - "$OUT/gpu_check.json" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
print('=== summary')
for key in ('gpu_tests', 'nvrtc_compile_tests'):
    print(key + ':', (s.get(key) or {}).get('summary'))
c = s.get('compare') or {}
print('compare ok:', c.get('ok'), 'max rel diff per dtype:', c.get('max_rel_diff_per_dtype'))
t = s.get('train') or {}
print('train ok:', t.get('ok'), [{k: v for k, v in e.items() if 'loss' in k} for e in t.get('log', [])])
for row in s.get('steps') or []:
    print('steps', row['model'], 'chainer', row['chainer'].get('median_s', row['chainer'].get('error', '')[:200]),
          'torch', row['torch'].get('median_s', row['torch'].get('error', '')[:200]),
          'ratio', row.get('ratio_chainer_over_torch'))
print('checks', s.get('checks_seconds'), 's, total', s.get('total_seconds'), 's')
PYEOF
rm -rf "$WORK"

#!/usr/bin/env bash
# Trains every run of the data-efficiency study (MNIST_ROT/data_efficiency.py) on one machine, in lanes.
#
#   bash gconv_experiments/MNIST_ROT/run_data_efficiency.sh DATADIR [LANES]
#
# DATADIR: the MNIST-rot-like set (train_all.npz, test.npz). LANES (default 2): runs at a time, one
# CPU thread each. RESULTS (default results/data_efficiency): the study's folder. PYTHON (default
# python): the interpreter. STUDY_FLAGS (optional): more flags for every call, e.g.
# "--steps 4000 --sizes 300,1000". The jobs are `data_efficiency --list-jobs`, seed-major; each is
# one `--run-job K` (train, resume or skip one run, then rewrite the report), so the script is
# simply started again after an interruption. Plain processes, so the whole tree can be paused
# with `kill -STOP -<pgid>` and continued with `kill -CONT -<pgid>`.
set -u
datadir=${1:?usage: run_data_efficiency.sh DATADIR [LANES]}
lanes=${2:-2}
python=${PYTHON:-python}
results=${RESULTS:-results/data_efficiency}
study=(-m gconv_experiments.MNIST_ROT.data_efficiency --datadir "$datadir" --resultdir "$results" --threads 1 ${STUDY_FLAGS:-})

mapfile -t jobs < <("$python" "${study[@]}" --list-jobs) || exit 1
[ "${#jobs[@]}" -gt 0 ] || { echo "run_data_efficiency.sh: no jobs listed" >&2; exit 1; }

claims=$(mktemp -d)
lane() {
    local job
    for job in "${jobs[@]}"; do
        set -- $job   # K model size seed
        mkdir "$claims/$1" 2>/dev/null || continue   # another lane has this job
        echo "=== $(date -u '+%F %T') lane $lane_id: $2 n=$3 seed $4"
        "$python" "${study[@]}" --run-job "$1" </dev/null \
            || echo "=== $(date -u '+%F %T') lane $lane_id: $2 n=$3 seed $4 FAILED (exit $?)"
    done
}

mkdir -p "$results/lanes"
pids=()
for lane_id in $(seq "$lanes"); do
    lane >>"$results/lanes/lane$lane_id.log" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
rm -rf "$claims"
"$python" "${study[@]}" --report-only || status=1
exit $status

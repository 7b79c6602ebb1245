#!/usr/bin/env bash
# Trains every run of the partial-equivariance study (results/partial) on one machine, in lanes.
#
#   bash gconv_experiments/MNIST6/run_partial_study.sh DATA [LANES]
#
# DATA: the folder holding the three data sets, built first with
#   python -m gconv_experiments.MNIST6.mnist6 --from-mnist ../shared/data/mnist --datadir DATA/mnist6_180 --variant rot180
#   python -m gconv_experiments.MNIST6.mnist6 --from-mnist ../shared/data/mnist --datadir DATA/mnist6_m --variant mirror
#   python -m gconv_experiments.MNIST_ROT.mnist_rot --from-mnist ../shared/data/mnist --datadir DATA/mnist_rot
# LANES (default 2): how many runs train at a time, one CPU thread each. RESULTS (default
# results/partial): where the run folders go. PYTHON (default python): the interpreter. EPOCHS
# (optional): every run this many epochs instead of the plan's (smoke tests only).
#
# The jobs are the runs of partial_study.py's PLAN (`python -m gconv_experiments.MNIST6.partial_study
# --list-jobs`). Each job is one `partial_study --run-job K`: one MNIST_ROT/experiment.py sweep of
# one model and seed, which skips a finished run and resumes one with a snapshot, then rewrites the
# setting's tables. Started again after an interruption, nothing finished is redone. The lanes take
# the jobs in order, one job per lane at a time (a job is claimed by creating a folder), as plain
# processes. When every job has ended, the report (results.md, results.csv, runs.csv,
# gate_probabilities.png) is written over all runs.
set -u
datadir=${1:?usage: run_partial_study.sh DATA [LANES]}
lanes=${2:-2}
python=${PYTHON:-python}
results=${RESULTS:-results/partial}
study=(-m gconv_experiments.MNIST6.partial_study --results "$results" ${EPOCHS:+--epochs "$EPOCHS"})

mapfile -t jobs < <("$python" "${study[@]}" --list-jobs) || exit 1
[ "${#jobs[@]}" -gt 0 ] || { echo "run_partial_study.sh: no jobs listed" >&2; exit 1; }

claims=$(mktemp -d)
lane() {
    local job
    for job in "${jobs[@]}"; do
        set -- $job   # K setting model seed
        mkdir "$claims/$1" 2>/dev/null || continue   # another lane has this job
        echo "=== $(date -u '+%F %T') lane $lane_id: $2 $3 seed $4"
        "$python" "${study[@]}" --run-job "$1" --datadir "$datadir" </dev/null \
            || echo "=== $(date -u '+%F %T') lane $lane_id: $2 $3 seed $4 FAILED (exit $?)"
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

echo "=== $(date -u '+%F %T') all jobs ended; the report over every run"
"$python" "${study[@]}" >/dev/null || status=1
exit $status

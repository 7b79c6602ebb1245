#!/usr/bin/env bash
# Trains every run of the MNIST-rot reproduction (results/mnist_rot) on one machine, in lanes.
#
#   bash gconv_experiments/MNIST_ROT/run_sweeps.sh DATADIR [LANES]
#
# DATADIR: the MNIST-rot-like set, built first with
#   python -m gconv_experiments.MNIST_ROT.mnist_rot --from-mnist ../shared/data/mnist --datadir DATADIR
# LANES (default 2): how many runs train at a time, one CPU thread each (--threads 1, the setting
# every run of the reproduction used: the numbers depend on the thread count in the last bits).
# RESULTS (default results/mnist_rot): where the run folders go. PYTHON (default python): the
# interpreter. MNIST (optional): the raw MNIST folder, for the report's upright-MNIST column.
#
# The jobs are the runs of reproduction.py's PLAN (`python -m gconv_experiments.MNIST_ROT.reproduction
# --list-jobs`), seed-major within each setting. Each job is one `reproduction --run-job K`: one
# MNIST_ROT/experiment.py sweep of one model and seed, which skips a finished run and resumes one
# with a snapshot, then rewrites the setting's tables from all of its finished runs. So the script
# is simply started again after an interruption (a session end, a kill): nothing finished is
# redone, at most the epochs since a run's last snapshot (every 25) are. The lanes take the jobs in
# order, one job per lane at a time, so no run is ever trained twice at once. Plain processes
# (not --workers 2 on Dask) so that the whole tree can be paused with `kill -STOP -<pgid>` for a
# quiet-machine benchmark and continued with `kill -CONT -<pgid>`. When every job has ended, the
# report (results.md, results.csv, learning_curves.png) is written over all runs.
set -u
datadir=${1:?usage: run_sweeps.sh DATADIR [LANES]}
lanes=${2:-2}
python=${PYTHON:-python}
results=${RESULTS:-results/mnist_rot}
reproduction=(-m gconv_experiments.MNIST_ROT.reproduction --results "$results")

mapfile -t jobs < <("$python" "${reproduction[@]}" --list-jobs) || exit 1
[ "${#jobs[@]}" -gt 0 ] || { echo "run_sweeps.sh: no jobs listed" >&2; exit 1; }

claims=$(mktemp -d)
lane() {
    local job
    for job in "${jobs[@]}"; do
        set -- $job   # K setting model seed
        mkdir "$claims/$1" 2>/dev/null || continue   # another lane has this job
        echo "=== $(date -u '+%F %T') lane $lane_id: $2 $3 seed $4"
        "$python" "${reproduction[@]}" --run-job "$1" --datadir "$datadir" </dev/null \
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
"$python" "${reproduction[@]}" ${MNIST:+--datadir "$datadir" --mnist "$MNIST"} >/dev/null || status=1
exit $status

#!/usr/bin/env bash
# The commands that produced results/mnist_rot (issue 13), as run on a 2-core machine.
#
#   bash results/mnist_rot/run_sweeps.sh DATADIR [LANES]
#
# DATADIR: the MNIST-rot-like set, built first with
#   python -m gconv_experiments.MNIST_ROT.mnist_rot --from-mnist ../shared/data/mnist --datadir DATADIR
# LANES (default 2): how many runs train at a time, one CPU thread each (--threads 1, the setting
# every run of this reproduction used: the numbers depend on the thread count in the last bits).
#
# Every job below is one invocation of the sweep command (MNIST_ROT/experiment.py) for one model
# and seed. A job whose run finished earlier is skipped, a run with a snapshot resumes from it,
# so the script is simply started again after an interruption (a session end, a kill): nothing
# finished is redone, at most the epochs since a run's last snapshot (every 25) are. The lanes
# take the jobs in the listed order (reproduction.jobs(): seed-major within each setting), one
# job per lane at a time, so no run is ever trained twice at once.
# Plain processes (not --workers 2 on Dask) so that the whole tree can be paused with
# `kill -STOP -<pgid>` for a quiet-machine benchmark and continued with `kill -CONT -<pgid>`.
#
# Sub-sweeps (each its own --resultdir, with its own results.md / runs.csv / sweep.json):
#   released/          the sweep as released: Z2CNN 300, P4CNN_RP 100, P4CNN 100 epochs, seeds 0..4
#   p4mcnn/            P4MCNN 100 epochs, seeds 0, 1 (released protocol otherwise)
#   uniform_rotation/  Z2CNN 300, P4CNN 100 epochs, seeds 0, 1, --transformations uniform_rotation
# When every job has finished, the tables of each sub-sweep are rewritten from all of its runs
# (the same sweep command over all its models and seeds: nothing trains, every run is 'done'),
# and results.md / results.csv / learning_curves.png over all of them (reproduction.py; the
# upright-MNIST column needs MNIST=<raw MNIST folder> in the environment).
set -u
here=$(cd "$(dirname "$0")" && pwd)
datadir=${1:?usage: run_sweeps.sh DATADIR [LANES]}
lanes=${2:-2}
python=${PYTHON:-python}
results=${RESULTS:-$here}

# one job per run, "setting model seed transformations", from
# gconv_experiments.MNIST_ROT.reproduction (PLAN, jobs())
mapfile -t jobs < <("$python" -m gconv_experiments.MNIST_ROT.reproduction --list-jobs) || exit 1
[ "${#jobs[@]}" -gt 0 ] || { echo "run_sweeps.sh: no jobs listed" >&2; exit 1; }

sweep() {  # sweep SETTING MODELS SEEDS TRANSFORMATIONS: one invocation of the sweep command
    "$python" -m gconv_experiments.MNIST_ROT.experiment --datadir "$datadir" --resultdir "$results/$1" \
        --models "$2" --seeds "$3" --transformations "$4" --threads 1 --quiet </dev/null
}

claims=$(mktemp -d)
lane() {
    local i
    for i in "${!jobs[@]}"; do
        mkdir "$claims/$i" 2>/dev/null || continue   # another lane has this job
        set -- ${jobs[$i]}
        echo "=== $(date -u '+%F %T') lane $lane_id: $1 $2 seed $3"
        sweep "$1" "$2" "$3" "$4" || echo "=== $(date -u '+%F %T') lane $lane_id: $1 $2 seed $3 FAILED (exit $?)"
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

echo "=== $(date -u '+%F %T') all jobs ended; tables from every run"
while read -r setting models seeds transformations; do
    sweep "$setting" "$models" "$seeds" "$transformations" || status=1
done < <("$python" -m gconv_experiments.MNIST_ROT.reproduction --list-settings)
"$python" -m gconv_experiments.MNIST_ROT.reproduction --results "$results" \
    ${MNIST:+--datadir "$datadir" --mnist "$MNIST"} >/dev/null || status=1
exit $status

#!/usr/bin/env bash
# Trains every run of a study on one machine, in lanes of plain processes, then writes its report.
#
#   bash gconv_experiments/run_lanes.sh MODULE DATA [LANES]
#
# MODULE: the study module, e.g. gconv_experiments.MNIST_ROT.reproduction,
# gconv_experiments.MNIST6.partial_study, gconv_experiments.MNIST_ROT.data_efficiency,
# gconv_experiments.GAN.study. DATA: the data folder its jobs read (--datadir). LANES (default 2):
# how many jobs run at a time (each study runs a job on one CPU thread).
# Environment: RESULTS (default: the module's RESULTS, e.g. results/mnist_rot): the study's
# folder (--results). PYTHON (default python): the interpreter. STUDY_FLAGS (optional): more flags
# for every call, e.g. "--steps 200" (word-split: no spaces inside a flag). REPORT_FLAGS
# (optional): more flags for the final report only, e.g. "--datadir DATA --mnist MNIST" for the
# reproduction's upright-MNIST column.
#
# Every study module takes the same flags (gconv_experiments/study_jobs.py): `--list-jobs` prints
# one line `K ...` per run of its plan (K the job index, in training order); `--run-job K --datadir
# DATA` trains job K alone -- resumes a run with a snapshot, skips a finished one, refuses a run
# folder made with other settings -- then rewrites the report; `--report-only` writes the report.
# The lanes take the jobs in order, one job per lane at a time (a job is claimed by creating a
# folder, so no run is trained twice at once), and log to RESULTS/lanes/lane<i>.log with
# timestamps. Started again after an interruption, nothing finished is redone. Plain processes
# (not Dask), so the whole tree can be paused with `kill -STOP -<pgid>` and continued with
# `kill -CONT -<pgid>`. When every job has ended, the report is written over all runs; the exit
# status is 1 if a lane or the report failed.
set -u
usage="usage: run_lanes.sh MODULE DATA [LANES]"
module=${1:?$usage}
datadir=${2:?$usage}
lanes=${3:-2}
python=${PYTHON:-python}
case $lanes in
    '' | *[!0-9]* | 0) echo "run_lanes.sh: LANES must be a positive integer, got '$lanes'" >&2; exit 2 ;;
esac
results=${RESULTS:-}
if [ -z "$results" ]; then
    results=$("$python" -c 'import importlib, sys; print(importlib.import_module(sys.argv[1]).RESULTS)' "$module") \
        || { echo "run_lanes.sh: cannot read $module.RESULTS (a study module names its folder); set RESULTS" >&2; exit 2; }
fi
study=(-m "$module" --results "$results" ${STUDY_FLAGS:-})

mapfile -t jobs < <("$python" "${study[@]}" --list-jobs)
[ "${#jobs[@]}" -gt 0 ] || { echo "run_lanes.sh: $module --list-jobs listed no jobs" >&2; exit 1; }

claims=$(mktemp -d)
trap 'rm -rf "$claims"' EXIT
lane() {
    local job k what code
    for job in "${jobs[@]}"; do
        k=${job%% *} what=${job#"$k"}
        mkdir "$claims/$k" 2>/dev/null || continue   # another lane has this job
        echo "=== $(date -u '+%F %T') lane $lane_id: job $k:$what"
        "$python" "${study[@]}" --run-job "$k" --datadir "$datadir" </dev/null || {
            code=$?   # (before $(date) resets $?)
            echo "=== $(date -u '+%F %T') lane $lane_id: job $k:$what FAILED (exit $code)"
        }
    done
}

mkdir -p "$results/lanes" || exit 1
pids=()
for lane_id in $(seq "$lanes"); do
    lane >>"$results/lanes/lane$lane_id.log" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done

echo "=== $(date -u '+%F %T') all jobs ended; the report over every run"
"$python" "${study[@]}" --report-only ${REPORT_FLAGS:-} >/dev/null || status=1
exit $status

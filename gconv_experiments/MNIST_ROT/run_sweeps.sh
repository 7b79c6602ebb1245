#!/usr/bin/env bash
# Trains every run of the MNIST-rot reproduction (results/mnist_rot) in lanes, then writes its
# report: gconv_experiments/run_lanes.sh for gconv_experiments.MNIST_ROT.reproduction.
#
#   [MNIST=RAW_MNIST_DIR] bash gconv_experiments/MNIST_ROT/run_sweeps.sh DATADIR [LANES]
#
# DATADIR: the MNIST-rot-like set (python -m gconv_experiments.MNIST_ROT.mnist_rot --from-mnist
# ../shared/data/mnist --datadir DATADIR). LANES (default 2): runs at a time, one CPU thread each.
# RESULTS (default results/mnist_rot), PYTHON (default python): as for run_lanes.sh. MNIST
# (optional): the raw MNIST folder, for the report's upright-MNIST column.
RESULTS=${RESULTS:-results/mnist_rot} REPORT_FLAGS=${MNIST:+--datadir ${1:-} --mnist $MNIST} \
    exec bash "$(dirname "$0")/../run_lanes.sh" gconv_experiments.MNIST_ROT.reproduction "$@"

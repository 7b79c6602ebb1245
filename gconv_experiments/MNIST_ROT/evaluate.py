"""Evaluate the weights of an MNIST-rot run folder (a published run of results/mnist_rot, or any
run of MNIST_ROT/train.py) on a test set: the run's own test file, or the official MNIST test set
upright (10,000 digits, unrotated: the cross-test of the tiny paper).

A run folder holds what is needed to rebuild the trained network: run.json (the resolved
settings, the model's name and the sha256 of its file) and snapshot.h5 (weights and the BN
statistics of the last evaluation); the model class is the folder's copy of the model file
where there is one (training writes it), else the package's model of that name (published runs
keep no copy: a warning says when the package's file differs from the one the run trained with).
The input normalisation of ``--normalization train_scalar`` (mean and std of the training
pixels) is the one the run recorded in run.json ("settings"); a run.json without it (written
before runs recorded it, e.g. the published runs) is normalised as the run was, from its
training file: read from --datadir, it must be the file the run was trained on (its sha256 is
checked against run.json), so rebuild the data first with
``python -m gconv_experiments.MNIST_ROT.mnist_rot --from-mnist MNIST_DIR --datadir DIR``.

Usage:
    python -m gconv_experiments.MNIST_ROT.evaluate RUN_FOLDER --datadir DIR [--testfn test.npz]
    python -m gconv_experiments.MNIST_ROT.evaluate RUN_FOLDER --datadir DIR --upright-mnist MNIST_DIR

Python: ``model, record = load_run(folder)``; ``model.logits(x)`` maps float32 (N, 1, 28, 28)
pixels normalised with ``input_normalization(record, datadir)`` to logits (N, 10).
"""
import argparse
import json
import os
import sys

import chainer
import h5py
import numpy as np

from gconv_experiments.command_errors import run_command
from gconv_experiments.file_digest import sha256_file
from gconv_experiments.MNIST_ROT import mnist_rot
from gconv_experiments.training import (
    RUN_FILE, SNAPSHOT_FILE, SUMMARY_FILE, ConfigError, build_model, load_model_class, load_weights,
    read_record, resolve_model_file)
from gconv_experiments.training.data import normalization_constants, normalize, train_subset_indices
from gconv_experiments.training.loop import evaluate

__all__ = ["load_run", "input_normalization", "upright_mnist_test", "error_rate", "main"]

_BUILD = "python -m gconv_experiments.MNIST_ROT.mnist_rot --from-mnist MNIST_DIR --datadir DIR"


def load_run(folder: str) -> tuple:
    """(model, record) of the run folder `folder`: the model class from the folder's copy of the
    model file, built with the run's net_kwargs, weights and BN statistics from snapshot.h5.
    record = run.json plus 'snapshot_epoch'. ConfigError naming the file when something is
    missing or does not fit."""
    record = read_record(_need(folder, RUN_FILE))
    config = record["config"]
    model_file = os.path.join(folder, record.get("model_file") or "")
    if not record.get("model_file") or not os.path.isfile(model_file):
        model_file = _package_model(config)  # no copy in the folder (published runs keep none)
    cls = load_model_class(model_file, "gconv_experiments.MNIST_ROT.models")
    snapshot = _need(folder, SNAPSHOT_FILE)
    model = load_weights(snapshot, build_model(cls, config["net_kwargs"]))
    with h5py.File(snapshot, "r") as f:
        record = dict(record, snapshot_epoch=int(f.attrs["epoch"]))
    return model, record


def _package_model(config):
    """The package's model file of the run's model; a warning when its content is not the file
    the run trained with (run.json model_sha256): the weights then go into today's version."""
    _, path = resolve_model_file(config["modelfn"], "gconv_experiments.MNIST_ROT.models")
    expected = config.get("model_sha256")
    if expected and sha256_file(path) != expected:
        print(f"evaluate: warning: {path} differs from the model file this run trained with (sha256 "
              f"{expected[:12]}...); its weights are loaded into today's version of the model",
              file=sys.stderr)
    return path


def _need(folder, name):
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: no such file (expected a run folder written by MNIST_ROT/train.py)")
    return path


def input_normalization(record: dict, datadir: str) -> tuple:
    """(shift, scale) the run applied to every input: as recorded in its run.json ("settings"),
    else (older records) from its --normalization and its training file, read from `datadir`
    (checked against the sha256 in run.json).

    >>> input_normalization({"settings": {"input_normalization": {"mode": "train_scalar", "shift": 0.13,
    ...                                                           "scale": 0.3}}}, "unused")
    (0.13, 0.3)
    """
    recorded = (record.get("settings") or {}).get("input_normalization") or {}
    if isinstance(recorded.get("shift"), (int, float)) and isinstance(recorded.get("scale"), (int, float)):
        return float(recorded["shift"]), float(recorded["scale"])
    config = record["config"]
    if config.get("normalization", "none") == "none":
        return 0.0, 1.0
    path = os.path.join(datadir, config["trainfn"])
    expected = record.get("data", {}).get("trainfn", {}).get("sha256")
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: no such file; the run's input normalisation needs its training file "
                          f"({config['trainfn']}); build the data with {_BUILD}")
    if expected and sha256_file(path) != expected:
        raise ConfigError(f"{path}: not the file this run was trained on (sha256 differs from its run.json); "
                          f"build the data with {_BUILD} (same seed)")
    train_x, train_y = mnist_rot.load_split(datadir, config["trainfn"])
    index = train_subset_indices(train_y, config.get("train_size"), config.get("train_subset", "first"),
                                 config.get("subset_seed"))  # the training examples the run used
    train_x = train_x[index]
    return normalization_constants(train_x, config["normalization"])


def upright_mnist_test(mnist_dir: str) -> tuple:
    """The official MNIST test set, unrotated: (float32 (10000, 1, 28, 28) in [0, 1], int32 (10000,)),
    scaled as the MNIST-rot-like set's digits before rotation."""
    images, labels = mnist_rot.load_mnist(mnist_dir)["test"]
    return images[:, None].astype(np.float32) / np.float32(255), labels.astype(np.int32)


def error_rate(model: chainer.Link, x: np.ndarray, y: np.ndarray, normalization: tuple, batchsize: int = 500) -> tuple:
    """(mean loss, error rate) of `model` in test mode on raw pixels x (N, 1, 28, 28), labels y."""
    x = normalize(x, *normalization)
    return evaluate(model, x, y, batchsize, chainer.get_device("@numpy"))


def main(argv: "list | None" = None) -> int:
    """Command line: evaluate a run folder; prints one line, returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m gconv_experiments.MNIST_ROT.evaluate",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("run_folder", help="a run folder (run.json, snapshot.h5, the model file)")
    p.add_argument("--datadir", required=True, help="the MNIST-rot(-like) data folder (training file "
                   "for the input normalisation, and --testfn)")
    p.add_argument("--testfn", default=None, help="test file in --datadir (default: the run's --valfn, "
                   "whose final error is its reported test error)")
    p.add_argument("--upright-mnist", metavar="MNIST_DIR", default=None,
                   help="evaluate on the official MNIST test set upright instead (the raw IDX files)")
    p.add_argument("--batchsize", type=int, default=500)
    args = p.parse_args(argv)
    return run_command(lambda: _evaluate(args), "evaluate", {ValueError: 2})  # ConfigError is a ValueError


def _evaluate(args):
    """Evaluate the run folder of the command line `args` and print the result line."""
    model, record = load_run(args.run_folder)
    normalization = input_normalization(record, args.datadir)
    config = record["config"]
    if args.upright_mnist:
        x, y = upright_mnist_test(args.upright_mnist)
        where = f"upright MNIST test set ({args.upright_mnist})"
    else:
        testfn = args.testfn or config["valfn"]
        x, y = mnist_rot.load_split(args.datadir, testfn)
        where = os.path.join(args.datadir, testfn)
        if testfn == config["valfn"] and config.get("val_size"):
            x, y = x[:config["val_size"]], y[:config["val_size"]]  # as the run did
    _, error = error_rate(model, x, y, normalization, args.batchsize)
    epochs = (record.get("settings") or {}).get("epochs", config["epochs"])  # with --steps: the epochs they took
    line = (f"{type(model).__name__} seed {config['seed']} (epoch {record['snapshot_epoch']} of "
            f"{epochs}): test error {100 * error:.2f}% on {where}, {len(y)} images")
    summary_path = os.path.join(args.run_folder, SUMMARY_FILE)
    if not args.upright_mnist and (args.testfn in (None, config["valfn"])) and os.path.isfile(summary_path):
        with open(summary_path) as f:
            line += f" (recorded by the run: {100 * json.load(f)['test_error']:.2f}%)"
    print(line)


if __name__ == "__main__":
    sys.exit(main())

"""Evaluate the weights of an MNIST-rot run folder (a published run of results/mnist_rot, or any
run of MNIST_ROT/train.py) on a test set: the run's own test file, or the official MNIST test set
upright (10,000 digits, unrotated: the cross-test of the tiny paper).

A run folder holds what is needed to rebuild the trained network: run.json (the resolved
settings, the model's name and the sha256 of its file) and snapshot.h5 (weights and the BN
statistics of the last evaluation; a plain Chainer HDF5 file of the model, as
``chainer.serializers.save_hdf5`` writes it, is read too: its weights only, its epoch unknown).
The model class is the folder's copy of the model file where there is one (training writes it),
imported only when its sha256 is the one run.json records (gconv_experiments.run_model), else
the package's model of that name (published runs keep no copy: a warning says when the
package's file differs from the one the run trained with).
The input normalisation of ``--normalization train_scalar`` (mean and std of the training
pixels) is the one the run recorded in run.json ("settings"); a run.json without it (written
before runs recorded it, e.g. the published runs) is normalised as the run was, from its
training file: read from --datadir, it must be the file the run was trained on (its sha256 is
checked against run.json), so rebuild the data first with
``python -m gconv_experiments.MNIST_ROT.mnist_rot --from-mnist MNIST_DIR --datadir DIR``.

The run's own test file is recognised by its sha256 (in run.json): beside it the command prints
the error the run recorded; on any other file it says that the recorded number is not comparable.

Usage:
    python -m gconv_experiments.MNIST_ROT.evaluate RUN_FOLDER --datadir DIR [--testfn test.npz]
    python -m gconv_experiments.MNIST_ROT.evaluate RUN_FOLDER --datadir DIR --upright-mnist MNIST_DIR

Python: ``model, record = load_run(folder)``; ``model.logits(x)`` maps float32 (N, 1, 28, 28)
pixels normalised with ``input_normalization(record, datadir)`` to logits (N, 10).
"""
import argparse
import os
import sys

import chainer
import h5py
import numpy as np

from gconv_experiments.command_errors import run_command
from gconv_experiments.file_digest import sha256_file
from gconv_experiments.MNIST_ROT import mnist_rot
from gconv_experiments.run_model import run_model_class
from gconv_experiments.sweep.runs import read_summary
from gconv_experiments.training import (
    RUN_FILE, SNAPSHOT_FILE, SUMMARY_FILE, ConfigError, build_model, load_weights, read_record)
from gconv_experiments.training.data import normalization_constants, normalize, train_subset_indices
from gconv_experiments.training.loop import evaluate

__all__ = ["load_run", "input_normalization", "upright_mnist_test", "error_rate", "main"]

_BUILD = "python -m gconv_experiments.MNIST_ROT.mnist_rot --from-mnist MNIST_DIR --datadir DIR"


MODELS_PACKAGE = "gconv_experiments.MNIST_ROT.models"
# the settings of run.json's "config" that rebuilding and evaluating a run reads
NEEDED_SETTINGS = ("modelfn", "net_kwargs", "seed", "epochs", "trainfn", "valfn")


def load_run(folder: str) -> tuple:
    """(model, record) of the run folder `folder`: the model class from the folder's copy of the
    model file (verified against run.json) or the package, built with the run's net_kwargs,
    weights and BN statistics from snapshot.h5. record = run.json plus 'snapshot_epoch' (None for
    a plain Chainer HDF5 file without one). ConfigError naming the file when something is
    missing or does not fit."""
    record_path = _need(folder, RUN_FILE)
    record = read_record(record_path)
    config = record["config"]
    missing = [key for key in NEEDED_SETTINGS if key not in config]
    if missing:
        raise ConfigError(f"{record_path}: the run record's 'config' has no {', '.join(map(repr, missing))} "
                          f"(expected a run.json written by MNIST_ROT/train.py)")
    if not isinstance(config["net_kwargs"], dict):
        raise ConfigError(f"{record_path}: 'net_kwargs' must be an object, got {config['net_kwargs']!r}")
    cls = run_model_class(folder, record, MODELS_PACKAGE)
    snapshot = _need(folder, SNAPSHOT_FILE)
    model = load_weights(snapshot, build_model(cls, config["net_kwargs"]))
    with h5py.File(snapshot, "r") as f:
        epoch = f.attrs.get("epoch")
    return model, dict(record, snapshot_epoch=None if epoch is None else int(epoch))


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
    """Evaluate the run folder of the command line `args` and print the result line (and a note
    when the test file is not the run's own)."""
    if args.batchsize < 1:
        raise ConfigError(f"--batchsize must be a positive integer, got {args.batchsize}")
    model, record = load_run(args.run_folder)
    normalization = input_normalization(record, args.datadir)
    config = record["config"]
    note = None
    if args.upright_mnist:
        x, y = upright_mnist_test(args.upright_mnist)
        where = f"upright MNIST test set ({args.upright_mnist})"
    else:
        testfn = args.testfn or config["valfn"]
        x, y = mnist_rot.load_split(args.datadir, testfn)
        where = os.path.join(args.datadir, testfn)
        same, note = _same_test_file(where, record, args.run_folder)
        if same and config.get("val_size"):
            x, y = x[:config["val_size"]], y[:config["val_size"]]  # as the run did
    _, error = error_rate(model, x, y, normalization, args.batchsize)
    epochs = (record.get("settings") or {}).get("epochs", config["epochs"])  # with --steps: the epochs they took
    at = ("a snapshot without an epoch" if record["snapshot_epoch"] is None
          else f"epoch {record['snapshot_epoch']}")
    line = (f"{type(model).__name__} seed {config['seed']} ({at} of {epochs}): test error {100 * error:.2f}% "
            f"on {where}, {len(y)} images")
    if note is None and not args.upright_mnist:
        summary, _ = read_summary(os.path.join(args.run_folder, SUMMARY_FILE))
        if summary is not None:
            line += f" (recorded by the run: {100 * summary['test_error']:.2f}%)"
    print(line)
    if note:
        print(note)


def _same_test_file(path: str, record: dict, folder: str) -> tuple:
    """(whether `path` is the run's own test file by its sha256 in run.json, a note saying why
    the recorded error is not comparable, or None when it is)."""
    recorded = ((record.get("data") or {}).get("valfn") or {}).get("sha256")
    record_path = os.path.join(folder, RUN_FILE)
    if not isinstance(recorded, str):
        return False, (f"note: {record_path} records no sha256 of the run's test file, so this one cannot be "
                       f"compared with it; the error the run recorded is not shown")
    actual = sha256_file(path)
    if actual == recorded:
        return True, None
    summary, _ = read_summary(os.path.join(folder, SUMMARY_FILE))
    recorded_error = "" if summary is None else f" ({100 * summary['test_error']:.2f}%)"
    return False, (f"note: this test file differs from the run's (sha256 {actual} vs {recorded} in "
                   f"{record_path}); the error the run recorded{recorded_error} is not comparable")


if __name__ == "__main__":
    sys.exit(main())

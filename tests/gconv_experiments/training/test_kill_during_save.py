"""The snapshot write is atomic even when the process dies inside it: a child process is killed
(SIGKILL) in the middle of writing the epoch-2 snapshot's HDF5 datasets; the epoch-1 snapshot
stays intact, the next start removes the partial temporary file, and --resume ends bit-for-bit
where an uninterrupted run does."""
import os
import subprocess
import sys

import numpy as np

from gconv_experiments.MNIST_ROT import train

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CHILD = """
import importlib, os, signal, sys
import h5py
run = importlib.import_module("gconv_experiments.training.run_folder")
from gconv_experiments.MNIST_ROT import train
original_save, original_create = run.save_snapshot, h5py.Group.create_dataset
written = [0]

def create_then_die(self, *args, **kwargs):
    written[0] += 1
    if written[0] == 4:  # a few datasets are in the temporary file: die mid-write
        self.file.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return original_create(self, *args, **kwargs)

def save(path, model, optimizer, epoch):
    if epoch == 2:
        h5py.Group.create_dataset = create_then_die
    return original_save(path, model, optimizer, epoch)

run.save_snapshot = save
train.main(sys.argv[1:])
"""


def test_a_kill_inside_the_snapshot_write_keeps_the_old_snapshot(datadir, tmp_path, tiny):
    common = tiny.SMALL + ["--datadir", datadir, "--seed", "3"]
    one, three, killed = (str(tmp_path / n) for n in ("one", "three", "killed"))
    train.main(common + ["--resultdir", one, "--epochs", "1"])
    train.main(common + ["--resultdir", three, "--epochs", "3"])
    proc = subprocess.run([sys.executable, "-c", CHILD] + common + ["--resultdir", killed, "--epochs", "3"],
                          env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode == -9, proc.stderr
    partial = [n for n in os.listdir(killed) if n.startswith(".snapshot.h5.")]
    assert len(partial) == 1  # the kill happened inside the write
    params, epoch = tiny.snapshot(killed)
    expected, _ = tiny.snapshot(one)
    assert epoch == 1 and sorted(params) == sorted(expected)
    for name in params:
        np.testing.assert_array_equal(params[name], expected[name], err_msg=name)
    summary = train.main(["--resultdir", killed, "--resume"])
    assert not [n for n in os.listdir(killed) if n.startswith(".")]
    a, b = tiny.snapshot(three), tiny.snapshot(killed)
    assert a[1] == b[1] == 3
    for name in a[0]:
        np.testing.assert_array_equal(a[0][name], b[0][name], err_msg=name)
    assert summary["test_error"] == tiny.strict_json(os.path.join(three, "summary.json"))["test_error"]

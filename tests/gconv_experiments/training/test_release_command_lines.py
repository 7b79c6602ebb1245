"""The released train.py command lines run unchanged on tiny data: every flag of the release's
MNIST_ROT/train.py and CIFAR10/train.py parsers, given explicitly, with its release meaning
($DATADIR for MNIST, --lr_decay_factor 0 = no decay, --gpu -1 = CPU)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPTS = os.path.join(REPO, "gconv_experiments")


def _log(out):
    with open(os.path.join(out, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_release_mnist_train_command_line(datadir, tmp_path):
    """Release flags: modelfn trainfn valfn epochs batchsize opt opt_kwargs net_kwargs
    transformations val_freq save_freq seed gpu; the data folder comes from $DATADIR."""
    argv = [sys.executable, os.path.join(SCRIPTS, "MNIST_ROT", "train.py"), "--modelfn=MNIST_ROT/models/P4CNN.py",
            "--trainfn=train_all.npz", "--valfn=test.npz", "--epochs=2", "--batchsize=32", "--opt=Adam",
            "--opt_kwargs={'alpha': 0.001}", "--net_kwargs={}", "--transformations=rotation", "--val_freq=2",
            "--save_freq=1", "--seed=0", "--gpu=-1"]
    proc = subprocess.run(argv, cwd=str(tmp_path), env=dict(os.environ, DATADIR=datadir), capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "results" / "P4CNN_seed0"
    log = _log(out)
    assert [e["epoch"] for e in log] == [1, 2] and log[0]["val_error"] is None and log[1]["val_error"] is not None
    with open(out / "run.json") as f:
        record = json.load(f)
    assert record["data"]["trainfn"]["path"] == os.path.join(datadir, "train_all.npz")
    assert record["config"]["opt_kwargs"]["alpha"] == 0.001 and record["config"]["transformations"] == ["rotation"]
    assert (out / "P4CNN.py").read_text() == open(os.path.join(SCRIPTS, "MNIST_ROT", "models", "P4CNN.py")).read()


def test_release_cifar_train_command_line(tmp_path):
    """Release flags: datadir resultdir modelfn trainfn valfn epochs batchsize opt opt_kwargs
    net_kwargs weight_decay lr_decay_schedule lr_decay_factor transformations val_freq save_freq
    gpu seed; --lr_decay_factor 0. (the release default) means no decay."""
    rng = np.random.default_rng(0)
    for name, n in (("train_all.npz", 16), ("test.npz", 8)):
        np.savez(tmp_path / name, data=rng.standard_normal((n, 3, 32, 32)).astype(np.float32),
                 labels=rng.integers(0, 10, n).astype(np.int32))
    out = tmp_path / "res"
    argv = [sys.executable, os.path.join(SCRIPTS, "CIFAR10", "train.py"), f"--datadir={tmp_path}",
            f"--resultdir={out}", "--modelfn=CIFAR10/models/AllCNNC.py", "--trainfn=train_all.npz",
            "--valfn=test.npz", "--epochs=2", "--batchsize=16", "--opt=MomentumSGD", "--opt_kwargs={'lr': 0.05}",
            "--net_kwargs={}", "--weight_decay=0.001", "--lr_decay_schedule=1", "--lr_decay_factor=0.",
            "--transformations=translate_hflip", "--val_freq=1", "--save_freq=1", "--gpu=-1", "--seed=0"]
    proc = subprocess.run(argv, cwd=str(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert [e["lr"] for e in _log(out)] == pytest.approx([0.05, 0.05])  # factor 0: the schedule is ignored
    with open(out / "run.json") as f:
        config = json.load(f)["config"]
    assert config["weight_decay"] == 0.001 and config["transformations"] == ["translate_hflip"]
    assert os.path.isfile(out / "AllCNNC.py")

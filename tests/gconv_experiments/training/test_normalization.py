"""--normalization train_scalar: two scalars from the training pixels, applied to every split."""
import os

import numpy as np
import pytest

from gconv_experiments import training
from gconv_experiments.MNIST_ROT import train
from gconv_experiments.training.prepare import normalize_splits


def test_constants_from_the_training_pixels_applied_to_every_split():
    train_x = np.array([1.0, 3.0, 1.0, 3.0], np.float32).reshape(1, 1, 2, 2)  # mean 2, std 1 (by hand)
    splits = {"trainfn": (train_x, np.zeros(1, np.int32)),
              "valfn": (np.full((1, 1, 2, 2), 5.0, np.float32), np.zeros(1, np.int32)),
              "testfn": (np.full((1, 1, 2, 2), -1.0, np.float32), np.zeros(1, np.int32))}
    out, constants = normalize_splits(splits, "train_scalar")
    assert constants == (2.0, 1.0)
    np.testing.assert_array_equal(out["trainfn"][0].ravel(), [-1, 1, -1, 1])
    assert np.all(out["valfn"][0] == 3.0) and np.all(out["testfn"][0] == -3.0)
    assert out["valfn"][0].dtype == np.float32
    same, constants = normalize_splits(splits, "none")
    assert constants == (0.0, 1.0) and same["valfn"][0] is splits["valfn"][0]
    with pytest.raises(training.ConfigError, match="std 0.0"):
        normalize_splits({"trainfn": (np.ones((2, 1, 2, 2), np.float32), None)}, "train_scalar")


RECORDER = """
import os
import chainer
import numpy as np
from gconv_experiments.MNIST_ROT.models.Z2CNN import Z2CNN


class Recorder(Z2CNN):
    def logits(self, x):
        mode = "step" if chainer.config.train and chainer.config.enable_backprop else (
            "train" if chainer.config.train else "eval")
        v = np.asarray(x, np.float64)
        with open(os.environ["RECORD"], "a") as f:
            f.write(f"{mode} {float(v.sum())!r} {float((v * v).sum())!r} {v.size}\\n")
        return super().logits(x)
"""


def test_the_model_sees_training_pixels_normalised_and_the_validation_set_with_their_constants(
        datadir, tmp_path, tiny, monkeypatch):
    model_file = tmp_path / "Recorder.py"
    model_file.write_text(RECORDER)
    record = tmp_path / "record.txt"
    monkeypatch.setenv("RECORD", str(record))
    train.main(["--modelfn", str(model_file), "--net_kwargs", "{'channels': 4}", "--batchsize", "16", "--quiet",
                "--datadir", datadir, "--resultdir", str(tmp_path / "run"), "--epochs", "1"])
    lines = [line.split() for line in record.read_text().splitlines()]
    steps = np.array([[float(a), float(b), int(n)] for mode, a, b, n in lines if mode == "step"])
    last_train = max(i for i, line in enumerate(lines) if line[0] != "eval")
    evals = np.array([[float(a), float(b), int(n)] for mode, a, b, n in lines[last_train + 1:]])
    n = steps[:, 2].sum()
    mean, second = steps[:, 0].sum() / n, steps[:, 1].sum() / n
    assert n == 64 * 28 * 28 and abs(mean) < 1e-5 and second == pytest.approx(1.0, rel=1e-5)
    x = np.load(os.path.join(datadir, "train_all.npz"))["data"].astype(np.float64)
    m = x.mean()
    s = np.sqrt(((x - m) ** 2).mean())
    v = (np.load(os.path.join(datadir, "test.npz"))["data"].astype(np.float64) - m) / s
    assert evals[:, 2].sum() == v.size
    assert evals[:, 0].sum() == pytest.approx(v.sum(), rel=1e-5, abs=1e-2)
    assert evals[:, 1].sum() == pytest.approx((v * v).sum(), rel=1e-5)

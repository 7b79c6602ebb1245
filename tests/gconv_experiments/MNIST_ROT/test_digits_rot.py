"""Tests for gconv_experiments/MNIST_ROT/digits_rot.py, the embedded rotated-digits demo set."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits

from gconv_experiments.augmentation import rotate
from gconv_experiments.MNIST_ROT import digits_rot as dr
from gconv_experiments.MNIST_ROT import mnist_rot as mr

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_upscale_keeps_values_orientation_and_mnist_layout():
    flat = dr.upscale_digits(np.full((1, 8, 8), 0.75))[0]
    assert flat.shape == (28, 28) and flat.dtype == np.float32
    np.testing.assert_allclose(flat[4:24, 4:24], 0.75, rtol=1e-6)
    assert flat[:4].sum() == flat[24:].sum() == flat[:, :4].sum() == flat[:, 24:].sum() == 0
    corner = np.zeros((1, 8, 8))
    corner[0, 0, 1] = 1.0  # top row, left half
    up = dr.upscale_digits(corner)[0]
    rows, cols = np.nonzero(up)
    assert rows.max() < 10 and cols.max() < 14 and up.max() <= 1.0
    with pytest.raises(ValueError, match=r"\(N, 8, 8\)"):
        dr.upscale_digits(np.zeros((2, 28, 28)))


def test_make_digits_rot_is_rotated_upscaled_sklearn_digits():
    train, test = dr.make_digits_rot(n_train=60, n_test=40, seed=1)
    digits = load_digits()
    for split, n in ((train, 60), (test, 40)):
        assert split["data"].shape == (n, 1, 28, 28) and split["data"].dtype == np.float32
        assert split["labels"].dtype == np.int32 and split["data"].min() >= 0 and split["data"].max() <= 1
        np.testing.assert_array_equal(split["labels"], digits.target[split["digits_index"]])
        upright = dr.upscale_digits(digits.images[split["digits_index"]] / 16.0)[:, None]
        np.testing.assert_allclose(split["data"], rotate(upright, split["angles"]), atol=1e-6)
        assert split["angles"].min() >= 0 and split["angles"].max() < 2 * np.pi
    assert not set(train["digits_index"]) & set(test["digits_index"])


def test_default_split_uses_disjoint_digits_and_covers_angles_and_classes():
    train, test = dr.make_digits_rot()
    assert len(train["labels"]) == dr.N_TRAIN and len(test["labels"]) == dr.N_TEST
    assert dr.N_TRAIN + dr.N_TEST <= dr.N_DIGITS
    assert len(set(train["digits_index"]) | set(test["digits_index"])) == dr.N_TRAIN + dr.N_TEST
    for split in (train, test):
        assert (np.histogram(split["angles"], bins=12, range=(0, 2 * np.pi))[0] > 0).all()
        assert (np.bincount(split["labels"], minlength=10) > 0.5 * len(split["labels"]) / 10).all()


def test_load_digits_rot_interface_and_determinism():
    a = dr.load_digits_rot(n_train=30, n_test=20, seed=4)
    b = dr.load_digits_rot(n_train=30, n_test=20, seed=4)
    c = dr.load_digits_rot(n_train=30, n_test=20, seed=5)
    assert sorted(a) == ["test", "train"]
    for key in a:
        data, labels = a[key]
        assert data.shape == (len(labels), 1, 28, 28) and data.dtype == np.float32 and labels.dtype == np.int32
        np.testing.assert_array_equal(data, b[key][0])
        np.testing.assert_array_equal(labels, b[key][1])
        assert not np.array_equal(data, c[key][0])


@pytest.mark.parametrize("kwargs,message", [
    ({"n_train": 1500, "n_test": 400}, r"n_train \+ n_test = 1500 \+ 400 exceeds the 1797 digits"),
    ({"n_train": 0}, r"n_train must be a positive integer, got 0"),
    ({"n_test": 2.5}, r"n_test must be a positive integer, got 2\.5"),
])
def test_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dr.make_digits_rot(**kwargs)


def test_save_writes_mnist_rot_files(tmp_path):
    paths = dr.save_digits_rot(tmp_path, n_train=50, n_test=30, n_valid=10, seed=2)
    assert sorted(os.listdir(tmp_path)) == ["test.npz", "train.npz", "train_all.npz", "valid.npz"]
    sets = {name: mr.load_split(tmp_path, name) for name in paths}
    assert [len(sets[n][1]) for n in ("train_all", "train", "valid", "test")] == [50, 40, 10, 30]
    np.testing.assert_array_equal(np.concatenate([sets["train"][0], sets["valid"][0]]), sets["train_all"][0])
    expected = dr.load_digits_rot(n_train=50, n_test=30, seed=2)
    np.testing.assert_array_equal(sets["test"][0], expected["test"][0])


def test_cli(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "gconv_experiments.MNIST_ROT.digits_rot", "--datadir", str(tmp_path)]
    ok = subprocess.run(cmd + ["--n-train", "40", "--n-test", "20", "--n-valid", "5"],
                        capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert mr.load_split(tmp_path, "valid")[0].shape == (5, 1, 28, 28)
    bad = subprocess.run(cmd + ["--n-train", "1797"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("digits_rot: error: n_train + n_test")
    assert "Traceback" not in bad.stderr

"""MNIST6-180 / MNIST6-M built from tiny generated IDX files: counts, labels, the rotation or
mirror really applied, byte-identical rebuilds, the format MNIST_ROT/train.py reads, clear
errors; and the image counts of the real MNIST files when they are present."""
import gzip
import os
import subprocess
import sys

import numpy as np
import pytest

from gconv_experiments.MNIST6 import mnist6
from gconv_experiments.MNIST_ROT.mnist_rot import load_split

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _idx(array, magic):
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_mnist(folder, n_train=60, n_test=30, seed=0):
    """Random 28x28 'digits' with labels 0..9 in a random order, as the four IDX .gz files."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sets = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images, 0x803)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(labels, 0x801)))
        sets[split] = (images, labels)
    return sets


@pytest.fixture
def mnist(tmp_path):
    return tmp_path / "mnist", write_mnist(tmp_path / "mnist")


@pytest.mark.parametrize("variant", ["rot180", "mirror"])
def test_counts_labels_and_transform(mnist, variant):
    folder, sets = mnist
    train_all, test = mnist6.make_mnist6(str(folder), variant)
    for split, (images, labels) in zip((train_all, test), (sets["train"], sets["test"])):
        sixes = np.flatnonzero(labels == 6)
        s = len(sixes)
        assert s == len(labels) // 10  # the generator puts one six in every ten images
        assert split["data"].shape == (2 * s, 1, 28, 28) and split["data"].dtype == np.float32
        assert split["labels"].dtype == np.int32
        np.testing.assert_array_equal(split["labels"], [0] * s + [1] * s)
        np.testing.assert_array_equal(split["mnist_index"], np.r_[sixes, sixes])
        original = images[sixes].astype(np.float32) / 255
        np.testing.assert_array_equal(split["data"][:s, 0], original)
        copy = split["data"][s:, 0]
        if variant == "rot180":  # pixel (i, j) -> (27 - i, 27 - j)
            np.testing.assert_array_equal(copy, original[:, ::-1, ::-1])
        else:  # left and right swapped: (i, j) -> (i, 27 - j)
            np.testing.assert_array_equal(copy, original[:, :, ::-1])
        assert not np.array_equal(copy, original)
        assert 0.0 <= split["data"].min() and split["data"].max() <= 1.0


def test_files_are_byte_identical_on_rebuild_and_read_by_mnist_rot(mnist, tmp_path):
    folder, _ = mnist
    for out in ("a", "b"):
        assert mnist6.main(["--from-mnist", str(folder), "--datadir", str(tmp_path / out),
                            "--variant", "mirror"]) == 0
    for name in ("train_all.npz", "test.npz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    data, labels = load_split(str(tmp_path / "a"), "train_all")
    assert data.shape == (12, 1, 28, 28) and labels.tolist() == [0] * 6 + [1] * 6
    with np.load(tmp_path / "a" / "test.npz") as f:
        assert sorted(f.files) == ["data", "labels", "mnist_index"]


def test_train_py_runs_on_mnist6(mnist, tmp_path):
    from gconv_experiments.MNIST_ROT import train
    folder, _ = mnist
    datadir = str(tmp_path / "data")
    mnist6.main(["--from-mnist", str(folder), "--datadir", datadir, "--variant", "rot180"])
    summary = train.main(["--modelfn", "PartialP4CNN", "--net_kwargs", "{'n_classes': 2, 'channels': 2}",
                          "--datadir", datadir, "--resultdir", str(tmp_path / "run"), "--epochs", "1",
                          "--batchsize", "4", "--quiet"])
    assert summary is not None and os.path.isfile(tmp_path / "run" / "snapshot.h5")


@pytest.mark.parametrize("break_it,match", [
    (lambda d: (d / "t10k-labels-idx1-ubyte.gz").unlink(), r"missing t10k-labels-idx1-ubyte\.gz"),
    (lambda d: (d / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip"),
     r"train-images-idx3-ubyte\.gz: corrupt or truncated file"),
])
def test_bad_input_gives_one_line_naming_the_file(mnist, tmp_path, capsys, break_it, match):
    folder, _ = mnist
    break_it(folder)
    assert mnist6.main(["--from-mnist", str(folder), "--datadir", str(tmp_path / "o"),
                        "--variant", "rot180"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    import re
    assert re.search(match, err)
    assert not (tmp_path / "o").exists()


def test_wrong_variant_and_no_sixes(mnist, tmp_path, capsys):
    folder, sets = mnist
    assert mnist6.main(["--from-mnist", str(folder), "--datadir", str(tmp_path / "o"),
                        "--variant", "rot90"]) == 2
    assert capsys.readouterr().err == "error: --variant 'rot90': expected one of 'rot180', 'mirror'\n"
    with pytest.raises(ValueError, match="variant 'flip': expected one of"):
        mnist6.transform(np.zeros((1, 28, 28)), "flip")
    images, labels = sets["test"]
    with pytest.raises(ValueError, match=r"t10k: no image labelled 6"):
        mnist6.make_split(images, np.where(labels == 6, 5, labels), "rot180", name="t10k")


def test_command_line_module(mnist, tmp_path):
    folder, _ = mnist
    env = dict(os.environ, PYTHONPATH=REPO)
    done = subprocess.run([sys.executable, "-m", "gconv_experiments.MNIST6.mnist6", "--from-mnist",
                           str(folder), "--datadir", str(tmp_path / "o"), "--variant", "rot180"],
                          capture_output=True, text=True, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "train_all.npz: 12 images (label 0: 6, label 1 rotated by 180 degrees: 6)" in done.stdout


def test_real_mnist_counts(shared_data_dir, tmp_path):
    """MNIST has 5,918 training and 958 test sixes: 11,836 and 1,916 images (the paper's
    11,836 training images)."""
    folder = shared_data_dir / "mnist"
    if not (folder / "train-labels-idx1-ubyte.gz").is_file():
        pytest.skip("raw MNIST not present")
    train_all, test = mnist6.make_mnist6(str(folder), "rot180")
    assert len(train_all["labels"]) == 11836 and len(test["labels"]) == 1916

"""Tests for gconv_experiments/MNIST_ROT/mnist_rot.py on tiny files in the official formats
(amat text, zip, gzipped IDX), one test on the real MNIST files, and every bad-input case."""
import gzip
import os
import pathlib
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from gconv_experiments.augmentation import rotate
from gconv_experiments.MNIST_ROT import mnist_rot as mr

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]


# ------------------------------------------------------------------ helpers: official formats

def _images(n, seed):
    """n asymmetric float32 images (multiples of 1/255) with a distinct 'L' stroke each."""
    rng = np.random.default_rng(seed)
    img = (rng.integers(0, 256, size=(n, 28, 28)) * (rng.random((n, 28, 28)) < 0.2)).astype(np.float32) / 255
    img[:, 3:20, 6] = 1.0
    img[:, 19, 6:16] = 1.0
    return img


def _amat_text(images, labels):
    rows = np.concatenate([images.reshape(len(images), -1).astype(np.float64),
                           np.asarray(labels, np.float64)[:, None]], axis=1)
    return "".join(" ".join(f"{v:.9e}" for v in row) + "\n" for row in rows)


def _official(tmp_path, n_train_all=30, n_test=20):
    train = (_images(n_train_all, 1), np.arange(n_train_all) % 10)
    test = (_images(n_test, 2), (np.arange(n_test) * 3) % 10)
    texts = {mr.OFFICIAL_TRAIN: _amat_text(*train), mr.OFFICIAL_TEST: _amat_text(*test)}
    return train, test, texts


def _write_zip(path, texts, folder="mnist_rotation_new/"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in texts.items():
            zf.writestr(folder + name, text)
    return path


def _idx_bytes(array, magic):
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _write_mnist(folder, n_train=300, n_test=100, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sets = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        prefix = "train" if split == "train" else "t10k"
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(images, 0x803)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(labels, 0x801)))
        sets[split] = (images, labels)
    return sets


def _run_cli(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "gconv_experiments.MNIST_ROT.mnist_rot", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=str(REPO_ROOT), timeout=120)


def _load(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


# ------------------------------------------------------------------ official amat -> npz

@pytest.mark.parametrize("layout", ["zip", "zip_in_folder", "amat_folder"])
def test_official_round_trip_split_and_orientation(tmp_path, layout):
    train, test, texts = _official(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    if layout == "amat_folder":
        for name, text in texts.items():
            (src / name).write_text(text)
        source = src
    else:
        source = _write_zip(src / mr.OFFICIAL_ZIP, texts)
        source = src if layout == "zip_in_folder" else source
    out = tmp_path / "out"
    assert mr.main([str(a) for a in ("--datadir", out, "--source", source, "--n-train-all", 30,
                                     "--n-test", 20, "--n-valid", 8)]) == 0
    assert sorted(os.listdir(out)) == ["test.npz", "train.npz", "train_all.npz", "valid.npz"]
    files = {name: _load(out / f"{name}.npz") for name in mr.SPLITS}
    for name, f in files.items():
        assert sorted(f) == ["data", "labels"]
        assert f["data"].dtype == np.float32 and f["labels"].dtype == np.int32
        assert f["data"].shape == (len(f["labels"]), 1, 28, 28)
    # Exact round trip, with row value k at pixel (k // 28, k % 28): the 'L' is not transposed.
    np.testing.assert_array_equal(files["train_all"]["data"][:, 0], train[0])
    np.testing.assert_array_equal(files["train_all"]["labels"], train[1])
    np.testing.assert_array_equal(files["test"]["data"][:, 0], test[0])
    np.testing.assert_array_equal(files["test"]["labels"], test[1])
    assert files["test"]["data"][0, 0, 10, 6] == 1.0 and files["test"]["data"][0, 0, 19, 12] == 1.0
    # train = first 22 rows, valid = last 8 rows.
    np.testing.assert_array_equal(files["train"]["data"], files["train_all"]["data"][:22])
    np.testing.assert_array_equal(files["valid"]["data"], files["train_all"]["data"][22:])
    np.testing.assert_array_equal(np.concatenate([files["train"]["labels"], files["valid"]["labels"]]),
                                  files["train_all"]["labels"])
    assert [n for n in os.listdir(out) if n.endswith(".tmp")] == []
    data, labels = mr.load_split(out, "valid")
    np.testing.assert_array_equal(data, files["valid"]["data"])


def test_parse_amat_tolerates_blank_lines_and_integer_labels():
    row = " ".join(["0.5"] * 784)
    data, labels = mr.parse_amat(["\n", row + " 7\n", "   \n", "  " + row + "\t3.0  \n"], "x.amat")
    assert data.shape == (2, 1, 28, 28) and labels.tolist() == [7, 3] and (data == 0.5).all()


def test_amat_block_boundaries_report_the_right_line():
    lines = _amat_text(_images(9, 0), np.arange(9)).splitlines(True)
    lines[6] = lines[6].replace("e+00\n", "e+00 1\n")
    with pytest.raises(ValueError, match=r"line 7: found 786 values, expected 785"):
        mr.parse_amat(lines, "f.amat", block_rows=4)


def _corrupt(texts, line_index, transform):
    name = mr.OFFICIAL_TRAIN
    lines = texts[name].splitlines(True)
    lines[line_index] = transform(lines[line_index])
    return dict(texts, **{name: "".join(lines)})


BAD_AMAT = {
    "short_row": (lambda l: l.split(" ", 1)[1], r"line 3: found 784 values, expected 785 \(784 pixel"),
    "long_row": (lambda l: "0 " + l, r"line 3: found 786 values, expected 785"),
    "not_numbers": (lambda l: l.replace("e-", "x-", 1) if "e-" in l else "abc " + l,
                    r"line 3: could not read the row as numbers"),
    "label_10": (lambda l: l.rsplit(" ", 1)[0] + " 10\n", r"line 3, field 785 \(label\): got 10, expected an integer label in 0..9"),
    "label_fraction": (lambda l: l.rsplit(" ", 1)[0] + " 2.5\n", r"line 3, field 785 \(label\): got 2.5"),
    "label_negative": (lambda l: l.rsplit(" ", 1)[0] + " -1\n", r"line 3, field 785 \(label\): got -1"),
    "nan_pixel": (lambda l: "nan " + l.split(" ", 1)[1], r"line 3, field 1: value nan, expected a finite number"),
}


@pytest.mark.parametrize("case", sorted(BAD_AMAT))
@pytest.mark.parametrize("layout", ["zip", "amat_folder"])
def test_bad_amat_rows_name_file_line_and_expectation(tmp_path, case, layout):
    transform, message = BAD_AMAT[case]
    _, _, texts = _official(tmp_path)
    texts = _corrupt(texts, 2, transform)
    if layout == "zip":
        source = _write_zip(tmp_path / mr.OFFICIAL_ZIP, texts, folder="")
    else:
        for name, text in texts.items():
            (tmp_path / name).write_text(text)
        source = tmp_path
    with pytest.raises(ValueError, match=mr.OFFICIAL_TRAIN + ".*" + message):
        mr.read_official(source, n_train_all=None, n_test=None)


def test_wrong_row_count_and_missing_inputs(tmp_path):
    _, _, texts = _official(tmp_path)
    zpath = _write_zip(tmp_path / mr.OFFICIAL_ZIP, texts)
    with pytest.raises(ValueError, match=mr.OFFICIAL_TRAIN + r": found 30 rows, expected 12000"):
        mr.read_official(zpath)
    with pytest.raises(ValueError, match=r"nothing\.zip: no such file"):
        mr.read_official(tmp_path / "nothing.zip")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: found neither mnist_rotation_new\.zip nor both"):
        mr.read_official(tmp_path / "empty")
    _write_zip(tmp_path / "partial.zip", {mr.OFFICIAL_TRAIN: texts[mr.OFFICIAL_TRAIN]})
    with pytest.raises(ValueError, match=r"partial\.zip: archive has no member " + mr.OFFICIAL_TEST):
        mr.read_official(tmp_path / "partial.zip", n_train_all=None, n_test=None)
    (tmp_path / "blank.amat").write_text("\n\n")
    with pytest.raises(ValueError, match=r"blank\.amat: no data rows"):
        mr.parse_amat(open(tmp_path / "blank.amat"), str(tmp_path / "blank.amat"))


def test_truncated_and_corrupt_zip(tmp_path):
    _, _, texts = _official(tmp_path)
    whole = _write_zip(tmp_path / "whole.zip", texts).read_bytes()
    (tmp_path / "truncated.zip").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"truncated\.zip: not a readable zip archive"):
        mr.read_official(tmp_path / "truncated.zip", n_train_all=None, n_test=None)
    # Damage the compressed bytes of the first member, leaving the directory intact.
    damaged = bytearray(whole)
    for i in range(200, 260):
        damaged[i] ^= 0x5A
    (tmp_path / "damaged.zip").write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match=r"damaged\.zip:.*corrupt or truncated archive member"):
        mr.read_official(tmp_path / "damaged.zip", n_train_all=None, n_test=None)


def test_cli_errors_exit_2_with_a_one_line_message(tmp_path):
    result = _run_cli("--datadir", tmp_path / "out", "--source", tmp_path / "missing.zip")
    assert result.returncode == 2
    assert result.stderr.startswith("mnist_rot: error: ") and "missing.zip: no such file" in result.stderr
    assert "Traceback" not in result.stderr
    _, _, texts = _official(tmp_path)
    _write_zip(tmp_path / mr.OFFICIAL_ZIP, _corrupt(texts, 4, BAD_AMAT["short_row"][0]))
    result = _run_cli("--datadir", tmp_path / "out", "--source", tmp_path, "--n-train-all", 0, "--n-test", 0)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{mr.OFFICIAL_TRAIN}, line 5: found 784 values, expected 785" in result.stderr
    assert not (tmp_path / "out" / "test.npz").exists()
    result = _run_cli("--datadir", tmp_path / "out", "--from-mnist", tmp_path / "nope")
    assert result.returncode == 2 and "nope: no such folder" in result.stderr


# ------------------------------------------------------------------ raw MNIST -> MNIST-rot-like

def test_from_mnist_sizes_balance_angles_and_provenance(tmp_path):
    sets = _write_mnist(tmp_path / "mnist")
    out = tmp_path / "out"
    assert mr.main([str(a) for a in ("--datadir", out, "--from-mnist", tmp_path / "mnist",
                                     "--n-train-all", 120, "--n-valid", 20, "--n-test", 250,
                                     "--seed", 3)]) == 0
    files = {name: _load(out / f"{name}.npz") for name in mr.SPLITS}
    sizes = {name: len(f["labels"]) for name, f in files.items()}
    assert sizes == {"train_all": 120, "train": 100, "valid": 20, "test": 250}
    images = np.concatenate([sets["train"][0], sets["test"][0]])
    labels = np.concatenate([sets["train"][1], sets["test"][1]])
    for name, f in files.items():
        assert sorted(f) == ["angles", "data", "labels", "mnist_index"]
        assert f["data"].dtype == np.float32 and f["data"].shape == (sizes[name], 1, 28, 28)
        assert f["labels"].dtype == np.int32 and f["data"].min() >= 0 and f["data"].max() <= 1
        # Each image really is its MNIST digit rotated by the recorded angle.
        np.testing.assert_array_equal(f["labels"], labels[f["mnist_index"]])
        expected = rotate(images[f["mnist_index"]][:, None].astype(np.float32) / 255, f["angles"])
        np.testing.assert_allclose(f["data"], expected, atol=1e-6)
        assert f["angles"].min() >= 0 and f["angles"].max() < 2 * np.pi
    train_index, test_index = files["train_all"]["mnist_index"], files["test"]["mnist_index"]
    assert (train_index < 300).all() and len(set(train_index)) == 120
    assert len(set(test_index)) == 250 and not set(train_index) & set(test_index)
    assert (test_index >= 300).sum() > 0  # MNIST test digits are in the pool
    for f, n in ((files["train_all"], 120), (files["test"], 250)):
        assert (np.histogram(f["angles"], bins=8, range=(0, 2 * np.pi))[0] >= n / 8 / 3).all()
        counts = np.bincount(f["labels"], minlength=10)
        assert counts.min() >= 0.4 * n / 10 and counts.max() <= 1.8 * n / 10


def test_from_mnist_is_deterministic_given_the_seed(tmp_path):
    _write_mnist(tmp_path)
    a = mr.make_mnist_rot_like(tmp_path, seed=5, n_train_all=50, n_test=60)
    b = mr.make_mnist_rot_like(tmp_path, seed=5, n_train_all=50, n_test=60)
    c = mr.make_mnist_rot_like(tmp_path, seed=6, n_train_all=50, n_test=60)
    for x, y, z in zip(a, b, c):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
        assert not np.array_equal(x["mnist_index"], z["mnist_index"])
        assert not np.array_equal(x["angles"], z["angles"])


def test_from_mnist_rejects_sizes_larger_than_the_source(tmp_path):
    _write_mnist(tmp_path)
    with pytest.raises(ValueError, match=r"n_train_all=301: expected 1\.\.300"):
        mr.make_mnist_rot_like(tmp_path, n_train_all=301, n_test=10)
    with pytest.raises(ValueError, match=r"n_test=351: expected 1\.\.350"):
        mr.make_mnist_rot_like(tmp_path, n_train_all=50, n_test=351)
    train_all, test = mr.make_mnist_rot_like(tmp_path, n_train_all=50, n_test=10)
    with pytest.raises(ValueError, match=r"n_valid=50: expected 1\.\.49"):
        mr.save_splits(tmp_path / "out", train_all, test, n_valid=50)


def _rewrite(folder, name, data):
    (folder / name).write_bytes(data)


BAD_IDX = {
    "missing": (lambda d, s: (d / "t10k-labels-idx1-ubyte.gz").unlink(),
                r"missing t10k-labels-idx1-ubyte\.gz"),
    "labels_magic": (lambda d, s: _rewrite(d, "train-labels-idx1-ubyte.gz",
                                           gzip.compress(_idx_bytes(s["train"][1], 0x803)[:4] +
                                                         _idx_bytes(s["train"][1], 0x801)[4:])),
                     r"train-labels-idx1-ubyte\.gz: magic number 0x00000803, expected 0x00000801"),
    "images_magic": (lambda d, s: _rewrite(d, "t10k-images-idx3-ubyte.gz",
                                           gzip.compress(b"\x00\x00\x08\x01" + _idx_bytes(s["test"][0], 0x803)[4:])),
                     r"t10k-images-idx3-ubyte\.gz: magic number 0x00000801, expected 0x00000803"),
    "short_data": (lambda d, s: _rewrite(d, "train-images-idx3-ubyte.gz",
                                         gzip.compress(_idx_bytes(s["train"][0], 0x803)[:-784])),
                   r"train-images-idx3-ubyte\.gz: header promises shape \(300, 28, 28\) \(235200 bytes "
                   r"of data\), found 234416 bytes"),
    "truncated_gz": (lambda d, s: _rewrite(d, "train-images-idx3-ubyte.gz",
                                           (d / "train-images-idx3-ubyte.gz").read_bytes()[:5000]),
                     r"train-images-idx3-ubyte\.gz: corrupt or truncated file"),
    "not_gzip": (lambda d, s: _rewrite(d, "t10k-labels-idx1-ubyte.gz", b"plain text, not gzip"),
                 r"t10k-labels-idx1-ubyte\.gz: corrupt or truncated file"),
    "label_12": (lambda d, s: _rewrite(d, "t10k-labels-idx1-ubyte.gz",
                                       gzip.compress(_idx_bytes(np.r_[s["test"][1][:7], 12, s["test"][1][8:]], 0x801))),
                 r"t10k-labels-idx1-ubyte\.gz: label 12 at item 7, expected labels in 0\.\.9"),
    "count_mismatch": (lambda d, s: _rewrite(d, "t10k-labels-idx1-ubyte.gz",
                                             gzip.compress(_idx_bytes(s["test"][1][:99], 0x801))),
                       r"t10k-labels-idx1-ubyte\.gz: 99 labels, expected 100"),
    "image_size": (lambda d, s: _rewrite(d, "t10k-images-idx3-ubyte.gz",
                                         gzip.compress(_idx_bytes(np.zeros((100, 28, 27)), 0x803))),
                   r"t10k-images-idx3-ubyte\.gz: images of 28x27 pixels, expected 28x28"),
}


@pytest.mark.parametrize("case", sorted(BAD_IDX))
def test_bad_idx_files_name_file_and_expectation(tmp_path, case):
    damage, message = BAD_IDX[case]
    sets = _write_mnist(tmp_path)
    damage(tmp_path, sets)
    with pytest.raises(ValueError, match=message):
        mr.make_mnist_rot_like(tmp_path, n_train_all=50, n_test=60)


def test_cli_bad_idx_exits_2(tmp_path):
    sets = _write_mnist(tmp_path / "mnist")
    BAD_IDX["labels_magic"][0](tmp_path / "mnist", sets)
    result = _run_cli("--datadir", tmp_path / "out", "--from-mnist", tmp_path / "mnist",
                      "--n-train-all", 50, "--n-test", 60, "--n-valid", 10)
    assert result.returncode == 2 and result.stderr.startswith("mnist_rot: error: ")
    assert "magic number 0x00000803, expected 0x00000801" in result.stderr and "Traceback" not in result.stderr


def test_real_mnist_small_build(shared_data_dir, tmp_path):
    mnist_dir = shared_data_dir / "mnist"
    if not (mnist_dir / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"{mnist_dir} has no raw MNIST files")
    train_all, test = mr.make_mnist_rot_like(mnist_dir, n_train_all=200, n_test=300)
    mnist = mr.load_mnist(mnist_dir)
    assert mnist["train"][0].shape == (60000, 28, 28) and mnist["test"][0].shape == (10000, 28, 28)
    assert np.bincount(mnist["test"][1]).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert not set(train_all["mnist_index"]) & set(test["mnist_index"])
    for split in (train_all, test):
        assert split["data"].dtype == np.float32 and 0 <= split["data"].min() and split["data"].max() <= 1
        # Rotating back recovers the upright digit (up to two bilinear resamplings).
        source = np.concatenate([mnist["train"][0], mnist["test"][0]])[split["mnist_index"]] / 255.0
        back = rotate(split["data"].astype(np.float64), -split["angles"])[:, 0]
        corr = [np.corrcoef(b.ravel(), s.ravel())[0, 1] for b, s in zip(back, source)]
        assert np.median(corr) > 0.9
    paths = mr.save_splits(tmp_path, train_all, test, n_valid=50)
    assert mr.load_split(tmp_path, "train")[0].shape == (150, 1, 28, 28)
    assert sorted(paths) == sorted(mr.SPLITS)


# ------------------------------------------------------------------ npz reading and writing

def test_load_split_validates(tmp_path):
    good = np.zeros((4, 1, 28, 28), np.float32)
    mr.write_npz(tmp_path / "a.npz", data=good, labels=np.arange(4, dtype=np.int32))
    data, labels = mr.load_split(tmp_path, "a")
    assert data.shape == (4, 1, 28, 28) and labels.dtype == np.int32
    mr.write_npz(tmp_path / "a.npz", data=good, labels=np.array([0, 1, 2, 10]))  # overwrite
    with pytest.raises(ValueError, match=r"a\.npz: labels range 0\.\.10, expected 0\.\.9"):
        mr.load_split(tmp_path, "a")
    mr.write_npz(tmp_path / "b.npz", data=good.astype(np.float64), labels=np.arange(4))
    with pytest.raises(ValueError, match=r"b\.npz: 'data' has shape \(4, 1, 28, 28\) and dtype float64, "
                                         r"expected float32 \(N, 1, 28, 28\)"):
        mr.load_split(tmp_path, "b")
    mr.write_npz(tmp_path / "c.npz", data=good)
    with pytest.raises(ValueError, match=r"c\.npz: missing key\(s\) labels"):
        mr.load_split(tmp_path, "c")
    mr.write_npz(tmp_path / "d.npz", data=good, labels=np.arange(3))
    with pytest.raises(ValueError, match=r"d\.npz: 'labels' has shape \(3,\)"):
        mr.load_split(tmp_path, "d")
    with pytest.raises(ValueError, match=r"test\.npz: no such file"):
        mr.load_split(tmp_path, "test")
    (tmp_path / "e.npz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"e\.npz: not a readable \.npz file"):
        mr.load_split(tmp_path, "e")
    assert sorted(os.listdir(tmp_path)) == ["a.npz", "b.npz", "c.npz", "d.npz", "e.npz"]

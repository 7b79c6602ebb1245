"""evaluate.py: a run folder's weights evaluated again give the run's recorded error; the input
normalisation comes from the run's record, or for older records from the run's own training file
(checked by sha256); the upright MNIST test
set as read from IDX files; and a published weights file of results/mnist_rot evaluated on a
freshly built rotated set."""
import gzip
import json
import os
import shutil

import numpy as np
import pytest

from gconv_experiments.augmentation import rotate
from gconv_experiments.MNIST_ROT import evaluate, mnist_rot, train
from gconv_experiments.training import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PUBLISHED = os.path.join(REPO, "results", "mnist_rot", "released")


def _digits_like(path, n, seed):
    """n images whose class is the row of a bright bar, plus noise, pixels in [0, 1]."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.int32)
    data = rng.uniform(0, 0.3, (n, 1, 28, 28)).astype(np.float32)
    for i, c in enumerate(labels):
        data[i, 0, 3 + 2 * c:5 + 2 * c, 6:22] = 1.0
    np.savez(path, data=data, labels=labels)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished 2-epoch Z2CNN run (train_scalar normalisation, as every MNIST-rot run)."""
    d = tmp_path_factory.mktemp("evaluate")
    datadir = d / "data"
    datadir.mkdir()
    _digits_like(datadir / "train_all.npz", 96, 0)
    _digits_like(datadir / "test.npz", 48, 1)
    folder = d / "run"
    summary = train.main(["--modelfn", "Z2CNN", "--net_kwargs", "{'channels': 4}", "--batchsize", "16",
                          "--quiet", "--epochs", "2", "--datadir", str(datadir), "--resultdir", str(folder)])
    return str(folder), str(datadir), summary


def test_weights_give_the_recorded_error_again(run, capsys):
    folder, datadir, summary = run
    model, record = evaluate.load_run(folder)
    assert record["snapshot_epoch"] == 2 and type(model).__name__ == "Z2CNN"
    x, y = mnist_rot.load_split(datadir, "test")
    loss, error = evaluate.error_rate(model, x, y, evaluate.input_normalization(record, datadir), batchsize=16)
    assert error == summary["test_error"]
    assert loss == pytest.approx(summary["test_loss"], rel=1e-6)
    assert evaluate.main([folder, "--datadir", datadir]) == 0
    out = capsys.readouterr().out
    assert f"test error {100 * summary['test_error']:.2f}%" in out and "recorded by the run" in out


def test_normalization_is_the_training_pixels_mean_and_std(run):
    folder, datadir, _ = run
    _, record = evaluate.load_run(folder)
    shift, scale = evaluate.input_normalization(record, datadir)
    with np.load(os.path.join(datadir, "train_all.npz")) as f:
        pixels = f["data"].astype(np.float64).ravel()
    mean = sum(pixels) / len(pixels)  # by hand, not through numpy's mean
    assert shift == pytest.approx(mean, rel=1e-12)
    assert scale == pytest.approx(np.sqrt(sum((p - mean) ** 2 for p in pixels) / len(pixels)), rel=1e-9)


def test_a_record_without_the_constants_recomputes_the_same_ones(run, tmp_path):
    """run.json files written before runs recorded their input normalisation (the published
    runs) are normalised from the training file, to the same constants; with the record, the
    training file is not read at all."""
    folder, datadir, _ = run
    _, record = evaluate.load_run(folder)
    assert record["settings"]["input_normalization"]["mode"] == "train_scalar"
    recorded = evaluate.input_normalization(record, str(tmp_path / "no_data_here"))
    older = {k: v for k, v in record.items() if k != "settings"}
    assert evaluate.input_normalization(older, datadir) == recorded


def test_another_training_file_is_refused_by_name(run, tmp_path):
    folder, datadir, _ = run
    other = tmp_path / "data"
    shutil.copytree(datadir, other)
    _digits_like(other / "train_all.npz", 96, 7)
    _, record = evaluate.load_run(folder)
    record = {k: v for k, v in record.items() if k != "settings"}  # a run.json of an older run
    with pytest.raises(ConfigError, match=r"train_all\.npz: not the file this run was trained on"):
        evaluate.input_normalization(record, str(other))
    os.remove(other / "train_all.npz")
    with pytest.raises(ConfigError, match=r"train_all\.npz: no such file.*mnist_rot --from-mnist"):
        evaluate.input_normalization(record, str(other))


def test_missing_snapshot_is_named_and_the_command_exits_2(run, tmp_path, capsys):
    folder, datadir, _ = run
    copy = tmp_path / "run"
    shutil.copytree(folder, copy)
    os.remove(copy / "snapshot.h5")
    assert evaluate.main([str(copy), "--datadir", datadir]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{copy / 'snapshot.h5'}: no such file" in err


def _idx(array, magic):
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def test_upright_mnist_is_the_raw_test_digits_scaled(tmp_path):
    rng = np.random.default_rng(3)
    for prefix, n in (("train", 20), ("t10k", 12)):
        images = rng.integers(0, 256, (n, 28, 28))
        (tmp_path / f"{prefix}-images-idx3-ubyte.gz").write_bytes(_idx(images, 0x803))
        (tmp_path / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(_idx(np.arange(n) % 10, 0x801))
    x, y = evaluate.upright_mnist_test(str(tmp_path))
    assert x.shape == (12, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(x[:, 0] * 255, np.rint(x[:, 0] * 255))
    np.testing.assert_array_equal(y, np.arange(12) % 10)
    assert x.max() <= 1.0 and x.min() >= 0.0


@pytest.fixture(scope="module")
def rebuilt_training_dir(shared_data_dir, tmp_path_factory):
    """train_all.npz rebuilt from raw MNIST (the published runs' normalisation comes from it)."""
    d = tmp_path_factory.mktemp("rebuilt")
    train_all, _ = mnist_rot.make_mnist_rot_like(str(shared_data_dir / "mnist"))
    mnist_rot.save_splits(str(d), train_all, {k: v[:10] for k, v in train_all.items()})
    return str(d)


@pytest.mark.parametrize("name", ["Z2CNN", "P4CNN"])
def test_published_weights_on_a_freshly_rotated_set(name, shared_data_dir, rebuilt_training_dir):
    """The committed final weights of released/<model>/seed0, on 2,000 MNIST test digits rotated
    by fresh uniform angles (digits never used for training). The normalisation comes from the
    rebuilt training file, whose sha256 must equal the run record's. Bound: the recorded error
    on the 50k test set +- 4 binomial standard deviations of a 2,000-image estimate + 1 point
    for the different digit pool (MNIST test digits only)."""
    folder = os.path.join(PUBLISHED, name, "seed0")
    if not os.path.isfile(os.path.join(folder, "summary.json")):
        pytest.skip(f"the published run {folder} has not finished yet")
    model, record = evaluate.load_run(folder)
    normalization = evaluate.input_normalization(record, rebuilt_training_dir)  # checks the sha256
    x, y = evaluate.upright_mnist_test(str(shared_data_dir / "mnist"))
    rng = np.random.default_rng(2016)
    pick = rng.choice(len(y), 2000, replace=False)
    rotated = np.clip(rotate(x[pick], rng.uniform(0, 2 * np.pi, len(pick))), 0.0, 1.0)
    _, error = evaluate.error_rate(model, rotated, y[pick], normalization)
    with open(os.path.join(folder, "summary.json")) as f:
        recorded = json.load(f)["test_error"]
    bound = 4 * np.sqrt(recorded * (1 - recorded) / len(pick)) + 0.01
    assert abs(error - recorded) <= bound, (error, recorded, bound)


def test_without_the_model_copy_the_package_model_is_used_and_checked(run, tmp_path, capsys):
    folder, datadir, summary = run
    copy = tmp_path / "run"
    shutil.copytree(folder, copy)
    os.remove(copy / "Z2CNN.py")
    model, record = evaluate.load_run(str(copy))
    x, y = mnist_rot.load_split(datadir, "test")
    _, error = evaluate.error_rate(model, x, y, evaluate.input_normalization(record, datadir), batchsize=16)
    assert error == summary["test_error"] and "warning" not in capsys.readouterr().err
    saved = json.loads((copy / "run.json").read_text())
    saved["config"]["model_sha256"] = "0" * 64  # as if the run had trained with another Z2CNN.py
    (copy / "run.json").write_text(json.dumps(saved))
    evaluate.load_run(str(copy))
    assert "Z2CNN.py differs from the model file this run trained with" in capsys.readouterr().err


def _copy(folder, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(folder, copy)
    return copy


@pytest.mark.parametrize("batchsize", ["-5", "0"])
def test_a_batch_size_below_one_is_one_error_naming_the_flag(run, capsys, batchsize):
    folder, datadir, _ = run
    assert evaluate.main([folder, "--datadir", datadir, "--batchsize", batchsize]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert f"--batchsize must be a positive integer, got {batchsize}" in captured.err


def _test_lines(capsys):
    lines = capsys.readouterr().out.splitlines()
    return lines[0], lines[1:]


def test_another_test_file_is_said_to_differ_from_the_runs(run, tmp_path, capsys):
    """The run's test file is recognised by its sha256, whatever its name: another file (by name,
    or by content under the run's file name) gets a note and no recorded number beside it."""
    folder, datadir, summary = run
    recorded = f"{100 * summary['test_error']:.2f}%"
    other = tmp_path / "data"
    shutil.copytree(datadir, other)
    shutil.copy(other / "test.npz", other / "renamed.npz")
    assert evaluate.main([folder, "--datadir", str(other), "--testfn", "renamed.npz"]) == 0
    first, notes = _test_lines(capsys)
    assert f"(recorded by the run: {recorded})" in first and notes == []

    _digits_like(other / "other.npz", 48, 9)
    _digits_like(other / "test.npz", 48, 10)  # the run's file name, other digits
    run_sha = json.loads(open(os.path.join(folder, "run.json")).read())["data"]["valfn"]["sha256"]
    for argv in (["--testfn", "other.npz"], []):
        assert evaluate.main([folder, "--datadir", str(other)] + argv) == 0
        first, notes = _test_lines(capsys)
        assert "recorded by the run" not in first and len(notes) == 1
        assert notes[0].startswith("note: this test file differs from the run's (sha256 ")
        assert f" vs {run_sha} in " in notes[0] and f"recorded ({recorded}) is not comparable" in notes[0]


def test_a_changed_model_copy_in_the_run_folder_is_never_imported(run, tmp_path, capsys, shared_data_dir):
    """A run folder's Z2CNN.py whose sha256 is not run.json's is refused before any of it runs,
    by the command and by load_run (which the reproduction's report uses too)."""
    from gconv_experiments.MNIST_ROT import reproduction
    folder, datadir, _ = run
    copy = _copy(folder, tmp_path)
    marker = tmp_path / "imported"
    model_file = copy / "Z2CNN.py"
    model_file.write_text(model_file.read_text() + f"\nopen({str(marker)!r}, 'w').close()\n")
    expected = json.loads((copy / "run.json").read_text())["config"]["model_sha256"]
    import hashlib
    actual = hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert evaluate.main([str(copy), "--datadir", datadir]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(model_file) in err and actual in err and expected in err
    with pytest.raises(ConfigError, match="refusing to import it"):
        reproduction.upright_error(str(copy), datadir, str(shared_data_dir / "mnist"))
    assert not marker.exists()


def test_a_run_record_without_a_setting_is_one_error_naming_it(run, tmp_path, capsys):
    folder, datadir, _ = run
    copy = _copy(folder, tmp_path)
    record = json.loads((copy / "run.json").read_text())
    del record["config"]["valfn"]
    (copy / "run.json").write_text(json.dumps(record))
    assert evaluate.main([str(copy), "--datadir", datadir]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{copy / 'run.json'}: the run record's 'config' has no 'valfn'" in err


def test_a_plain_chainer_hdf5_file_of_the_model_is_evaluated(run, tmp_path, capsys):
    """snapshot.h5 written by chainer.serializers.save_hdf5 (the model only, no epoch): its
    weights give the run's error again; the epoch is said to be unknown."""
    import chainer
    folder, datadir, summary = run
    copy = _copy(folder, tmp_path)
    model, _ = evaluate.load_run(folder)
    os.remove(copy / "snapshot.h5")
    chainer.serializers.save_hdf5(str(copy / "snapshot.h5"), model)
    again, record = evaluate.load_run(str(copy))
    assert record["snapshot_epoch"] is None
    assert evaluate.main([str(copy), "--datadir", datadir, "--batchsize", "16"]) == 0
    first, _ = _test_lines(capsys)
    assert "(a snapshot without an epoch of 2)" in first
    assert f"test error {100 * summary['test_error']:.2f}%" in first


@pytest.fixture(scope="module")
def truncated_run(tmp_path_factory):
    """A 2-epoch Z2CNN run with --train_size 48 --val_size 20 on files whose first 48 training
    images are darker than the rest (so the normalisation of the first 48 differs from that
    of the whole file) and whose validation file holds 48 images."""
    d = tmp_path_factory.mktemp("evaluate_truncated")
    datadir = d / "data"
    datadir.mkdir()
    _digits_like(datadir / "train_all.npz", 96, 3)
    with np.load(datadir / "train_all.npz") as f:
        data, labels = f["data"].copy(), f["labels"].copy()
    data[48:] = np.clip(data[48:] + 0.4, 0, 1)
    np.savez(datadir / "train_all.npz", data=data, labels=labels)
    _digits_like(datadir / "test.npz", 48, 4)
    folder = d / "run"
    summary = train.main(["--modelfn", "Z2CNN", "--net_kwargs", "{'channels': 4}", "--batchsize", "16",
                          "--quiet", "--epochs", "2", "--train_size", "48", "--val_size", "20",
                          "--datadir", str(datadir), "--resultdir", str(folder)])
    return str(folder), str(datadir), summary


def test_a_run_with_train_and_val_size_is_evaluated_on_its_first_val_size_images(truncated_run, capsys):
    folder, datadir, summary = truncated_run
    assert evaluate.main([folder, "--datadir", datadir]) == 0
    out = capsys.readouterr().out
    recorded = f"{100 * summary['test_error']:.2f}%"
    assert f"test error {recorded} on" in out and "20 images" in out and f"(recorded by the run: {recorded})" in out
    model, record = evaluate.load_run(folder)
    x, y = mnist_rot.load_split(datadir, "test")
    loss, error = evaluate.error_rate(model, x[:20], y[:20], evaluate.input_normalization(record, datadir),
                                    batchsize=16)
    assert error == summary["test_error"] and loss == pytest.approx(summary["test_loss"], rel=1e-6)


def test_an_older_record_is_normalised_by_its_first_train_size_images(truncated_run, tmp_path, capsys):
    """A run.json without the recorded constants (as the published runs') gets them from the
    first --train_size images of its training file, not from the whole file; evaluated so, the
    run's recorded loss comes back."""
    folder, datadir, summary = truncated_run
    _, record = evaluate.load_run(folder)
    recorded = evaluate.input_normalization(record, datadir)
    with np.load(os.path.join(datadir, "train_all.npz")) as f:
        pixels = f["data"].astype(np.float64)
    assert recorded == pytest.approx((pixels[:48].mean(), pixels[:48].std()), rel=1e-9)
    assert abs(pixels.mean() - pixels[:48].mean()) > 0.1  # the whole file would give other constants
    copy = tmp_path / "run"
    shutil.copytree(folder, copy)
    saved = json.loads((copy / "run.json").read_text())
    del saved["settings"]["input_normalization"]
    (copy / "run.json").write_text(json.dumps(saved))
    model, older = evaluate.load_run(str(copy))
    assert evaluate.input_normalization(older, datadir) == pytest.approx(recorded, rel=1e-12)
    x, y = mnist_rot.load_split(datadir, "test")
    loss, error = evaluate.error_rate(model, x[:20], y[:20], evaluate.input_normalization(older, datadir),
                                    batchsize=16)
    assert error == summary["test_error"] and loss == pytest.approx(summary["test_loss"], rel=1e-6)
    assert evaluate.main([str(copy), "--datadir", datadir]) == 0
    assert f"test error {100 * summary['test_error']:.2f}%" in capsys.readouterr().out

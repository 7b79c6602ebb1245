"""Bad input and faults end in one clear line and a non-zero exit status, never in a silently
wrong number: non-finite data and losses, labels as stored, --testfn checked up
front, the test error taken from --testfn, runs killed before their first snapshot
(test_resume_and_arguments.py has --resume and bad arguments)."""
import os
import re
import signal
import subprocess
import sys

import chainer
import numpy as np
import pytest

from gconv_experiments import training
from gconv_experiments.MNIST_ROT import train

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


# --- non-finite data and losses ---------------------------------------------------------------

@pytest.mark.parametrize("flag", ["trainfn", "valfn", "testfn"])
@pytest.mark.parametrize("value, dtype", [(np.nan, np.float32), (np.inf, np.float32), (-np.inf, np.float32),
                                          (1e39, np.float64)])
def test_non_finite_pixels_are_refused_naming_file_and_index(datadir, tmp_path, capsys, tiny, flag, value, dtype):
    bad = str(tmp_path / "bad.npz")
    x, y = np.load(os.path.join(datadir, "train_all.npz"))["data"], np.load(os.path.join(datadir, "train_all.npz"))["labels"]
    x = x.astype(dtype)
    x[5, 0, 3, 7] = value
    np.savez(bad, data=x, labels=y)
    files = {"trainfn": "train_all.npz", "valfn": "test.npz", "testfn": "test.npz", flag: bad}
    status, err, _ = tiny.run(tiny.SMALL + ["--datadir", datadir, "--resultdir", str(tmp_path / "out"), "--epochs", "1"]
                         + [f"--{k}={v}" for k, v in files.items()], capsys)
    tiny.assert_one_line_error(status, err)
    assert f"--{flag}" in err and bad in err and "index (5, 0, 3, 7)" in err and "non-finite" in err
    assert not os.path.exists(tmp_path / "out" / "log.jsonl")


NAN_MODEL = """
import os
import chainer
import numpy as np
from gconv_experiments.MNIST_ROT.models.Z2CNN import Z2CNN


class NaNAt(Z2CNN):
    steps = 0

    def logits(self, x):
        h = super().logits(x)
        if chainer.config.train and chainer.config.enable_backprop:
            NaNAt.steps += 1
            if NaNAt.steps == int(os.environ.get("NAN_STEP", "0")):
                h = h * np.float32(np.nan)
        return h
"""


def test_a_nan_loss_stops_training_at_once_keeping_the_last_good_snapshot(datadir, tmp_path, capsys, tiny, monkeypatch):
    model_file = tmp_path / "NaNAt.py"
    model_file.write_text(NAN_MODEL)
    out = str(tmp_path / "run")
    monkeypatch.setenv("NAN_STEP", "6")  # 4 steps per epoch: epoch 2, iteration 2
    status, err, _ = tiny.run(["--modelfn", str(model_file), "--net_kwargs", "{'channels': 4}", "--batchsize", "16",
                          "--quiet", "--datadir", datadir, "--resultdir", out, "--epochs", "3"], capsys)
    tiny.assert_one_line_error(status, err, expected_status=3)
    assert "epoch 2, iteration 2: the loss is nan" in err
    assert f"{os.path.join(out, 'snapshot.h5')} (epoch 1), is kept" in err
    _, epoch = tiny.snapshot(out)
    assert epoch == 1
    assert [e["epoch"] for e in tiny.strict_json(os.path.join(out, "log.jsonl"))] == [1]
    assert not os.path.exists(os.path.join(out, "summary.json"))


def test_a_diverging_learning_rate_exits_non_zero_and_writes_only_strict_json(datadir, tmp_path, capsys, tiny):
    out = str(tmp_path / "run")
    status, err, _ = tiny.run(tiny.SMALL + ["--datadir", datadir, "--resultdir", out, "--epochs", "3",
                                       "--opt_kwargs", "{'alpha': 1e30}"], capsys)
    tiny.assert_one_line_error(status, err, expected_status=3)
    assert re.search(r"epoch 1, iteration \d+: the loss is (nan|inf)", err), err
    assert "no snapshot was written yet" in err
    assert not os.path.exists(os.path.join(out, "summary.json"))
    for name in os.listdir(out):
        if name.endswith((".json", ".jsonl")):
            tiny.strict_json(os.path.join(out, name))


def test_every_json_file_of_a_normal_run_is_strict(datadir, tmp_path, tiny):
    out = str(tmp_path / "run")
    train.main(tiny.SMALL + ["--datadir", datadir, "--resultdir", out, "--epochs", "2", "--val_freq", "2"])
    names = [n for n in os.listdir(out) if n.endswith((".json", ".jsonl"))]
    assert sorted(names) == ["args.json", "log.jsonl", "run.json", "summary.json"]
    for name in names:
        tiny.strict_json(os.path.join(out, name))
    with pytest.raises(ValueError):
        training.checkpoint.dumps({"val_loss": float("nan")})


# --- labels as stored -------------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["trainfn", "valfn", "testfn"])
@pytest.mark.parametrize("bad_label, dtype, message", [
    (2 ** 32 + 3, np.int64, "label 4294967299 at index 4 is out of range"),
    (2 ** 31, np.uint32, "label 2147483648 at index 4 is out of range"),
    (10, np.int32, r"label 10 at index 4 is out of range \(expected 0 <= label < 10\)"),
    (-1, np.int8, "label -1 at index 4 is out of range"),
    (3.5, np.float64, "whole numbers, found 3.5 at index 4"),
])
def test_labels_are_checked_as_stored_before_any_cast(datadir, tmp_path, capsys, tiny, flag, bad_label, dtype, message):
    src = np.load(os.path.join(datadir, "test.npz"))
    labels = src["labels"].astype(dtype)
    labels[4] = bad_label
    bad = str(tmp_path / "labels.npz")
    np.savez(bad, data=src["data"], labels=labels)
    files = {"trainfn": "train_all.npz", "valfn": "test.npz", "testfn": "test.npz", flag: bad}
    status, err, _ = tiny.run(tiny.SMALL + ["--datadir", datadir, "--resultdir", str(tmp_path / "out"), "--epochs", "1"]
                         + [f"--{k}={v}" for k, v in files.items()], capsys)
    tiny.assert_one_line_error(status, err)
    assert f"--{flag}" in err and bad in err and re.search(message, err), err


# --- --testfn checked up front and really used -------------------------------------------------

@pytest.mark.parametrize("kind, message", [("size", r"images have shape \(1, 12, 12\) but --trainfn images \(1, 28, 28\)"),
                                           ("labels", r"label 10 at index 0 is out of range"),
                                           ("missing", r"--testfn \(in --datadir .*\): data file .*absent.npz not found")])
def test_a_bad_testfn_is_found_before_training(datadir, tmp_path, capsys, tiny, kind, message):
    path = str(tmp_path / ("absent.npz" if kind == "missing" else "t.npz"))
    if kind == "size":
        tiny.make(path, 8, 3, size=12)
    elif kind == "labels":
        tiny.make(path, 8, 3, labels=np.full(8, 10, np.int32))
    out = str(tmp_path / "out")
    status, err, stdout = tiny.run(tiny.SMALL + ["--datadir", datadir, "--resultdir", out, "--epochs", "1",
                                            "--testfn", path], capsys)
    tiny.assert_one_line_error(status, err)
    assert "--testfn" in err and re.search(message, err), err
    assert "epoch 1" not in stdout and not os.path.exists(os.path.join(out, "log.jsonl"))


def _predictions(out, x, tiny):
    """The finished run's class predictions (test mode) from its snapshot, on inputs normalised
    with the training set's scalar mean and std computed here."""
    model = training.load_model_class("Z2CNN", train.MODELS_PACKAGE)(channels=4)
    training.load_weights(os.path.join(out, "snapshot.h5"), model)
    with chainer.using_config("train", False), chainer.using_config("enable_backprop", False):
        return model.logits(x).array.argmax(axis=1)


def test_the_test_error_comes_from_the_test_file(datadir, tmp_path, tiny):
    """A finished run re-evaluated with --resume on a test file whose labels are all wrong for its
    predictions reports test error 1.0, with the validation error unchanged; the test file with
    the predicted labels gives 0.0."""
    out = str(tmp_path / "run")
    first = train.main(tiny.SMALL + ["--datadir", datadir, "--resultdir", out, "--epochs", "2"])
    train_x = np.load(os.path.join(datadir, "train_all.npz"))["data"].astype(np.float64)
    mean = train_x.mean()
    std = np.sqrt(((train_x - mean) ** 2).mean())
    test_x = np.load(os.path.join(datadir, "test.npz"))["data"]
    predicted = _predictions(out, ((test_x - mean) / std).astype(np.float32), tiny)
    np.savez(tmp_path / "wrong.npz", data=test_x, labels=((predicted + 1) % 10).astype(np.int32))
    np.savez(tmp_path / "right.npz", data=test_x, labels=predicted.astype(np.int32))
    wrong = train.main(["--resultdir", out, "--resume", "--testfn", str(tmp_path / "wrong.npz")])
    assert wrong["test_error"] == 1.0 and wrong["val_error"] == first["val_error"] < 1.0
    assert wrong["test_file"] == str(tmp_path / "wrong.npz")
    right = train.main(["--resultdir", out, "--resume", "--testfn", str(tmp_path / "right.npz")])
    assert right["test_error"] == 0.0


def test_the_test_file_is_cut_to_val_size_not_train_size(datadir, tmp_path, tiny):
    """--val_size cuts --testfn as it cuts --valfn: with --train_size 16 --val_size 24, a test
    file whose images 16..23 (and only those) carry labels other than the predicted ones gives
    test error 8/24 (cut at 16: 0; uncut: 8/32)."""
    out = str(tmp_path / "run")
    train.main(tiny.SMALL + ["--datadir", datadir, "--resultdir", out, "--epochs", "2", "--train_size", "16",
                             "--val_size", "24"])
    train_x = np.load(os.path.join(datadir, "train_all.npz"))["data"][:16].astype(np.float64)
    mean = train_x.mean()
    std = np.sqrt(((train_x - mean) ** 2).mean())
    test_x = np.load(os.path.join(datadir, "test.npz"))["data"]
    labels = _predictions(out, ((test_x - mean) / std).astype(np.float32), tiny)
    labels[16:24] = (labels[16:24] + 1) % 10
    np.savez(tmp_path / "cut.npz", data=test_x, labels=labels.astype(np.int32))
    summary = train.main(["--resultdir", out, "--resume", "--testfn", str(tmp_path / "cut.npz")])
    assert summary["test_error"] == pytest.approx(8 / 24, abs=1e-6)


# --- runs killed before their first snapshot ---------------------------------------------------

KILL_MODEL = """
import os
import signal
import chainer
from gconv_experiments.MNIST_ROT.models.Z2CNN import Z2CNN


class KillAt(Z2CNN):
    steps = 0

    def logits(self, x):
        if chainer.config.train and chainer.config.enable_backprop:
            KillAt.steps += 1
            if KillAt.steps == int(os.environ.get("KILL_STEP", "0")):
                if os.environ.get("KILL_HOW") == "interrupt":
                    raise KeyboardInterrupt
                os.kill(os.getpid(), signal.SIGKILL)
        return super().logits(x)
"""


@pytest.mark.parametrize("how", ["sigkill", "interrupt"])
def test_a_run_killed_before_its_first_snapshot_resumes_from_epoch_0(datadir, tmp_path, tiny, how):
    model_file = tmp_path / "KillAt.py"
    model_file.write_text(KILL_MODEL)
    common = ["--modelfn", str(model_file), "--net_kwargs", "{'channels': 4}", "--batchsize", "16", "--quiet",
              "--datadir", datadir, "--epochs", "2", "--seed", "1"]
    straight, killed = str(tmp_path / "straight"), str(tmp_path / "killed")
    train.main(common + ["--resultdir", straight])
    env = dict(os.environ, KILL_STEP="2", KILL_HOW=how, PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-m", "gconv_experiments.MNIST_ROT.train"] + common
                          + ["--resultdir", killed], env=env, capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode == (-signal.SIGKILL if how == "sigkill" else 130), proc.stderr
    if how == "interrupt":
        assert "interrupted; continue with --resume" in proc.stderr
    assert not os.path.exists(os.path.join(killed, "snapshot.h5"))
    # a snapshot write cut short by a kill leaves its temporary file; the next start removes it
    leftovers = [os.path.join(killed, ".snapshot.h5.k1ll3d00.h5"), os.path.join(killed, ".log.jsonl.x7y8z9ab.jsonl")]
    for path in leftovers:
        with open(path, "wb") as f:
            f.write(b"\x89HDF partial")
    with pytest.raises(training.ConfigError, match="already holds a run; pass --resume"):
        train.main(common + ["--resultdir", killed])
    env.pop("KILL_STEP")
    proc = subprocess.run([sys.executable, "-m", "gconv_experiments.MNIST_ROT.train", "--resultdir", killed,
                           "--resume"], env=env, capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "no snapshot yet, starting from epoch 0" in proc.stdout
    assert not any(os.path.exists(p) for p in leftovers)
    a, b = tiny.snapshot(straight), tiny.snapshot(killed)
    assert a[1] == b[1] == 2 and sorted(a[0]) == sorted(b[0])
    for name in a[0]:
        np.testing.assert_array_equal(a[0][name], b[0][name], err_msg=name)
    assert [e["epoch"] for e in tiny.strict_json(os.path.join(killed, "log.jsonl"))] == [1, 2]

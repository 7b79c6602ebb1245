"""Bad input and faults end in one clear line and a non-zero exit status, never in a silently
wrong number (issue 17): non-finite data and losses, labels as stored, --testfn checked up
front, runs killed before their first snapshot, what --resume accepts and refuses, path
errors naming their flag, --net_kwargs and --modelfn failures."""
import os
import re
import shutil
import signal
import subprocess
import sys

import chainer
import numpy as np
import pytest

from gconv_experiments import training
from gconv_experiments.MNIST_ROT import train
from gconv_experiments.training import cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def run(argv, tiny, capsys):
    status = cli(argv, **tiny.KW)
    captured = capsys.readouterr()
    return status, captured.err, captured.out


def assert_one_line_error(status, err, expected_status=2):
    assert status == expected_status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: error: "), err
    assert "Traceback" not in err


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
    status, err, _ = run(tiny.SMALL + ["--datadir", datadir, "--resultdir", str(tmp_path / "out"), "--epochs", "1"]
                         + [f"--{k}={v}" for k, v in files.items()], tiny, capsys)
    assert_one_line_error(status, err)
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
    status, err, _ = run(["--modelfn", str(model_file), "--net_kwargs", "{'channels': 4}", "--batchsize", "16",
                          "--quiet", "--datadir", datadir, "--resultdir", out, "--epochs", "3"], tiny, capsys)
    assert_one_line_error(status, err, expected_status=3)
    assert "epoch 2, iteration 2: the loss is nan" in err
    assert f"{os.path.join(out, 'snapshot.h5')} (epoch 1), is kept" in err
    _, epoch = tiny.snapshot(out)
    assert epoch == 1
    assert [e["epoch"] for e in tiny.strict_json(os.path.join(out, "log.jsonl"))] == [1]
    assert not os.path.exists(os.path.join(out, "summary.json"))


def test_a_diverging_learning_rate_exits_non_zero_and_writes_only_strict_json(datadir, tmp_path, capsys, tiny):
    out = str(tmp_path / "run")
    status, err, _ = run(tiny.SMALL + ["--datadir", datadir, "--resultdir", out, "--epochs", "3",
                                       "--opt_kwargs", "{'alpha': 1e30}"], tiny, capsys)
    assert_one_line_error(status, err, expected_status=3)
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
    status, err, _ = run(tiny.SMALL + ["--datadir", datadir, "--resultdir", str(tmp_path / "out"), "--epochs", "1"]
                         + [f"--{k}={v}" for k, v in files.items()], tiny, capsys)
    assert_one_line_error(status, err)
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
    status, err, stdout = run(tiny.SMALL + ["--datadir", datadir, "--resultdir", out, "--epochs", "1",
                                            "--testfn", path], tiny, capsys)
    assert_one_line_error(status, err)
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


# --- what --resume accepts and refuses ---------------------------------------------------------

@pytest.fixture(scope="module")
def finished(datadir, tmp_path_factory):
    """A finished 1-epoch run; tests copy it before changing it."""
    out = str(tmp_path_factory.mktemp("finished") / "run")
    train.main(["--modelfn", "Z2CNN", "--net_kwargs", "{'channels': 4}", "--batchsize", "16", "--quiet",
                "--datadir", datadir, "--resultdir", out, "--epochs", "1"])
    return out


def _copy(finished, tmp_path):
    out = str(tmp_path / "run")
    shutil.copytree(finished, out)
    return out


def test_resume_accepts_settings_that_do_not_change_the_trajectory(finished, datadir, tmp_path, capsys, tiny):
    out = _copy(finished, tmp_path)
    status, err, _ = run(["--resultdir", out, "--resume", "--epochs", "3", "--testfn", "test.npz", "--quiet",
                          "--val_freq", "2", "--save_freq", "2", "--modelfn", "MNIST_ROT/models/Z2CNN.py",
                          "--net_kwargs", "{'channels':4}", "--opt_kwargs", "{'lr': 0.001}",
                          "--datadir", datadir + os.sep], tiny, capsys)
    assert status == 0, err
    assert [e["epoch"] for e in tiny.strict_json(os.path.join(out, "log.jsonl"))] == [1, 2, 3]


@pytest.mark.parametrize("extra, named", [
    (["--seed", "1"], "--seed: 0 -> 1"),
    (["--batchsize", "8"], "--batchsize: 16 -> 8"),
    (["--opt", "MomentumSGD"], "--opt: 'Adam' -> 'MomentumSGD'"),
    (["--opt_kwargs", "{'alpha': 0.01}"], "--opt_kwargs: "),
    (["--net_kwargs", "{'channels': 5}"], "--net_kwargs: "),
    (["--modelfn", "P4CNN", "--net_kwargs", "{'channels': 4}"], "--modelfn: 'Z2CNN' -> 'P4CNN'"),
    (["--transformations", "hflip"], "--transformations: [] -> ['hflip']"),
    (["--weight_decay", "0.1"], "--weight_decay: 0.0 -> 0.1"),
    (["--train_size", "32"], "--train_size: None -> 32"),
    (["--normalization", "none"], "--normalization: 'train_scalar' -> 'none'"),
    (["--bn_reestimation", "clean"], "--bn_reestimation: 'augmented' -> 'clean'"),
    (["--trainfn", "test.npz"], "--trainfn (with --datadir): "),
])
def test_resume_refuses_settings_that_change_the_trajectory_naming_them(finished, tmp_path, capsys, tiny, extra, named):
    out = _copy(finished, tmp_path)
    status, err, _ = run(["--resultdir", out, "--resume", "--epochs", "2"] + extra, tiny, capsys)
    assert_one_line_error(status, err)
    assert "was trained with other settings" in err and named in err, err


def test_resume_on_other_data_is_refused_unless_the_content_matches(finished, datadir, tmp_path, capsys, tiny):
    out = _copy(finished, tmp_path)
    same, other = tmp_path / "same", tmp_path / "other"
    shutil.copytree(datadir, same)
    other.mkdir()
    tiny.make(other / "train_all.npz", 64, 7)
    shutil.copy(os.path.join(datadir, "test.npz"), other / "test.npz")
    status, err, _ = run(["--resultdir", out, "--resume", "--epochs", "2", "--datadir", str(other)], tiny, capsys)
    assert_one_line_error(status, err)
    assert "--trainfn (with --datadir)" in err and str(other / "train_all.npz") in err
    assert os.path.join(datadir, "train_all.npz") in err and "--valfn" not in err
    status, err, _ = run(["--resultdir", out, "--resume", "--epochs", "2", "--datadir", str(same)], tiny, capsys)
    assert status == 0, err


def test_equal_values_written_differently_compare_equal(datadir):
    kw = dict(defaults=train.DEFAULTS, models_package=train.MODELS_PACKAGE)
    base = ["--datadir", datadir]
    a = training.resolve_run(base + ["--modelfn", "MNIST_ROT/models/P4CNN.py", "--opt_kwargs", "{'alpha':0.001}"], **kw)
    b = training.resolve_run(base + ["--modelfn", "P4CNN", "--opt_kwargs", "{'alpha': 0.001}"], **kw)
    c = training.resolve_run(base + ["--modelfn", "P4CNN", "--opt_kwargs", "{'lr': 1e-3}",
                                     "--net_kwargs", "{'channels': 10}"], **kw)
    d = training.resolve_run(base + ["--modelfn", "P4CNN", "--opt_kwargs", "{'alpha': 0.002}"], **kw)
    assert a["fingerprint"] == b["fingerprint"] == c["fingerprint"] != d["fingerprint"]
    assert training.differences(a, b) == training.differences(a, c) == []
    assert training.differences(a, d) == [d_ for d_ in training.differences(a, d) if d_.startswith("--opt_kwargs: ")] != []


# --- result folder and path errors -------------------------------------------------------------

def test_resultdir_that_is_a_file_is_a_clear_error(datadir, tmp_path, capsys, tiny):
    path = tmp_path / "afile"
    path.write_text("x")
    for out in (str(path), str(path / "sub")):
        status, err, _ = run(tiny.SMALL + ["--datadir", datadir, "--resultdir", out, "--epochs", "1"], tiny, capsys)
        assert_one_line_error(status, err)
        assert "--resultdir" in err and str(path) in err and ("is a file" in err or "existing file" in err)


@pytest.mark.parametrize("flag", ["trainfn", "valfn"])
def test_missing_data_files_name_their_flag(datadir, tmp_path, capsys, tiny, flag):
    status, err, _ = run(tiny.SMALL + ["--datadir", datadir, "--resultdir", str(tmp_path / "o"), "--epochs", "1",
                                       f"--{flag}", "nothere.npz"], tiny, capsys)
    assert_one_line_error(status, err)
    assert f"--{flag} (in --datadir {datadir})" in err and os.path.join(datadir, "nothere.npz") in err


# --- --net_kwargs and --modelfn ----------------------------------------------------------------

@pytest.mark.parametrize("model", ["Z2CNN", "P4CNN"])
@pytest.mark.parametrize("net_kwargs, named", [("{'dropout': 2.0}", r"dropout must be .*\[0, 1\)"),
                                               ("{'channels': 10.5}", "channels must be an integer >= 1"),
                                               ("{'channels': 'ten'}", "channels must be an integer >= 1")])
def test_net_kwargs_values_are_checked_at_construction(datadir, tmp_path, capsys, tiny, model, net_kwargs, named):
    status, err, stdout = run(["--modelfn", model, "--net_kwargs", net_kwargs, "--datadir", datadir, "--quiet",
                               "--resultdir", str(tmp_path / "o"), "--epochs", "1"], tiny, capsys)
    assert_one_line_error(status, err)
    assert "--net_kwargs" in err and re.search(named, err), err
    assert "epoch 1" not in stdout


UNCHECKED_MODEL = """
import chainer.functions as F
import chainer.links as L
from gconv_experiments.training import Classifier


class Unchecked(Classifier):
    def __init__(self, ratio=0.5):
        super().__init__()
        self.ratio = ratio
        with self.init_scope():
            self.fc = L.Linear(None, 10)

    def logits(self, x):
        return self.fc(F.dropout(x, self.ratio))
"""


def test_a_model_without_its_own_checks_fails_before_training(datadir, tmp_path, capsys, tiny):
    path = tmp_path / "Unchecked.py"
    path.write_text(UNCHECKED_MODEL)
    status, err, stdout = run(["--modelfn", str(path), "--net_kwargs", "{'ratio': 1.5}", "--datadir", datadir,
                               "--quiet", "--resultdir", str(tmp_path / "o"), "--epochs", "1"], tiny, capsys)
    assert_one_line_error(status, err)
    assert "--net_kwargs {'ratio': 1.5}: Unchecked fails in a training-mode forward pass" in err
    assert "epoch 1" not in stdout


@pytest.mark.parametrize("source, error", [("import no_such_module_xyz\n", "ModuleNotFoundError: No module named 'no_such_module_xyz'"),
                                           ("def broken(:\n", "SyntaxError"),
                                           ("raise RuntimeError('boom')\n", "RuntimeError: boom")])
def test_a_model_file_that_fails_to_import_is_one_line(datadir, tmp_path, capsys, tiny, source, error):
    path = tmp_path / "Broken.py"
    path.write_text(source)
    argv = ["--modelfn", str(path), "--datadir", datadir, "--resultdir", str(tmp_path / "o")]
    status, err, _ = run(argv, tiny, capsys)
    assert_one_line_error(status, err)
    assert f"--modelfn {path}: {path} fails to import: {error}" in err and "--verbose" in err
    status, err, _ = run(argv + ["--verbose"], tiny, capsys)
    assert status == 2 and "Traceback" in err and error.split(":")[0] in err


@pytest.mark.parametrize("extra, message", [(["--train_size", "65"], "--train_size 65 exceeds the 64 examples of --trainfn"),
                                            (["--val_size", "33"], "--val_size 33 exceeds the 32 examples of --valfn")])
def test_sizes_beyond_the_file_are_refused(datadir, tmp_path, capsys, tiny, extra, message):
    status, err, _ = run(tiny.SMALL + ["--datadir", datadir, "--resultdir", str(tmp_path / "o"), "--epochs", "1"] + extra,
                         tiny, capsys)
    assert_one_line_error(status, err)
    assert message in err


def test_a_load_data_hook_is_checked_like_a_file(datadir, tmp_path):
    """Whatever a dataset's load_data hook returns (CIFAR's preprocessed cache) is checked too."""
    def load(path):
        x, y = training.load_npz_dataset(path)
        x = x.copy()
        x[3, 0, 1, 2] = np.nan
        return x, y
    with pytest.raises(training.ConfigError, match=r"--trainfn: .*train_all.npz: non-finite pixel nan at index \(3, 0, 1, 2\)"):
        training.main(["--modelfn", "Z2CNN", "--datadir", datadir, "--resultdir", str(tmp_path / "o"), "--quiet"],
                      defaults=train.DEFAULTS, models_package=train.MODELS_PACKAGE, load_data=load)


def test_resume_of_a_run_without_a_run_record_is_refused(finished, tmp_path, capsys, tiny):
    """A run folder from before run.json existed cannot be checked, so it is not continued."""
    out = _copy(finished, tmp_path)
    os.remove(os.path.join(out, "run.json"))
    status, err, _ = run(["--resultdir", out, "--resume", "--epochs", "2"], tiny, capsys)
    assert_one_line_error(status, err)
    assert f"{out} has no run.json (it was made by an older version)" in err


def test_run_record_keeps_the_thread_count_and_resume_names_a_change(finished, tmp_path, capsys, tiny):
    """The numbers depend on groupy's CPU thread count in the last bits: run.json records it and
    a --resume with another count says so (and still runs)."""
    import json

    from groupy import fast_cpu
    out = _copy(finished, tmp_path)
    with open(os.path.join(out, "run.json")) as f:
        trained_with = json.load(f)["conv_threads"]
    assert trained_with == fast_cpu.get_num_threads()
    other = 1 if trained_with != 1 else 2
    fast_cpu.set_num_threads(other)
    try:
        status, err, _ = run(["--resultdir", out, "--resume", "--epochs", "2"], tiny, capsys)
        assert status == 0, err
        assert f"trained with {trained_with} groupy CPU thread(s)" in err and f"uses {other}" in err
        with open(os.path.join(out, "run.json")) as f:
            assert json.load(f)["conv_threads"] == other
        status, err, _ = run(["--resultdir", out, "--resume", "--epochs", "3"], tiny, capsys)
        assert status == 0 and "groupy CPU thread" not in err
    finally:
        fast_cpu.set_num_threads(trained_with)

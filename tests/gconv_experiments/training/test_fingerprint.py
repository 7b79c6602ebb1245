"""The run record (resolve_run) and differences(): canonical forms, data hashes, git commit,
what counts as trajectory-relevant."""
import hashlib
import inspect
import os
import shutil
import subprocess

import pytest

from gconv_experiments import training
from gconv_experiments.MNIST_ROT import train
from gconv_experiments.training import fingerprint

KW = dict(defaults=train.DEFAULTS, models_package=train.MODELS_PACKAGE)


def record(datadir, *extra):
    return training.resolve_run(["--datadir", datadir, "--modelfn", "Z2CNN"] + list(extra), **KW)


def test_record_holds_hashes_commit_and_every_default(datadir):
    r = record(datadir)
    assert set(r) == {"config", "data", "fingerprint", "git_commit", "model_file"}
    path = os.path.join(datadir, "train_all.npz")
    with open(path, "rb") as f:
        assert r["data"]["trainfn"] == {"path": path, "size": os.path.getsize(path),
                                        "sha256": hashlib.sha256(f.read()).hexdigest()}
    head = subprocess.run(["git", "-C", os.path.dirname(train.__file__), "rev-parse", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    assert r["git_commit"] == (head or "unknown")
    c = r["config"]
    cls = training.load_model_class("Z2CNN", train.MODELS_PACKAGE)
    assert c["net_kwargs"] == {k: p.default for k, p in inspect.signature(cls).parameters.items()}
    assert c["opt_kwargs"]["alpha"] == 0.001 and c["opt_kwargs"]["beta1"] == 0.9
    assert c["eval_batchsize"] == 128 and c["normalization"] == "train_scalar" and r["model_file"] == "Z2CNN.py"
    assert len(r["fingerprint"]) == 64


def test_git_commit_is_unknown_outside_a_checkout(tmp_path, monkeypatch):
    monkeypatch.setattr(fingerprint, "PACKAGE_ROOT", str(tmp_path))
    assert fingerprint.git_commit() == "unknown"


@pytest.mark.parametrize("extra", [["--testfn", "test.npz"], ["--quiet"], ["--val_freq", "5"], ["--save_freq", "3"],
                                   ["--epochs", "7"], ["--resultdir", "elsewhere"], ["--verbose"],
                                   ["--communicator", "naive"]])
def test_settings_that_do_not_change_the_trajectory(datadir, extra):
    a, b = record(datadir), record(datadir, *extra)
    assert a["fingerprint"] == b["fingerprint"] and training.differences(a, b) == []


@pytest.mark.parametrize("extra, named", [
    (["--seed", "4"], "--seed"), (["--batchsize", "64"], "--batchsize"), (["--eval_batchsize", "50"], "--eval_batchsize"),
    (["--opt", "AdaGrad", "--opt_kwargs", "{'lr': 0.001}"], "--opt:"), (["--weight_decay", "1e-4"], "--weight_decay"),
    (["--lr_decay_schedule", "5", "--lr_decay_factor", "0.5"], "--lr_decay_schedule"),
    (["--transformations", "rotation"], "--transformations"), (["--train_size", "10"], "--train_size"),
    (["--val_size", "10"], "--val_size"), (["--net_kwargs", "{'dropout': 0.1}"], "--net_kwargs"),
    (["--bn_averaging", "exact"], "--bn_averaging"), (["--valfn", "train_all.npz"], "--valfn"),
])
def test_settings_that_change_the_trajectory_are_named(datadir, extra, named):
    a, b = record(datadir), record(datadir, *extra)
    assert a["fingerprint"] != b["fingerprint"]
    assert any(d.startswith(named) for d in training.differences(a, b)), training.differences(a, b)


def test_data_compared_by_content_and_model_file_by_content(datadir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(datadir, copy)
    assert record(str(copy))["fingerprint"] == record(datadir)["fingerprint"]
    src = os.path.join(os.path.dirname(train.__file__), "models", "Z2CNN.py")
    edited = tmp_path / "Z2CNN.py"
    edited.write_text(open(src).read() + "\n# edited\n")
    a = record(datadir)
    b = training.resolve_run(["--datadir", datadir, "--modelfn", str(edited)], **KW)
    assert any("model file's content differs" in d for d in training.differences(a, b))


def test_missing_data_file_names_its_flag(datadir):
    with pytest.raises(FileNotFoundError, match="--valfn: data file .*nothere.npz not found"):
        record(datadir, "--valfn", "nothere.npz")


def test_bad_flags_are_config_errors_not_exits(datadir):
    with pytest.raises(training.ConfigError, match="unrecognized arguments: --no_such_flag"):
        record(datadir, "--no_such_flag")
    with pytest.raises(training.ConfigError, match="--bn_reestimation: invalid choice: 'sometimes'"):
        record(datadir, "--bn_reestimation", "sometimes")

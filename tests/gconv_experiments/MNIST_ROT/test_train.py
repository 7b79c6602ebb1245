"""End-to-end runs of MNIST_ROT/train.py on tiny generated npz files: result files, --resume
continuing bit-for-bit after a kill, both invocation styles, and clear errors for bad input."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from gconv_experiments.MNIST_ROT import train
from gconv_experiments.training import ConfigError, cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SMALL = ["--modelfn", "Z2CNN", "--net_kwargs", "{'channels': 4}", "--batchsize", "16", "--quiet"]


def final_params(resultdir):
    with h5py.File(os.path.join(resultdir, "snapshot.h5"), "r") as f:
        params = {}
        f.visititems(lambda name, obj: params.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) and not name.startswith("optimizer/") else None)
    return params


def read_log(resultdir):
    with open(os.path.join(resultdir, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_two_epochs_write_log_snapshot_summary(datadir, tmp_path, capsys):
    out = str(tmp_path / "run")
    summary = train.main(SMALL + ["--datadir", datadir, "--resultdir", out, "--epochs", "2",
                                  "--transformations", "rotation", "--lr_decay_schedule", "1",
                                  "--weight_decay", "1e-4"])
    assert sorted(os.listdir(out)) == ["Z2CNN.py", "args.json", "log.jsonl", "run.json", "snapshot.h5",
                                       "summary.json"]
    log = read_log(out)
    assert [e["epoch"] for e in log] == [1, 2]
    assert [e["lr"] for e in log] == pytest.approx([1e-3, 1e-4])
    for e in log:
        assert set(e) >= {"train_loss", "train_error", "val_loss", "val_error", "lr", "seconds"}
        assert 0 <= e["val_error"] <= 1 and e["seconds"] > 0
    with open(os.path.join(out, "summary.json")) as f:
        assert json.load(f) == summary
    assert summary["test_error"] == log[-1]["val_error"] and summary["model"] == "Z2CNN"
    with open(os.path.join(out, "args.json")) as f:
        args = json.load(f)
    assert args["trainfn"] == "train_all.npz" and args["opt_kwargs"] == "{'alpha': 0.001}"
    with h5py.File(os.path.join(out, "snapshot.h5"), "r") as f:
        assert f.attrs["epoch"] == 2 and "top" in f and "optimizer" in f
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("Z2CNN test error: ") and "%" in last


@pytest.mark.slow
def test_learns_the_tiny_task(datadir, tmp_path):
    summary = train.main(SMALL + ["--datadir", datadir, "--resultdir", str(tmp_path / "r"), "--epochs", "10",
                                  "--net_kwargs", "{'channels': 6, 'dropout': 0}", "--opt_kwargs", "{'lr': 0.01}"])
    assert summary["test_error"] < 0.5  # chance is 0.9


def test_resume_after_epoch_is_bitwise_identical(datadir, tmp_path):
    common = SMALL + ["--datadir", datadir, "--transformations", "rotation", "--seed", "3"]
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    train.main(common + ["--resultdir", straight, "--epochs", "3"])
    train.main(common + ["--resultdir", split, "--epochs", "1"])
    # Resuming needs only the result folder and the new epoch count; the rest comes from args.json.
    train.main(["--resultdir", split, "--resume", "--epochs", "3", "--quiet"])
    a, b = final_params(straight), final_params(split)
    assert sorted(a) == sorted(b) and len(a) > 10
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    keys = ("epoch", "train_loss", "val_loss", "lr")
    assert [{k: e[k] for k in keys} for e in read_log(straight)] == [{k: e[k] for k in keys} for e in read_log(split)]


@pytest.mark.slow
def test_killed_process_resumes_bitwise(datadir, tmp_path):
    """SIGKILL a real run during epoch 4, when epoch 3 is logged but the last snapshot is from
    epoch 2, then --resume it through the CLI: same weights and log as an uninterrupted run."""
    args = [sys.executable, "-m", "gconv_experiments.MNIST_ROT.train", "--datadir", datadir, "--epochs", "4",
            "--save_freq", "2", "--modelfn", "Z2CNN", "--net_kwargs", "{'channels': 8}", "--batchsize", "8",
            "--quiet", "--seed", "5"]
    straight, killed = str(tmp_path / "straight"), str(tmp_path / "killed")
    proc = subprocess.Popen(args + ["--resultdir", killed], cwd=REPO, stdout=subprocess.DEVNULL)
    log = os.path.join(killed, "log.jsonl")
    while proc.poll() is None and not (os.path.exists(log) and open(log).read().count("\n") >= 3):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not os.path.exists(os.path.join(killed, "summary.json"))
    with h5py.File(os.path.join(killed, "snapshot.h5"), "r") as f:
        assert f.attrs["epoch"] == 2
    subprocess.run(args + ["--resultdir", killed, "--resume"], cwd=REPO, check=True, capture_output=True)
    subprocess.run(args + ["--resultdir", straight], cwd=REPO, check=True, capture_output=True)
    a, b = final_params(straight), final_params(killed)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert [e["epoch"] for e in read_log(killed)] == [1, 2, 3, 4]
    assert [e["train_loss"] for e in read_log(killed)] == [e["train_loss"] for e in read_log(straight)]


def test_script_invocation_with_model_path(datadir, tmp_path):
    """The original style: cd gconv_experiments && python MNIST_ROT/train.py --modelfn=<path>."""
    out = str(tmp_path / "script_run")
    proc = subprocess.run(
        [sys.executable, "MNIST_ROT/train.py", "--modelfn=MNIST_ROT/models/Z2CNN.py", f"--datadir={datadir}",
         f"--resultdir={out}", "--epochs=1", "--batchsize=32", "--net_kwargs={'channels': 2}"],
        cwd=os.path.join(REPO, "gconv_experiments"), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("Z2CNN test error:")
    assert os.path.isfile(os.path.join(out, "summary.json"))


def test_module_invocation_reports_bad_flag(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gconv_experiments.MNIST_ROT.train", "--modelfn", "Z9CNN",
                           "--resultdir", str(tmp_path / "x")], cwd=str(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 2
    assert "error: --modelfn 'Z9CNN': unknown model; available:" in proc.stderr and "Z2CNN" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("extra, message", [
    (["--epochs", "0"], "--epochs must be a positive integer"),
    (["--opt_kwargs", "{'lr': }"], "--opt_kwargs must be a Python dict literal"),
    (["--opt_kwargs", "{'momentum': 0.9}"], "do not fit Adam"),
    (["--net_kwargs", "{'width': 3}"], "--net_kwargs .* do not fit Z2CNN"),
    (["--lr_decay_schedule", "20-10"], "positive and increasing"),
    (["--transformations", "spin"], "unknown transformation"),
    (["--modelfn", "nowhere/Model.py"], "no such model file"),
    (["--trainfn", "absent.npz"], "absent.npz not found"),
    (["--trainfn", "bad_labels.npz"], "--trainfn .*bad_labels.npz \\(Z2CNN has 10 classes\\): label 10 at index 2 "
                                      "is out of range \\(expected 0 <= label < 10\\)"),
    (["--trainfn", "small_images.npz", "--valfn", "small_images.npz"], "cannot process images of shape \\(1, 12, 12\\)"),
    (["--resume"], "--resume: --resultdir .*out is not an existing run folder"),
    (["--opt_kwargs", "{'lr': 'x'}"], "--opt_kwargs: Adam's 'alpha' must be a finite number, got 'x'"),
    (["--opt", "MomentumSGD", "--opt_kwargs", "{'lr': -1}"], "MomentumSGD's 'lr' must be a positive number"),
    (["--opt", "RMSprop", "--opt_kwargs", "{'eps_inside_sqrt': 1}"], "'eps_inside_sqrt' must be True or False"),
    (["--seed", "-1"], "--seed must be an integer in 0..4294967295"),
])
def test_bad_input_exits_with_clear_message(datadir, tmp_path, capsys, extra, message):
    bad = tmp_path / "data"
    bad.mkdir()
    for name in ("train_all.npz", "test.npz"):
        os.symlink(os.path.join(datadir, name), bad / name)
    np.savez(bad / "bad_labels.npz", data=np.zeros((4, 1, 28, 28), np.float32), labels=np.array([0, 1, 10, 2], np.int32))
    np.savez(bad / "small_images.npz", data=np.zeros((4, 1, 12, 12), np.float32), labels=np.zeros(4, np.int32))
    argv = SMALL + ["--datadir", str(bad), "--resultdir", str(tmp_path / "out"), "--epochs", "1"] + extra
    status = cli(argv, defaults=train.DEFAULTS, models_package=train.MODELS_PACKAGE, prog="train.py")
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("train.py: error: ")
    assert re.search(message, err), err


def test_unknown_optimizer_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        train.main(["--opt", "SGDR"])
    assert info.value.code == 2 and "invalid choice: 'SGDR'" in capsys.readouterr().err


def test_existing_run_and_changed_flags_on_resume(datadir, tmp_path):
    out = str(tmp_path / "run")
    base = SMALL + ["--datadir", datadir, "--resultdir", out, "--epochs", "1"]
    train.main(base)
    with pytest.raises(ConfigError, match="already holds a run; pass --resume"):
        train.main(base)
    with pytest.raises(ConfigError, match="was trained with other settings: --batchsize: 16 -> 32"):
        train.main(["--resultdir", out, "--resume", "--batchsize", "32"])


def test_gpu_flag_without_a_device_is_a_clear_error(datadir, tmp_path):
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() > 0:
            pytest.skip("a CUDA device is present")
    except Exception:
        pass
    with pytest.raises(ConfigError, match="--gpu 0: no usable CUDA device"):
        train.main(SMALL + ["--datadir", datadir, "--resultdir", str(tmp_path / "g"), "--gpu", "0"])


@pytest.mark.parametrize("opt", ["MomentumSGD", "Adam", "AdaGrad", "RMSprop", "NesterovAG"])
def test_every_optimizer_takes_lr_and_the_decay_schedule(datadir, tmp_path, opt):
    out = str(tmp_path / opt)
    train.main(SMALL + ["--datadir", datadir, "--resultdir", out, "--epochs", "3", "--train_size", "16",
                        "--val_size", "16", "--opt", opt, "--opt_kwargs", "{'lr': 0.05}",
                        "--lr_decay_schedule", "1-2", "--lr_decay_factor", "0.5", "--weight_decay", "1e-3"])
    assert [e["lr"] for e in read_log(out)] == pytest.approx([0.05, 0.025, 0.0125])


CRASHY_MODEL = """
import os
import chainer
from gconv_experiments.MNIST_ROT.models.Z2CNN import Z2CNN


class Crashy(Z2CNN):
    steps = 0

    def logits(self, x):
        if chainer.config.train and chainer.config.enable_backprop:
            Crashy.steps += 1
            if Crashy.steps == int(os.environ.get("CRASHY_STEP", "0")):
                raise RuntimeError("simulated crash")
        return super().logits(x)
"""


def test_crash_mid_run_keeps_log_and_snapshot_then_resume_matches(datadir, tmp_path, monkeypatch):
    """An exception during epoch 2 (4 steps per epoch) leaves epoch 1's log line and snapshot
    intact and readable (no temporary file left); --resume then ends where a straight run does."""
    model_file = tmp_path / "Crashy.py"
    model_file.write_text(CRASHY_MODEL)
    common = ["--modelfn", str(model_file), "--net_kwargs", "{'channels': 4}", "--batchsize", "16",
              "--quiet", "--datadir", datadir, "--epochs", "3", "--seed", "2"]
    straight, crashed = str(tmp_path / "straight"), str(tmp_path / "crashed")
    train.main(common + ["--resultdir", straight])
    monkeypatch.setenv("CRASHY_STEP", "6")  # each run loads the model file afresh: steps start at 0
    with pytest.raises(RuntimeError, match="simulated crash"):
        train.main(common + ["--resultdir", crashed])
    assert sorted(os.listdir(crashed)) == ["Crashy.py", "args.json", "log.jsonl", "run.json", "snapshot.h5"]
    assert [e["epoch"] for e in read_log(crashed)] == [1]
    with h5py.File(os.path.join(crashed, "snapshot.h5"), "r") as f:
        assert f.attrs["epoch"] == 1
    monkeypatch.delenv("CRASHY_STEP")
    summary = train.main(["--resultdir", crashed, "--resume"])
    a, b = final_params(straight), final_params(crashed)
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert [e["train_loss"] for e in read_log(crashed)] == [e["train_loss"] for e in read_log(straight)]
    with open(os.path.join(straight, "summary.json")) as f:
        assert summary["test_error"] == json.load(f)["test_error"]


def test_resuming_a_finished_run_reproduces_its_test_error(datadir, tmp_path, capsys):
    """With dropout on, the BN re-estimation is random: it is seeded from (seed, epoch), so
    re-running a finished run with --resume reports exactly the error it reported before."""
    out = str(tmp_path / "run")
    first = train.main(["--modelfn", "Z2CNN", "--net_kwargs", "{'channels': 4, 'dropout': 0.5}", "--quiet",
                        "--batchsize", "16", "--datadir", datadir, "--resultdir", out, "--epochs", "2"])
    again = train.main(["--resultdir", out, "--resume"])
    assert again["test_error"] == first["test_error"] and again["test_loss"] == first["test_loss"]
    assert [e["epoch"] for e in read_log(out)] == [1, 2]


def test_snapshot_loads_with_plain_chainer_load_hdf5(datadir, tmp_path):
    import chainer
    from gconv_experiments.MNIST_ROT.models.Z2CNN import Z2CNN
    out = str(tmp_path / "run")
    train.main(SMALL + ["--datadir", datadir, "--resultdir", out, "--epochs", "1"])
    model = Z2CNN(channels=4)
    chainer.serializers.load_hdf5(os.path.join(out, "snapshot.h5"), model)
    params = final_params(out)
    np.testing.assert_array_equal(model.top.W.array, params["top/W"])


@pytest.mark.parametrize("damage, message", [
    ("args", "cannot read the run's flags from .*run.json"),
    ("log_middle", "log.jsonl, line 1: expected one JSON object per epoch"),
])
def test_damaged_result_files_on_resume_are_clear_errors(datadir, tmp_path, capsys, damage, message):
    out = str(tmp_path / "run")
    train.main(SMALL + ["--datadir", datadir, "--resultdir", out, "--epochs", "2"])
    if damage == "args":
        with open(os.path.join(out, "run.json"), "w") as f:
            f.write("{not json")
    else:
        lines = open(os.path.join(out, "log.jsonl")).read().splitlines()
        with open(os.path.join(out, "log.jsonl"), "w") as f:
            f.write("\n".join(["{garbage"] + lines[1:]) + "\n")
    status = cli(["--resultdir", out, "--resume", "--epochs", "3"], defaults=train.DEFAULTS,
                 models_package=train.MODELS_PACKAGE, prog="train.py")
    err = capsys.readouterr().err
    assert status == 2 and re.search(message, err), err


def test_resume_drops_a_log_line_cut_short_by_a_kill(datadir, tmp_path):
    out = str(tmp_path / "run")
    train.main(SMALL + ["--datadir", datadir, "--resultdir", out, "--epochs", "1"])
    with open(os.path.join(out, "log.jsonl"), "a") as f:
        f.write('{"epoch": 2, "train_lo')
    train.main(["--resultdir", out, "--resume", "--epochs", "2"])
    assert [e["epoch"] for e in read_log(out)] == [1, 2]

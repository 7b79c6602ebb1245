"""CIFAR10/train.py end to end on a tiny archive: first run preprocesses and writes log,
snapshot and summary; --resume continues it bit-for-bit; both invocation styles; clear errors."""
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from gconv_experiments.CIFAR10 import train

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SMALL = ["--net_kwargs", "{'widths': (3, 4)}", "--batchsize", "25", "--quiet",
         "--transformations", "translate_hflip"]


def _run(args, cwd):
    return subprocess.run([sys.executable] + args, cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONWARNINGS="ignore"))


def _log(out):
    with open(os.path.join(out, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


def _weights(out):
    params = {}
    with h5py.File(os.path.join(out, "snapshot.h5"), "r") as f:
        f.visititems(lambda k, v: params.__setitem__(k, v[()])
                     if isinstance(v, h5py.Dataset) and not k.startswith("optimizer/") else None)
    return params


def test_one_epoch_cli_then_resume_matches_uninterrupted_run(tmp_path, tiny_archive):
    datadir, out = str(tmp_path), str(tmp_path / "run")
    # script style, model given as a path, as in the original README
    first = _run(["CIFAR10/train.py", "--datadir=" + datadir, "--resultdir=" + out,
                  "--modelfn=CIFAR10/models/P4AllCNNC.py", "--epochs", "1"] + SMALL,
                 cwd=os.path.join(REPO, "gconv_experiments"))
    assert first.returncode == 0, first.stderr
    assert "P4AllCNNC test error:" in first.stdout
    assert {"log.jsonl", "snapshot.h5", "summary.json"} <= set(os.listdir(out))
    assert os.path.isfile(os.path.join(datadir, "preprocessed", "train_all.npz"))
    log = _log(out)
    assert [e["epoch"] for e in log] == [1] and log[0]["lr"] == pytest.approx(0.01)
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    assert os.path.basename(summary["test_file"]) == "test.npz"
    assert 0 <= summary["test_error"] <= 1 and summary["n_params"] > 0

    # module style, continue to epoch 2
    second = _run(["-m", "gconv_experiments.CIFAR10.train", "--datadir", datadir,
                   "--resultdir", out, "--resume", "--epochs", "2", "--quiet"], cwd=REPO)
    assert second.returncode == 0, second.stderr
    resumed = _log(out)
    assert [e["epoch"] for e in resumed] == [1, 2]

    # the same two epochs without interruption give the same numbers and weights
    ref = str(tmp_path / "ref")
    train.main(["--datadir", datadir, "--resultdir", ref, "--modelfn", "P4AllCNNC",
                "--epochs", "2"] + SMALL)
    assert [e["train_loss"] for e in _log(ref)] == [e["train_loss"] for e in resumed]
    a, b = _weights(out), _weights(ref)
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_defaults_are_the_releases():
    """Release CIFAR10/train.py:230-274 (ca88c58), written out by hand."""
    from gconv_experiments import training
    args = training.build_parser(train.DEFAULTS).parse_args([])
    release = dict(modelfn="AllCNNC", trainfn="train_all.npz", valfn="test.npz", epochs=100,
                   batchsize=128, opt="MomentumSGD", opt_kwargs="{}", weight_decay=0.001,
                   transformations="", val_freq=10, save_freq=10, seed=0)
    assert {k: getattr(args, k) for k in release} == release
    assert training.parse_schedule(args.lr_decay_schedule) == []  # release factor 0: no decay
    assert args.eval_batchsize is None  # evaluation batches of --batchsize, as released
    assert (args.normalization, args.bn_reestimation) == ("none", "clean")
    optimizer, lr_attr = training.make_optimizer(args.opt, {})
    assert (getattr(optimizer, lr_attr), optimizer.momentum) == (0.01, 0.9)  # Chainer 1 defaults


def test_damaged_cache_is_rebuilt_when_training_loads_it(tmp_path, tiny_archive):
    datadir = str(tmp_path)
    x, t = train.load_data(os.path.join(datadir, "train.npz"))
    fn = os.path.join(datadir, "preprocessed", "train.npz")
    with open(fn, "r+b") as f:
        f.truncate(os.path.getsize(fn) // 3)
    x2, t2 = train.load_data(os.path.join(datadir, "train.npz"))
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(t2, t)


def test_bare_split_names_and_other_npz_files(tmp_path, tiny_archive):
    datadir = str(tmp_path)
    x, t = train.load_data(os.path.join(datadir, "valid.npz"))  # builds the cache
    assert x.shape == (20, 3, 32, 32) and x.dtype == np.float32 and t.dtype == np.int32
    np.savez(os.path.join(datadir, "mine.npz"), data=x[:5], labels=t[:5])
    x5, _ = train.load_data(os.path.join(datadir, "mine.npz"))
    np.testing.assert_array_equal(x5, x[:5])


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    status = train.cli(["--datadir", str(tmp_path), "--resultdir", str(tmp_path / "r"),
                        "--modelfn", "AllCNNC", "--epochs", "1", "--quiet"])
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("CIFAR10/train.py: error: ") and str(tmp_path) in err
    assert "cifar-10-python.tar.gz" in err


@pytest.mark.parametrize("net_kwargs, words", [
    ("{'depth': 8}", ["ResNet", "depth"]),
    ("{'nc32': 10.5}", ["ResNet: nc32 must be an integer >= 1, got 10.5"]),
    ("{'final_bn_batch_stats': 2}", ["final_bn_batch_stats must be True or False"]),
])
def test_net_kwargs_rejected_by_the_model_are_a_clear_error(tmp_path, capsys, net_kwargs, words):
    status = train.cli(["--datadir", str(tmp_path), "--resultdir", str(tmp_path / "r"), "--modelfn", "ResNet",
                        "--net_kwargs", net_kwargs])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("CIFAR10/train.py: error: ") and "Traceback" not in err, err
    assert "--net_kwargs" in err and all(w in err for w in words), err

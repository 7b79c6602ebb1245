"""The README demo in its seconds-long --tiny form: both test errors and the plot path printed."""
import os
import subprocess
import sys

import pytest

from gconv_experiments.MNIST_ROT import demo
from gconv_experiments.training import ConfigError


def test_tiny_demo_prints_errors_and_plot(tmp_path, capsys):
    out = str(tmp_path / "demo")
    result = demo.main(["--tiny", "--quiet", "--resultdir", out])
    assert set(result["errors"]) == {"Z2CNN", "P4CNN"}
    assert all(0 <= e <= 1 for e in result["errors"].values())
    assert os.path.isfile(result["plot"]) and os.path.isfile(os.path.join(out, "data", "train_all.npz"))
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2].startswith("Z2CNN test error: ") and "P4CNN test error: " in lines[-2]
    assert lines[-1] == f"learning curves: {os.path.abspath(result['plot'])}"
    with open(os.path.join(out, "results.md")) as f:
        assert "5.03" not in f.read()  # the paper's MNIST-rot numbers are not this data set's
    # A second demo replaces the first instead of reporting its runs as finished.
    demo.main(["--tiny", "--quiet", "--resultdir", out])
    assert "finished earlier" not in capsys.readouterr().out


@pytest.mark.slow
def test_make_demo_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gconv_experiments.MNIST_ROT.demo", "--tiny", "--quiet"],
                          cwd=str(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "P4CNN test error:" in proc.stdout
    assert os.path.isfile(tmp_path / "demo_results" / "learning_curves.png")


@pytest.mark.parametrize("extra, message", [(["--epochs", "0"], "--epochs must be"),
                                            (["--n_train", "1790"], "exceeds"),
                                            (["--dropout", "1"], "--dropout must be")])
def test_bad_options(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        demo.main(["--resultdir", str(tmp_path)] + extra)


def test_tiny_demo_reports_the_errors_its_models_make(tmp_path, capsys):
    """Each reported test error equals the error recomputed here from the run's snapshot on the
    demo's test file (inputs normalised with the training pixels' mean and std, computed here),
    and the printed percentages are those errors."""
    import json

    import chainer
    import numpy as np

    from gconv_experiments import training

    out = str(tmp_path / "demo")
    result = demo.main(["--tiny", "--quiet", "--resultdir", out])
    printed = capsys.readouterr().out.strip().splitlines()[-2]
    train_x = np.load(os.path.join(out, "data", "train_all.npz"))["data"].astype(np.float64)
    mean = train_x.mean()
    std = np.sqrt(((train_x - mean) ** 2).mean())
    for summary in result["summaries"]:
        name = summary["model"]
        with open(os.path.join(summary["resultdir"], "run.json")) as f:
            net_kwargs = json.load(f)["config"]["net_kwargs"]
        model = training.load_model_class(name, "gconv_experiments.MNIST_ROT.models")(**net_kwargs)
        training.load_weights(os.path.join(summary["resultdir"], "snapshot.h5"), model)
        test = np.load(summary["test_file"])
        x = ((test["data"] - mean) / std).astype(np.float32)
        with chainer.using_config("train", False), chainer.using_config("enable_backprop", False):
            predicted = model.logits(x).array.argmax(axis=1)
        error = float(np.mean(predicted != test["labels"]))
        assert abs(result["errors"][name] - error) < 1e-6, (name, result["errors"][name], error)
        assert f"{name} test error: {100 * error:.2f}%" in printed

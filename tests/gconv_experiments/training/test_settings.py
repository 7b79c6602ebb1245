"""check_args: the train.py flags become one frozen RunConfig, every value parsed once."""
import dataclasses
import os
import json

import pytest

from gconv_experiments.training import ConfigError, RunConfig, build_parser, check_args


def _config(*argv, defaults=None):
    return check_args(build_parser(defaults).parse_args(["--modelfn", "P4CNN", *argv]))


def test_flags_are_parsed_into_values():
    c = _config("--opt", "MomentumSGD", "--opt_kwargs", "{'lr': 0.1, 'momentum': 0.5}",
                "--net_kwargs", "{'dropout_after': (1, 3)}",
                "--transformations", "translate, hflip", "--lr_decay_schedule", "10-20",
                "--lr_decay_factor", "0.5", "--batchsize", "32")
    assert isinstance(c, RunConfig)
    assert c.opt_kwargs == {"lr": 0.1, "momentum": 0.5} and c.net_kwargs == {"dropout_after": (1, 3)}
    assert c.transformations == ("translate", "hflip")
    assert c.lr_decay_schedule == (10, 20) and c.eval_batchsize == 32
    assert (c.input_shift, c.input_scale) == (None, None)


def test_the_schedule_is_dropped_when_the_factor_is_zero():
    assert _config("--lr_decay_schedule", "10-20", "--lr_decay_factor", "0").lr_decay_schedule == ()


def test_learning_rate_per_epoch():
    c = _config("--lr_decay_schedule", "2-4", "--lr_decay_factor", "0.5")
    assert [c.learning_rate(1.0, e) for e in range(1, 7)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert _config().learning_rate(0.3, 50) == 0.3


def test_when_it_validates_and_snapshots():
    c = _config("--epochs", "7", "--val_freq", "3", "--save_freq", "0")
    assert [e for e in range(1, 8) if c.validates_after(e)] == [3, 6, 7]
    assert [e for e in range(1, 8) if c.snapshots_after(e)] == [7]


def test_the_configuration_is_frozen_and_records_its_normalisation():
    c = _config("--normalization", "train_scalar").with_input_normalization(0.25, 2.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.epochs = 3
    record = json.loads(json.dumps(c.to_json(), allow_nan=False))
    assert record["input_normalization"] == {"mode": "train_scalar", "shift": 0.25, "scale": 2.0}
    assert record["transformations"] == [] and record["modelfn"] == "P4CNN"


@pytest.mark.parametrize("argv, message", [
    (["--opt_kwargs", "{lr: 1}"], "--opt_kwargs must be a Python dict literal"),
    (["--transformations", "spin"], "--transformations: unknown transformation"),
    (["--lr_decay_schedule", "20-10"], "--lr_decay_schedule epochs must be positive and increasing"),
    (["--epochs", "0"], "--epochs must be a positive integer, got 0"),
])
def test_bad_flags_are_named(argv, message):
    with pytest.raises(ConfigError, match=message):
        _config(*argv)


# --- the optimizer's keywords on the command lines ---------------------------------------------

OPTIMIZER_RANGES = [
    ("Adam", "{'beta2': 1.0}", "Adam's 'beta2' must be in [0, 1), got 1.0"),  # zero-size steps
    ("Adam", "{'beta1': 1.0}", "Adam's 'beta1' must be in [0, 1), got 1.0"),  # a division by zero
    ("Adam", "{'beta1': 1.5}", "Adam's 'beta1' must be in [0, 1), got 1.5"),
    ("Adam", "{'beta2': -0.5}", "Adam's 'beta2' must be in [0, 1), got -0.5"),
    ("Adam", "{'eps': 0.0}", "Adam's 'eps' must be a positive number, got 0.0"),
    ("Adam", "{'lr': 0}", "Adam's 'alpha' must be a positive number, got 0"),
    ("MomentumSGD", "{'momentum': 1.5}", "MomentumSGD's 'momentum' must be in [0, 1), got 1.5"),
    ("MomentumSGD", "{'momentum': 1}", "MomentumSGD's 'momentum' must be in [0, 1), got 1"),
    ("NesterovAG", "{'momentum': 1.0}", "NesterovAG's 'momentum' must be in [0, 1), got 1.0"),
    ("RMSprop", "{'alpha': 1.0}", "RMSprop's 'alpha' must be in [0, 1), got 1.0"),
    ("AdaGrad", "{'eps': 0}", "AdaGrad's 'eps' must be a positive number, got 0"),
]


@pytest.mark.parametrize("opt, opt_kwargs, message", OPTIMIZER_RANGES)
def test_optimizer_keywords_out_of_range_end_the_training_command(datadir, tmp_path, capsys, tiny,
                                                                  opt, opt_kwargs, message):
    """MNIST-rot's train.py: one line naming --opt_kwargs, the keyword and its value; no run folder."""
    out = tmp_path / "run"
    status, err, stdout = tiny.run(tiny.SMALL + ["--datadir", datadir, "--resultdir", str(out), "--epochs", "1",
                                                 "--opt", opt, "--opt_kwargs", opt_kwargs], capsys)
    tiny.assert_one_line_error(status, err)
    assert f"--opt_kwargs: {message}" in err, err
    assert not out.exists() and "epoch 1" not in stdout


@pytest.mark.parametrize("opt, opt_kwargs, message", [OPTIMIZER_RANGES[0], OPTIMIZER_RANGES[6]])
def test_optimizer_keywords_out_of_range_end_cifar_training(tmp_path, capsys, opt, opt_kwargs, message):
    """CIFAR10/train.py, before any data is read or prepared."""
    from gconv_experiments.CIFAR10 import train as cifar_train
    status = cifar_train.cli(["--datadir", str(tmp_path / "no_data"), "--resultdir", str(tmp_path / "run"),
                              "--opt", opt, "--opt_kwargs", opt_kwargs, "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and err.strip() == f"CIFAR10/train.py: error: --opt_kwargs: {message}", err
    assert not os.listdir(tmp_path)


def test_optimizer_keywords_out_of_range_end_a_sweep_before_any_run(datadir, tmp_path, capsys):
    """MNIST-rot's experiment.py: refused when the runs are planned, no run folder written."""
    from gconv_experiments.MNIST_ROT import experiment
    out = tmp_path / "sweep"
    status = experiment.cli(["--models", "Z2CNN", "--repeats", "1", "--epochs", "1", "--quiet", "--datadir", datadir,
                             "--trainfn", "train_all.npz", "--valfn", "test.npz", "--resultdir", str(out),
                             "--opt_kwargs", "{'beta2': 1.0}"])
    err = capsys.readouterr().err
    assert status == 2 and "--opt_kwargs: Adam's 'beta2' must be in [0, 1), got 1.0" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (out / "Z2CNN").exists()


def test_optimizer_keywords_at_the_ends_of_their_ranges_are_accepted():
    assert _config("--opt_kwargs", "{'beta1': 0, 'beta2': 0.0, 'eps': 1e-12}").opt_kwargs["beta1"] == 0
    assert _config("--opt", "MomentumSGD", "--opt_kwargs", "{'momentum': 0.0}").opt_kwargs == {"momentum": 0.0}
    assert _config("--opt", "MomentumSGD", "--opt_kwargs", "{'momentum': 0.999}").opt_kwargs == {"momentum": 0.999}

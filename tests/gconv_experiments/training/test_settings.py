"""check_args: the train.py flags become one frozen RunConfig, every value parsed once."""
import dataclasses
import json

import pytest

from gconv_experiments.training import ConfigError, RunConfig, build_parser, check_args


def _config(*argv, defaults=None):
    return check_args(build_parser(defaults).parse_args(["--modelfn", "P4CNN", *argv]))


def test_flags_are_parsed_into_values():
    c = _config("--opt_kwargs", "{'lr': 0.1, 'momentum': 0.5}", "--net_kwargs", "{'dropout_after': (1, 3)}",
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

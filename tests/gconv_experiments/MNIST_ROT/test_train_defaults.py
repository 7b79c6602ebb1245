"""MNIST_ROT/train.py's defaults are the released settings that produced the paper's MNIST-rot
numbers (FIDELITY.md, "MNIST train.py defaults", "MNIST input normalisation", "MNIST BN
statistics before each validation" and "BN finetune averaging"), both as written in DEFAULTS
and as a command line without flags resolves them."""
import ast

import pytest

from gconv_experiments import training
from gconv_experiments.MNIST_ROT import train

# written out from FIDELITY.md, not from train.py
RELEASED = {
    "modelfn": "P4CNN",
    "trainfn": "train_all.npz",
    "valfn": "test.npz",
    "epochs": 100,
    "batchsize": 128,
    "opt": "Adam",
    # inputs: minus the mean of the training pixels, over their std
    "normalization": "train_scalar",
    # BN statistics: one shuffled training-mode pass with augmentation (and dropout) ...
    "bn_reestimation": "augmented",
    # ... in which every batch weighs the same (Chainer 1.8-1.14's decay 1 - 1/N)
    "bn_averaging": "batch",
}


@pytest.mark.parametrize("key", sorted(RELEASED))
def test_defaults_are_the_released_settings(key):
    assert train.DEFAULTS[key] == RELEASED[key]


def test_adam_step_size_is_the_released_one():
    assert ast.literal_eval(train.DEFAULTS["opt_kwargs"]) == {"alpha": 0.001}


def test_a_command_line_without_flags_resolves_to_the_released_settings():
    args = training.build_parser(defaults=train.DEFAULTS).parse_args([])
    for key, value in RELEASED.items():
        assert getattr(args, key) == value, key
    assert ast.literal_eval(args.opt_kwargs) == {"alpha": 0.001}

"""The sweep flags of an experiment: --epochs, --seeds / --repeats and the flags every run gets."""
import argparse

import pytest

from gconv_experiments.MNIST_ROT import experiment
from gconv_experiments.sweep import command_line
from gconv_experiments.training import ConfigError


def test_parse_epochs():
    models, paper = ["Z2CNN", "P4CNN", "P4CNN_RP"], experiment.PAPER_EPOCHS
    assert command_line.parse_epochs(experiment.build_parser().get_default("epochs"), models, paper) == \
        {"Z2CNN": 300, "P4CNN": 100, "P4CNN_RP": 100}
    assert command_line.parse_epochs("7", models, paper) == {"Z2CNN": 7, "P4CNN": 7, "P4CNN_RP": 7}
    assert command_line.parse_epochs("P4CNN=3", models, paper) == {"Z2CNN": 300, "P4CNN": 3, "P4CNN_RP": 100}


@pytest.mark.parametrize("text", ["0", "x", "Z2CNN=", "Z2CNN=-1"])
def test_bad_epochs_name_the_flag(text):
    with pytest.raises(ConfigError, match="--epochs"):
        command_line.parse_epochs(text, ["Z2CNN"], {})


def test_seeds():
    assert command_line.parse_seeds(2, None) == [0, 1]
    assert command_line.parse_seeds(5, "3,1") == [3, 1]
    with pytest.raises(ConfigError, match="repeated"):
        command_line.parse_seeds(1, "1,1")


def test_run_flags_pass_the_subset_only_when_given():
    args = argparse.Namespace(transformations="", gpu=0, val_freq=1, save_freq=2, train_size=None, val_size=7)
    flags = command_line.run_flags(args, "Z2CNN", "/d", "a.npz", "b.npz")
    assert flags[:8] == ["--modelfn", "Z2CNN", "--datadir", "/d", "--trainfn", "a.npz", "--valfn", "b.npz"]
    assert "--train_size" not in flags and flags[-2:] == ["--val_size", "7"]
    assert flags[flags.index("--save_freq") + 1] == "2"

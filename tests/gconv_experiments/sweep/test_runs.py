"""plan(): which folder a run goes to, checked against the records alone (no training): a
folder made earlier by --fresh_on_change is reused only when its run.json matches the requested
settings; one holding other settings is named, with or without --fresh_on_change."""
import json
import os
import shutil

import pytest

from gconv_experiments.MNIST_ROT.digits_rot import save_digits_rot
from gconv_experiments.sweep.runs import Run, plan, resolve
from gconv_experiments.training import ConfigError


@pytest.fixture(scope="module")
def datadir(tmp_path_factory):
    d = tmp_path_factory.mktemp("digits_rot")
    save_digits_rot(str(d), n_train=32, n_test=16, n_valid=8)
    return str(d)


def _run(datadir, folder, batchsize):
    argv = ("--modelfn", "Z2CNN", "--datadir", datadir, "--batchsize", str(batchsize), "--seed", "0",
            "--epochs", "1", "--quiet")
    return Run(group="Z2CNN", seed=0, epochs=1, folder=folder, argv=argv,
               train_module="gconv_experiments.MNIST_ROT.train")


def _finished(run, test_error):
    """A run folder holding `run`'s record and a summary, as a finished run leaves it."""
    os.makedirs(run.folder)
    with open(os.path.join(run.folder, "run.json"), "w") as f:
        json.dump(resolve(run), f)
    with open(os.path.join(run.folder, "summary.json"), "w") as f:
        json.dump({"epochs": run.epochs, "test_error": test_error}, f)


@pytest.fixture
def folders(datadir, tmp_path):
    """Batch 16 finished in seed0; batch 8 requested, and its --fresh_on_change folder
    seed0-<fingerprint> holds a copy of the batch-16 run (other settings under that name)."""
    folder = str(tmp_path / "Z2CNN" / "seed0")
    old, new = _run(datadir, folder, 16), _run(datadir, folder, 8)
    _finished(old, 0.25)
    alternative = f"{folder}-{resolve(new)['fingerprint'][:8]}"
    shutil.copytree(folder, alternative)
    return old, new, alternative


def test_a_fresh_folder_with_the_requested_settings_is_reused(datadir, folders):
    old, new, alternative = folders
    shutil.rmtree(alternative)
    _finished(_run(datadir, alternative, 8), 0.5)
    planned, = plan([new])
    assert (planned.run.folder, planned.action, planned.summary["test_error"]) == (alternative, "done", 0.5)


@pytest.mark.parametrize("fresh_on_change", [False, True])
def test_a_fresh_folder_holding_other_settings_is_not_reused(folders, fresh_on_change):
    old, new, alternative = folders
    with pytest.raises(ConfigError, match=r"--batchsize: 16 -> 8") as e:
        plan([new], fresh_on_change=fresh_on_change)
    assert (alternative if fresh_on_change else old.folder) in str(e.value)
    assert plan([old])[0].action == "done"  # the batch-16 run itself is still reused

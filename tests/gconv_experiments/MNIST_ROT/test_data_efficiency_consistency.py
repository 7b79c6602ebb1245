"""The data-efficiency study's largest size against the reproduction, on tiny data: a tiny study
and tiny reproduction runs (one of the same protocol, one with another batch size), the
comparison's numbers redone by hand from the reproduction's log."""
import json
import math
import os

import pytest

from gconv_experiments.MNIST_ROT import data_efficiency, train
from gconv_experiments.MNIST_ROT import data_efficiency_consistency as consistency
from gconv_experiments.MNIST_ROT import data_efficiency_report as report

STUDY = ["--models", "Z2CNN", "--sizes", "32,64", "--seeds", "0", "--steps", "5", "--batchsize", "16"]


def reproduction_run(datadir, folder, batchsize):
    """A released-protocol Z2CNN run on all of train_all.npz, evaluated after every epoch."""
    train.main(["--modelfn", "Z2CNN", "--datadir", datadir, "--trainfn", "train_all.npz", "--valfn", "test.npz",
                "--transformations", "rotation", "--batchsize", str(batchsize), "--epochs", "3", "--val_freq", "1",
                "--seed", "0", "--quiet", "--resultdir", folder])
    with open(os.path.join(folder, "log.jsonl")) as f:
        return {e["epoch"]: e["val_error"] for e in map(json.loads, f)}


@pytest.fixture(scope="module")
def studied(datadir, tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    resultdir, reproduction = str(root / "data_efficiency"), str(root / "mnist_rot")
    assert data_efficiency.main(STUDY + ["--datadir", datadir, "--resultdir", resultdir]) == 0
    same = reproduction_run(datadir, os.path.join(reproduction, "released", "Z2CNN", "seed0"), 16)
    reproduction_run(datadir, os.path.join(reproduction, "released", "Z2CNN", "seed1"), 8)  # another protocol
    study = data_efficiency.study_from_args(data_efficiency.build_parser().parse_args(
        STUDY + ["--datadir", datadir, "--resultdir", resultdir]))
    return study, reproduction, same


def test_the_reproduction_is_the_folder_mnist_rot_beside_the_study(studied):
    study, reproduction, _ = studied
    assert consistency.reproduction_folder(study.resultdir) == reproduction


def test_the_comparison_by_hand_from_the_reproductions_log(studied):
    """64 images at batch 16: 4 updates an epoch, so the study's 5 updates lie between the
    evaluations after epoch 1 (4 updates) and epoch 2 (8); the run with batch 8 is not counted."""
    study, reproduction, errors = studied
    runs = report.collect(study)
    (row,), problem = consistency.compare(study, runs, reproduction, full_size=64)
    assert problem is None and (row["reproduction_runs"], row["study_runs"]) == (1, 1)
    assert (row["before_epoch"], row["before_updates"], row["after_epoch"], row["after_updates"]) == (1, 4, 2, 8)
    assert min(errors[1], errors[2]) > 0
    t = math.log(5 / 4) / math.log(8 / 4)
    expected = math.exp(math.log(errors[1]) + t * (math.log(errors[2]) - math.log(errors[1])))
    assert row["interpolated_error"] == pytest.approx(expected, rel=1e-12)
    mine = [r["test_error"] for r in runs if r["size"] == 64]
    assert row["difference_pp"] == pytest.approx(100 * (mine[0] - expected), rel=1e-12)
    assert (row["end_epoch"], row["end_error_mean"]) == (3, errors[3])
    section = "\n".join(consistency.markdown_section(study, [row], None, reproduction))
    assert "| released/Z2CNN (1) |" in section and f"{100 * expected:.2f} |" in section
    assert "reproduction, epoch 1 (4 updates)" in section


def test_a_study_short_of_the_whole_training_file_is_not_compared(studied):
    study, reproduction, _ = studied
    rows, problem = consistency.compare(study, report.collect(study), reproduction, full_size=65)
    assert rows == [] and problem == "the study's largest size (64) is not all 65 images of train_all.npz"
    rows, problem = consistency.compare(study, report.collect(study), reproduction + "_absent", full_size=64)
    assert rows == [] and problem.startswith("no reproduction in ")


def test_the_report_says_why_it_did_not_compare(studied):
    """The tiny study is not the 12,000 images of MNIST-rot: results.md says so, reproduction.csv
    has its header alone."""
    study, _, _ = studied
    report.write_report(study)
    with open(os.path.join(study.resultdir, "results.md")) as f:
        assert "Not compared: the study's largest size (64) is not all 12,000 images of train_all.npz." in f.read()
    with open(os.path.join(study.resultdir, "reproduction.csv")) as f:
        assert f.read().splitlines() == [",".join(consistency.FIELDS)]


@pytest.mark.parametrize("epochs, per_epoch, steps, expected", [
    ([25, 50, 75], 94, 4000, (25, 50)), ([50, 75], 94, 4000, None), ([10, 20], 94, 4000, None),
    ([4, 8], 100, 400, (4, 4))])
def test_bracket_finds_the_evaluations_around_the_budget(epochs, per_epoch, steps, expected):
    """None where no evaluation lies on one side; one exactly at the budget is both ends."""
    assert consistency.bracket(epochs, per_epoch, steps) == expected

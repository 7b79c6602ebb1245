"""Run records stay comparable across versions of this code: the run.json of a P4CNN seed-0
job of the reproduction's dropout setting, written by an earlier version of the training code
(earlier_run_record.json beside this file, commit in its git_commit), has exactly the "config"
keys and values that resolve_run gives today for the same job, apart from paths, content hashes
and the commit; a run folder of that version is therefore resumed and reused as it is. What runs
record beyond that lives outside "config"."""
import json
import os

import numpy as np

from gconv_experiments.MNIST_ROT import experiment, reproduction, train
from gconv_experiments.training import differences, resolve_run

RECORD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "earlier_run_record.json")
MACHINE_SPECIFIC = {"datadir", "resultdir", "model_path", "model_sha256"}


def _record_for_the_sweeps_command_line(tmp_path):
    datadir = tmp_path / "data"
    datadir.mkdir()
    for name in ("train_all.npz", "test.npz"):
        np.savez(datadir / name, data=np.zeros((2, 1, 28, 28), np.float32), labels=np.zeros(2, np.int32))
    job = reproduction.job_argv("dropout", "P4CNN", 0, str(datadir), str(tmp_path / "results"))
    args, extra = experiment.build_parser().parse_known_args(job)
    argv = (experiment.command_line.run_flags(args, "P4CNN", str(datadir), args.trainfn, args.valfn)
            + ["--seed", "0", "--epochs", "100", "--quiet"] + extra + ["--resultdir", str(tmp_path / "run")])
    return resolve_run(argv, defaults=train.DEFAULTS, models_package=train.MODELS_PACKAGE)


def test_todays_config_has_the_committed_runs_keys_and_values(tmp_path):
    with open(RECORD) as f:
        saved = json.load(f)
    record = _record_for_the_sweeps_command_line(tmp_path)
    assert set(record["config"]) == set(saved["config"])
    assert {k: v for k, v in record["config"].items() if k not in MACHINE_SPECIFIC} == \
        {k: v for k, v in saved["config"].items() if k not in MACHINE_SPECIFIC}
    assert {"config", "data", "fingerprint", "git_commit", "model_file"} <= set(record)


def test_only_the_data_files_tell_the_records_apart(tmp_path):
    with open(RECORD) as f:
        saved = json.load(f)
    record = _record_for_the_sweeps_command_line(tmp_path)
    diffs = differences(saved, record)
    assert [d.split(" ")[0] for d in diffs if not d.startswith("--modelfn: the model file")] == \
        ["--trainfn", "--valfn"], diffs

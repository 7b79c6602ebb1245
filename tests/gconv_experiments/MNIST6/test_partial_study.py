"""MNIST6/partial_study.py and its lanes (gconv_experiments/run_lanes.sh): the plan's jobs and
their flags, the lanes running every job once, and a tiny end-to-end study (a few generated images, 2 epochs) whose
report has the accuracy table, the kept elements read from the snapshots and the figure."""
import csv
import os
import subprocess
import sys

import h5py
import numpy as np

from gconv_experiments.MNIST6 import partial_study
from groupy.gconv.chainer_gconv.partial import element_names

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(REPO, "gconv_experiments", "run_lanes.sh")


def test_plan_jobs_and_flags(tmp_path):
    jobs = partial_study.jobs()
    assert len(jobs) == 3 * 3 + 3 * 3 + 2 * 2
    assert {(s, m) for s, m, _ in jobs} == {
        ("mnist6_180", "Z2CNN"), ("mnist6_180", "P4CNN"), ("mnist6_180", "PartialP4CNN"),
        ("mnist6_m", "Z2CNN"), ("mnist6_m", "P4MCNN"), ("mnist6_m", "PartialP4MCNN"),
        ("mnist_rot", "P4CNN"), ("mnist_rot", "PartialP4CNN")}
    argv = partial_study.job_argv("mnist6_m", "PartialP4MCNN", 2, "/data", str(tmp_path))
    assert argv == ["--datadir", "/data/mnist6_m", "--resultdir", str(tmp_path / "mnist6_m"), "--models",
                    "PartialP4MCNN", "--seeds", "2", "--epochs", "20", "--transformations", "",
                    "--val_freq", "5", "--save_freq", "5",
                    "--net_kwargs", "{'n_classes': 2, 'initial_gate_logit': 0.1, 'gate_lr': 0.01}", "--threads",
                    "1", "--quiet"]
    argv = partial_study.job_argv("mnist_rot", "P4CNN", 1, "/data", str(tmp_path))
    assert argv[argv.index("--epochs") + 1] == "100" and argv[argv.index("--net_kwargs") + 1] == "{}"
    assert argv[argv.index("--transformations") + 1] == "rotation"
    done = subprocess.run([sys.executable, "-m", "gconv_experiments.MNIST6.partial_study", "--results",
                           str(tmp_path), "--run-job", "99", "--datadir", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--run-job 99: no such job (0..21" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_lanes_run_every_planned_job_exactly_once(tmp_path):
    fake = tmp_path / "python"  # records the job invocations, passes everything else to python
    fake.write_text("#!/bin/bash\n"
                    "case \" $* \" in *' --run-job '*) echo \"JOB ${*:3}\";; *) exec %s \"$@\";; esac\n"
                    % sys.executable)
    fake.chmod(0o755)
    results = tmp_path / "results"
    env = dict(os.environ, PYTHON=str(fake), RESULTS=str(results))
    done = subprocess.run(["bash", SCRIPT, "gconv_experiments.MNIST6.partial_study", str(tmp_path / "data"), "2"],
                          env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = []
    for i in (1, 2):
        lines += [l for l in (results / "lanes" / f"lane{i}.log").read_text().splitlines() if l.startswith("JOB")]
    expected = [f"JOB --results {results} --run-job {k} --datadir {tmp_path / 'data'}"
                for k in range(len(partial_study.jobs()))]
    assert sorted(lines) == sorted(expected)


def _tiny_data(root, make):
    for setting, n_classes in (("mnist6_180", 2), ("mnist6_m", 2), ("mnist_rot", 10)):
        folder = root / setting
        folder.mkdir(parents=True)
        for name, n, seed in (("train_all.npz", 16, 0), ("test.npz", 8, 1)):
            labels = np.arange(n, dtype=np.int32) % n_classes
            make(folder / name, n, seed, labels=labels)


def _snapshot_kept(folder, layer_path):
    with h5py.File(os.path.join(folder, "snapshot.h5"), "r") as f:
        logits = f[layer_path + "/gate_logits"][()]
    return [0] + [i + 1 for i in np.flatnonzero(logits > 0)]


def test_a_tiny_study_end_to_end(tmp_path, tiny):
    data, results = tmp_path / "data", tmp_path / "results"
    _tiny_data(data, tiny.make)
    jobs = partial_study.jobs()
    picked = [jobs.index(j) for j in (("mnist6_180", "Z2CNN", 0), ("mnist6_180", "PartialP4CNN", 0),
                                      ("mnist6_m", "PartialP4MCNN", 0))]
    for k in picked:
        assert partial_study.main(["--run-job", str(k), "--datadir", str(data), "--results", str(results),
                                   "--epochs", "2"]) == 0
    assert partial_study.main(["--results", str(results), "--epochs", "2"]) == 0
    text = (results / "results.md").read_text()
    for model, data_text in (("Z2CNN", "MNIST6-180"), ("PartialP4CNN", "MNIST6-180"), ("PartialP4MCNN", "MNIST6-M")):
        assert f"| {data_text} | {model} | 1/3 | 2 |" in text
    with open(results / "runs.csv") as f:
        rows = {(r["setting"], r["model"], r["seed"]): r for r in csv.DictReader(f)}
    for setting, model, group in (("mnist6_180", "PartialP4CNN", "C4"),
                                  ("mnist6_m", "PartialP4MCNN", "D4")):
        row = rows[(setting, model, "0")]
        folder = results / setting / model / "seed0"
        summary_accuracy = 100 * (1 - tiny.strict_json(str(folder / "summary.json"))["test_error"])
        assert abs(float(row["test_accuracy_pct"]) - summary_accuracy) < 1e-9
        names = element_names(group)
        expected = "; ".join(
            f"{layer}: {{{', '.join(names[i] for i in _snapshot_kept(folder, path))}}}"
            for layer, path in (("l2", "l2/conv"), ("l3", "l3/conv"), ("l4", "l4/conv"), ("l5", "l5/conv"),
                                ("l6", "l6/conv"), ("top", "top")))
        assert row["kept"] == expected and expected in text
        assert row["invariant_to"].startswith("{e")
    assert rows[("mnist6_180", "Z2CNN", "0")]["kept"] == ""
    assert rows[("mnist_rot", "P4CNN", "0")]["test_error"] == ""  # not run: listed as unfinished
    png = (results / "gate_probabilities.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert (results / "results.csv").is_file() and (results / "mnist6_180" / "results.md").is_file()
    log = tiny.strict_json(str(results / "mnist6_m" / "PartialP4MCNN" / "seed0" / "log.jsonl"))
    assert [len(p) for p in log[-1]["gate_probabilities"].values()] == [7] * 6

"""reproduction.py and MNIST_ROT/run_sweeps.sh: every planned run trained exactly once
by the lanes, the report's numbers recomputed by hand from the runs' summaries, the ordering
line, and the upright-MNIST cache recomputed when the weights change."""
import gzip
import json
import os
import subprocess
import sys

import h5py
import numpy as np

from gconv_experiments.MNIST_ROT import reproduction, reproduction_report, train

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(REPO, "gconv_experiments", "MNIST_ROT", "run_sweeps.sh")


def test_the_lanes_run_every_planned_job_exactly_once(tmp_path):
    fake = tmp_path / "python"  # records the job invocations, passes everything else to python
    fake.write_text("#!/bin/bash\n"
                    "case \" $* \" in *' --run-job '*) echo \"JOB ${*:3}\";; *) exec %s \"$@\";; esac\n"
                    % sys.executable)
    fake.chmod(0o755)
    results = tmp_path / "results"
    env = dict(os.environ, PYTHON=str(fake), RESULTS=str(results))
    done = subprocess.run(["bash", SCRIPT, str(tmp_path / "data"), "3"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lane_lines = []
    for i in (1, 2, 3):
        lane_lines += [l for l in (results / "lanes" / f"lane{i}.log").read_text().splitlines() if l.startswith("JOB")]
    expected = [f"JOB --results {results} --run-job {k} --datadir {tmp_path / 'data'}"
                for k in range(len(reproduction.jobs()))]
    assert sorted(lane_lines) == sorted(expected) and len(expected) == 27


def test_a_job_is_one_sweep_of_its_setting_with_the_setting_flags(tmp_path):
    k = reproduction.jobs().index(("momentum_sgd", "P4MCNN", 1, "rotation"))
    argv = reproduction.job_argv(*reproduction.jobs()[k][:3], "/data", str(tmp_path))
    assert argv == ["--datadir", "/data", "--resultdir", str(tmp_path / "momentum_sgd"), "--models", "P4MCNN",
                    "--seeds", "1", "--transformations", "rotation", "--threads", "1", "--quiet",
                    "--opt", "MomentumSGD", "--opt_kwargs", "{'lr': 0.01, 'momentum': 0.5}"]
    done = subprocess.run([sys.executable, "-m", "gconv_experiments.MNIST_ROT.reproduction", "--results",
                           str(tmp_path), "--run-job", "99", "--datadir", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--run-job 99: no such job (0..26" in done.stderr


def _planned_run_json(results, setting, model, seed, **changes):
    """The run.json of the setting's job (its settings, the planned data files), with `changes`
    to its settings."""
    record, _ = reproduction.planned_record(setting, model, seed, str(results))
    data = {flag: dict(path=f"/data/{flag}.npz", size=1, sha256=sha)
            for flag, sha in reproduction.DATA_SHA256.items()}
    return dict(record, config=dict(record["config"], **changes), data=data,
                fingerprint=f"fp-{setting}-{model}-{seed}")


def _finished(results, setting, model, seed, error, epochs, hours=1.0):
    folder = results / setting / model / f"seed{seed}"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(dict(epochs=epochs, test_error=error, n_params=1000,
                                                         seconds_total=3600 * hours)))
    (folder / "run.json").write_text(json.dumps(_planned_run_json(results, setting, model, seed)))
    (folder / "snapshot.h5").write_bytes(b"final weights")  # not read unless the upright column is asked for
    (folder / "log.jsonl").write_text("".join(json.dumps(dict(epoch=e, train_error=0.5 / e, val_error=(
        error if e == epochs else error + e / 1000 if e % 25 == 0 else None))) + "\n" for e in range(1, epochs + 1)))


def _cells(text, *prefix):
    """The first table row of `text` whose leading cells are `prefix` (a model row when the
    prefix is (setting, model) and the third cell is 'finished/planned'; a run row with a seed)."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[:len(prefix)] == list(prefix) and (len(prefix) != 2 or "/" in cells[2]):
            return cells
    raise AssertionError(f"no row for {prefix}")


def _row(text, setting_text, model):
    return _cells(text, setting_text, model)


def _run_row(text, setting_text, model, seed):
    return _cells(text, setting_text, model, str(seed))


def test_report_numbers_recomputed_by_hand(tmp_path):
    results = tmp_path / "results"
    _finished(results, "released", "Z2CNN", 0, 0.05, 300)
    _finished(results, "released", "Z2CNN", 1, 0.06, 300, hours=3.0)
    _finished(results, "released", "P4CNN", 3, 0.02, 100)
    partial = results / "released" / "P4CNN" / "seed0"
    partial.mkdir()
    (partial / "log.jsonl").write_text("".join(json.dumps(dict(epoch=e)) + "\n" for e in range(1, 8)))
    text = reproduction.write_report(str(results))
    z2 = _row(text, "released protocol", "Z2CNN")
    # mean 5.50 %, sample std of (5, 6) = 0.7071; population std of (0.05, 0.06) = 0.005
    assert z2[2:9] == ["2/5", "300", "5.50 ± 0.71", "5.50 ± 0.0050", "5.03 ± 0.0020", "+0.47", "–"]
    assert z2[9] == "2.00"  # hours per run: (1 + 3) / 2
    assert _row(text, "released protocol", "P4CNN")[2:8] == ["1/5", "100", "2.00", "2.00 ± 0.0000",
                                                            "2.28 ± 0.0004", "-0.28"]
    assert "| released protocol | P4CNN | 0 | 7/100 | – |" in text
    # the evaluation before the last (epoch 275: 0.05 + 0.275) and the last epoch's training error (0.5 / 300)
    assert _run_row(text, "released protocol", "Z2CNN", 0)[2:8] == ["0", "300/300", "5.00", "32.50 (275)", "0.17", "–"]
    assert _run_row(text, "released protocol", "P4CNN", 3)[2:8] == ["3", "100/100", "2.00", "9.50 (75)", "0.50", "–"]
    assert "3 of 27 planned runs finished; their total compute: 5.0 hours" in text and "not known yet" in text
    assert os.path.isfile(results / "learning_curves.png")
    _finished(results, "released", "P4CNN_RP", 0, 0.01, 100)
    text = reproduction.write_report(str(results))
    assert "does NOT hold (2.00 / 1.00 / 5.50 %)" in text
    rows = (results / "results.csv").read_text().splitlines()
    assert rows[0].split(",") == reproduction.FIELDS and len(rows) == 1 + 9


def test_the_papers_numbers_stand_only_beside_the_released_protocols_rows(tmp_path):
    """The paper reports the released protocol's Z2CNN, P4CNN_RP and P4CNN: no paper column
    (nor a difference from it) for the other settings' rows, nor for P4MCNN."""
    results = tmp_path / "results"
    _finished(results, "released", "P4CNN", 0, 0.02, 100)
    others = [("p4mcnn", "P4MCNN"), ("uniform_rotation", "Z2CNN"), ("uniform_rotation", "P4CNN"),
              ("dropout", "P4CNN"), ("momentum_sgd", "P4CNN"), ("momentum_sgd", "P4MCNN")]
    for setting, model in others:
        _finished(results, setting, model, 0, 0.03, 100 if model != "Z2CNN" else 300)
    text = reproduction.write_report(str(results))
    assert _row(text, "released protocol", "P4CNN")[6:8] == ["2.28 ± 0.0004", "-0.28"]
    for setting, model in others:
        row = _row(text, reproduction_report.SETTING_TEXT[setting], model)
        assert row[2] == "1/2" and row[6:8] == ["–", "–"], (setting, model, row)
    csv_rows = (results / "results.csv").read_text().splitlines()
    paper = reproduction.FIELDS.index("paper")
    filled = [r.split(",")[:2] for r in csv_rows[1:] if r.split(",")[paper]]
    assert filled == [["released", "Z2CNN"], ["released", "P4CNN_RP"], ["released", "P4CNN"]]


def _idx(array, magic):
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def test_upright_error_is_cached_by_snapshot_and_recomputed_when_it_changes(tmp_path):
    rng = np.random.default_rng(0)
    datadir, mnist = tmp_path / "data", tmp_path / "mnist"
    datadir.mkdir()
    mnist.mkdir()
    for name, n in (("train_all", 64), ("test", 32)):
        np.savez(datadir / f"{name}.npz", data=rng.uniform(0, 1, (n, 1, 28, 28)).astype(np.float32),
                 labels=rng.integers(0, 10, n).astype(np.int32))
    for prefix, n in (("train", 10), ("t10k", 40)):
        (mnist / f"{prefix}-images-idx3-ubyte.gz").write_bytes(_idx(rng.integers(0, 256, (n, 28, 28)), 0x803))
        (mnist / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(_idx(np.arange(n) % 10, 0x801))
    folder = tmp_path / "run"
    train.main(["--modelfn", "Z2CNN", "--net_kwargs", "{'channels': 4}", "--batchsize", "16", "--quiet",
                "--epochs", "1", "--datadir", str(datadir), "--resultdir", str(folder)])
    first = reproduction.upright_error(str(folder), str(datadir), str(mnist))
    cache = folder / reproduction.UPRIGHT_FILE
    saved = json.loads(cache.read_text())
    assert saved["error"] == first and saved["images"] == 40 and 0 <= first <= 1
    saved["error"] = 0.123
    cache.write_text(json.dumps(saved))
    assert reproduction.upright_error(str(folder), str(datadir), str(mnist)) == 0.123  # same weights: cached
    with h5py.File(folder / "snapshot.h5", "a") as f:  # other weights: computed again
        name = next(k for k in f.keys() if k != "optimizer" and isinstance(f[k], h5py.Group))
        group = f[name]
        w = next(group[k] for k in group.keys() if isinstance(group[k], h5py.Group) and "W" in group[k])["W"]
        w[...] = 0.0
    again = reproduction.upright_error(str(folder), str(datadir), str(mnist))
    assert again != 0.123 and json.loads(cache.read_text())["error"] == again


def test_a_damaged_summary_is_named_and_not_counted(tmp_path):
    results = tmp_path / "results"
    _finished(results, "released", "Z2CNN", 0, 0.05, 300)
    _finished(results, "released", "Z2CNN", 1, 0.06, 300)
    (results / "released" / "Z2CNN" / "seed1" / "summary.json").write_text('{"epochs": 300, "test_error": NaN}')
    text = reproduction.write_report(str(results))
    assert _row(text, "released protocol", "Z2CNN")[2:5] == ["1/5", "300", "5.00"]
    assert "`released/Z2CNN/seed1`: summary.json damaged (ValueError: non-finite number NaN" in text


def test_a_setting_table_always_covers_every_finished_run_of_its_folder(tmp_path):
    results = tmp_path / "results"
    _finished(results, "momentum_sgd", "P4CNN", 1, 0.03, 100)
    reproduction.write_report(str(results))
    _finished(results, "momentum_sgd", "P4MCNN", 0, 0.04, 100)
    _finished(results, "momentum_sgd", "P4CNN", 0, 0.02, 100)
    (results / "momentum_sgd" / "P4CNN" / "seed0" / "summary.json").write_text('{"epochs": 50, "test_error": 0.1}')
    assert reproduction.write_setting_tables(str(results), "momentum_sgd") == 2  # not the 50-epoch run
    runs = (results / "momentum_sgd" / "runs.csv").read_text().splitlines()
    assert [r.split(",")[:4] for r in runs[1:]] == [["P4CNN", "1", "100", "0.03"], ["P4MCNN", "0", "100", "0.04"]]
    rows = _cells((results / "momentum_sgd" / "results.md").read_text(), "P4CNN")
    assert rows[1:4] == ["1", "100", "3.00"] and "paper (Table 1)" not in (results / "momentum_sgd" / "results.md").read_text()
    sweep = json.loads((results / "momentum_sgd" / "sweep.json").read_text())
    assert [r["fingerprint"] for r in sweep["runs"]] == ["fp-momentum_sgd-P4CNN-1", "fp-momentum_sgd-P4MCNN-0"]
    assert (results / "momentum_sgd" / "learning_curves.png").stat().st_size > 0
    assert not (results / "dropout").exists()  # no finished run, no tables


def test_a_run_that_is_not_the_planned_one_is_a_problem_not_counted(tmp_path):
    """A finished P4CNN of the released setting trained on 16 images without augmentation, or on
    other data, is listed with the settings that differ, and left out of the mean and the
    setting's tables."""
    results = tmp_path / "results"
    _finished(results, "released", "P4CNN", 0, 0.02, 100)
    _finished(results, "released", "P4CNN", 1, 0.50, 100)
    _finished(results, "released", "P4CNN", 2, 0.40, 100)
    tiny = results / "released" / "P4CNN" / "seed1" / "run.json"
    tiny.write_text(json.dumps(_planned_run_json(results, "released", "P4CNN", 1, train_size=16, transformations=[])))
    other_data = results / "released" / "P4CNN" / "seed2" / "run.json"
    record = json.loads(other_data.read_text())
    record["data"]["valfn"]["sha256"] = "a" * 64
    other_data.write_text(json.dumps(record))
    text = reproduction.write_report(str(results))
    assert _row(text, "released protocol", "P4CNN")[2:5] == ["1/5", "100", "2.00"]
    assert _run_row(text, "released protocol", "P4CNN", 1)[4] == "–"
    assert ("`released/P4CNN/seed1`: run.json is not the run this setting plans (the run's -> the plan's): "
            "--train_size: 16 -> None; --transformations: [] -> ['rotation']; counted as not finished.") in text
    assert "`released/P4CNN/seed2`: run.json is not the run this setting plans" in text
    assert "--valfn data file: sha256 aaaaaaaaaaaa -> " + reproduction.DATA_SHA256["valfn"][:12] in text
    runs = (results / "released" / "runs.csv").read_text().splitlines()
    assert [r.split(",")[:2] for r in runs[1:]] == [["P4CNN", "0"]]


def test_a_finished_run_without_its_snapshot_is_a_problem(tmp_path):
    """(The upright-MNIST column, which reads the weights, used to end the report with
    FileNotFoundError.)"""
    results = tmp_path / "results"
    _finished(results, "released", "Z2CNN", 0, 0.05, 300)
    os.remove(results / "released" / "Z2CNN" / "seed0" / "snapshot.h5")
    text = reproduction.write_report(str(results), str(tmp_path / "data"), str(tmp_path / "mnist"))
    assert _row(text, "released protocol", "Z2CNN")[2:5] == ["0/5", "300", "–"]
    assert "`released/Z2CNN/seed0`: snapshot.h5 is missing" in text

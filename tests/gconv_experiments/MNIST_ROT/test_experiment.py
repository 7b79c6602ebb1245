"""The MNIST-rot sweep on a tiny rotated-digits set: the released protocol by default, the
release's command line, the reported statistics (checked against the runs' own summary files),
continuing a killed sweep, and sweep edge cases ending in one clear error."""
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys

import pytest

from gconv_experiments.MNIST_ROT import experiment
from gconv_experiments.MNIST_ROT.digits_rot import save_digits_rot
from gconv_experiments.training import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TINY = ["--models", "Z2CNN,P4CNN", "--repeats", "2", "--train_size", "32", "--val_size", "16",
        "--batchsize", "16", "--net_kwargs", "{'channels': 3}", "--quiet"]


@pytest.fixture(scope="module")
def datadir(tmp_path_factory):
    d = tmp_path_factory.mktemp("digits_rot")
    save_digits_rot(str(d), n_train=32, n_test=16, n_valid=8)
    return str(d)


def read_log_epochs(path):
    with open(os.path.join(path, "log.jsonl")) as f:
        return [json.loads(line)["epoch"] for line in f]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_defaults_are_the_released_protocol(datadir):
    """The release's command line (flags as released), checked without training: models, epochs,
    seeds and every resolved setting of each run."""
    result = experiment.main([f"--trainfn={datadir}/train_all.npz", f"--valfn={datadir}/test.npz",
                              "--modelpath=MNIST_ROT/models/", "--repeats", "5", "--dry_run"])
    runs = [(p.run.group, p.run.seed, p.run.epochs) for p in result["planned"]]
    assert sorted(runs) == sorted((m, s, e) for m, e in (("Z2CNN", 300), ("P4CNN", 100), ("P4CNN_RP", 100))
                                  for s in range(5))
    for p in result["planned"]:
        c = p.record["config"]
        assert (c["modelfn"], c["seed"], c["epochs"]) == (p.run.group, p.run.seed, p.run.epochs)
        assert os.path.samefile(c["model_path"], os.path.join(REPO, "gconv_experiments", "MNIST_ROT", "models",
                                                              p.run.group + ".py"))
        assert (c["batchsize"], c["opt"], c["opt_kwargs"]["alpha"]) == (128, "Adam", 0.001)
        assert (c["val_freq"], c["save_freq"], c["transformations"]) == (25, 25, ["rotation"])
        assert (c["weight_decay"], c["lr_decay_schedule"], c["train_size"], c["val_size"]) == (0.0, [], None, None)
        assert (c["normalization"], c["bn_reestimation"]) == ("train_scalar", "augmented")
        assert os.path.samefile(p.record["data"]["trainfn"]["path"], os.path.join(datadir, "train_all.npz"))
        assert os.path.samefile(p.record["data"]["valfn"]["path"], os.path.join(datadir, "test.npz"))
        assert p.action == "train"


def test_help_states_the_released_protocol_and_the_rotations():
    text = " ".join(experiment.build_parser().format_help().split())
    assert "Every default is the released protocol" in text
    assert "'rotation' = as released" in text and "at most +-3.14 degrees" in text
    assert "'uniform_rotation' = true rotations uniform in [0, 2 pi)" in text


@pytest.mark.slow
def test_release_command_line_runs_unchanged(tmp_path):
    """`MNIST_ROT/experiment.py --trainfn=DIR/train_all.npz --valfn=DIR/test.npz
    --modelpath=MNIST_ROT/models/ --repeats 1` as a script, full models and epochs, on 4 digits."""
    data = tmp_path / "mnist-rot"
    save_digits_rot(str(data), n_train=4, n_test=4, n_valid=1)
    cmd = [sys.executable, os.path.join(REPO, "gconv_experiments", "MNIST_ROT", "experiment.py"),
           f"--trainfn={data}/train_all.npz", f"--valfn={data}/test.npz", "--modelpath=MNIST_ROT/models/",
           "--repeats", "1"]
    result = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_csv(tmp_path / "results" / "mnist_rot_sweep" / "results.csv")
    assert {(r["model"], r["epochs"]) for r in rows} == {("Z2CNN", "300"), ("P4CNN", "100"), ("P4CNN_RP", "100")}
    assert read_log_epochs(tmp_path / "results" / "mnist_rot_sweep" / "Z2CNN" / "seed0")[-1] == 300


def test_reported_statistics_come_from_the_runs_summaries(datadir, tmp_path):
    """Mean and std per model in results.csv / results.md recomputed with the statistics module
    from each run's own summary.json."""
    out = str(tmp_path / "sweep")
    experiment.main(TINY + ["--repeats", "3", "--epochs", "1", "--datadir", datadir, "--resultdir", out])
    rows = {r["model"]: r for r in read_csv(os.path.join(out, "results.csv"))}
    with open(os.path.join(out, "results.md")) as f:
        table = f.read()
    assert list(rows) == ["Z2CNN", "P4CNN"]
    for model in ("Z2CNN", "P4CNN"):
        errors = []
        for seed in range(3):
            with open(os.path.join(out, model, f"seed{seed}", "summary.json")) as f:
                errors.append(json.load(f)["test_error"])
        mean, pstd, sstd = statistics.fmean(errors), statistics.pstdev(errors), statistics.stdev(errors)
        row = rows[model]
        assert float(row["test_error_mean"]) == pytest.approx(mean, abs=1e-12)
        assert float(row["test_error_std_ddof0"]) == pytest.approx(pstd, abs=1e-12)
        assert float(row["test_error_pct_mean"]) == pytest.approx(100 * mean, abs=1e-10)
        assert float(row["test_error_pct_std_ddof1"]) == pytest.approx(100 * sstd, abs=1e-10)
        paper_style = "%.2f ± %.4f" % (100 * mean, pstd)
        assert row["paper_style"] == paper_style and (row["runs"], row["seeds"]) == ("3", "0 1 2")
        assert f"| {model} | 3 | 1 | {100 * mean:.2f} ± {100 * sstd:.2f} | {paper_style} |" in table
    runs = read_csv(os.path.join(out, "runs.csv"))
    assert [(r["model"], r["seed"]) for r in runs] == [(m, str(s)) for m in ("Z2CNN", "P4CNN") for s in range(3)]
    assert "| Z2CNN | 3 | 1 |" in table and "5.03 ± 0.0020" in table and "2.28 ± 0.0004" in table
    with open(os.path.join(out, "learning_curves.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_seeds_and_test_file_reach_the_runs_and_the_table(datadir, tmp_path):
    """--seeds 3,5 trains seeds 3 and 5 (not 0 and 1: their positions), and with a --testfn
    other than --valfn the table averages the runs' test errors, not their validation errors."""
    out = str(tmp_path / "sweep")
    result = experiment.main(["--models", "Z2CNN", "--seeds", "3,5", "--train_size", "32", "--val_size", "8",
                              "--batchsize", "16", "--net_kwargs", "{'channels': 3}", "--quiet", "--epochs", "1",
                              "--testfn", "valid.npz", "--datadir", datadir, "--resultdir", out])
    summaries = []
    for seed in (3, 5):
        folder = os.path.join(out, "Z2CNN", f"seed{seed}")
        with open(os.path.join(folder, "run.json")) as f:
            assert json.load(f)["config"]["seed"] == seed
        with open(os.path.join(folder, "summary.json")) as f:
            summaries.append(json.load(f))
    assert [s["seed"] for s in summaries] == [3, 5] and [p.run.seed for p in result["planned"]] == [3, 5]
    assert [s["test_file"] for s in summaries] == [os.path.join(datadir, "valid.npz")] * 2
    test, val = [s["test_error"] for s in summaries], [s["val_error"] for s in summaries]
    assert statistics.fmean(test) != statistics.fmean(val)  # else the check below could not tell them apart
    row, = read_csv(os.path.join(out, "results.csv"))
    assert float(row["test_error_mean"]) == pytest.approx(statistics.fmean(test), abs=1e-12)
    assert row["seeds"] == "3 5"
    runs = read_csv(os.path.join(out, "runs.csv"))
    assert [(r["seed"], float(r["test_error"])) for r in runs] == [("3", test[0]), ("5", test[1])]


@pytest.mark.slow
def test_sweep_reuses_then_continues(datadir, tmp_path, capsys):
    out = str(tmp_path / "sweep")
    argv = TINY + ["--datadir", datadir, "--resultdir", out]
    experiment.main(argv + ["--epochs", "1"])
    capsys.readouterr()
    stamps = {p: os.path.getmtime(p) for p in (os.path.join(out, m, f"seed{s}", "summary.json")
                                               for m in ("Z2CNN", "P4CNN") for s in (0, 1))}
    experiment.main(argv + ["--epochs", "1"])  # redoes nothing
    assert capsys.readouterr().out.count("finished earlier") == 4
    assert all(os.path.getmtime(p) == t for p, t in stamps.items())

    # one run lost its summary (killed after its snapshot), one never reached a snapshot
    z0, p1 = os.path.join(out, "Z2CNN", "seed0"), os.path.join(out, "P4CNN", "seed1")
    os.remove(os.path.join(z0, "summary.json"))
    for name in ("summary.json", "snapshot.h5"):
        os.remove(os.path.join(p1, name))
    experiment.main(argv + ["--epochs", "Z2CNN=2,P4CNN=2"])
    text = capsys.readouterr().out
    assert text.count("resuming from") == 3 and "P4CNN seed 1: training for 2 epochs" in text
    for m in ("Z2CNN", "P4CNN"):
        for s in (0, 1):
            assert read_log_epochs(os.path.join(out, m, f"seed{s}")) == [1, 2]
    assert "| P4CNN | 2 | 2 |" in open(os.path.join(out, "results.md")).read()


@pytest.fixture
def one_run(datadir, tmp_path):
    """A finished 1-run sweep (Z2CNN seed 0, 1 epoch): (argv, run folder, its summary)."""
    out = str(tmp_path / "sweep")
    argv = ["--models", "Z2CNN", "--repeats", "1", "--train_size", "16", "--val_size", "8", "--batchsize", "16",
            "--net_kwargs", "{'channels': 2}", "--quiet", "--epochs", "1", "--datadir", datadir, "--resultdir", out]
    summary = experiment.main(argv)["summaries"][0]
    return argv, os.path.join(out, "Z2CNN", "seed0"), summary


@pytest.mark.parametrize("keep_snapshot", [True, False])
def test_damaged_summary_is_named_and_the_run_redone(one_run, capsys, keep_snapshot):
    argv, folder, first = one_run
    path = os.path.join(folder, "summary.json")
    with open(path, "w") as f:
        f.write('{"model": "Z2')
    if not keep_snapshot:
        os.remove(os.path.join(folder, "snapshot.h5"))
    capsys.readouterr()
    again = experiment.main(argv)["summaries"][0]
    out = capsys.readouterr().out
    assert f"{path} is damaged" in out
    assert ("resuming from" in out) == keep_snapshot and ("training for 1 epochs" in out) != keep_snapshot
    assert again["test_error"] == first["test_error"]


def test_summary_with_nan_counts_as_damaged(one_run, capsys):
    argv, folder, first = one_run
    path = os.path.join(folder, "summary.json")
    with open(path, "w") as f:
        f.write(json.dumps(dict(first, test_error=None)).replace("null", "NaN"))
    again = experiment.main(argv)["summaries"][0]
    assert f"{path} is damaged" in capsys.readouterr().out and again["test_error"] == first["test_error"]


def test_removed_snapshot_and_more_epochs_is_refused(one_run, capsys):
    argv, folder, _ = one_run
    os.remove(os.path.join(folder, "snapshot.h5"))
    status = experiment.cli(argv + ["--epochs", "3"])
    err = capsys.readouterr().err
    assert status == 2 and folder in err and "snapshot.h5 was removed" in err and "--epochs Z2CNN=1" in err
    assert read_log_epochs(folder) == [1]


def test_fewer_epochs_than_trained_is_refused(one_run, capsys):
    argv, folder, _ = one_run
    shutil.copy(os.path.join(folder, "summary.json"), os.path.join(folder, "kept.json"))
    with open(os.path.join(folder, "summary.json")) as f:
        summary = json.load(f)
    with open(os.path.join(folder, "summary.json"), "w") as f:
        json.dump(dict(summary, epochs=5), f)
    assert experiment.cli(argv) == 2
    assert "trained for 5 epochs, more than the 1 requested" in capsys.readouterr().err


def test_resultdir_that_is_a_file(tmp_path, capsys):
    path = tmp_path / "a_file"
    path.write_text("x")
    assert experiment.cli(["--resultdir", str(path), "--datadir", str(tmp_path)]) == 2
    assert f"--resultdir {path} is an existing file" in capsys.readouterr().err


@pytest.mark.parametrize("inside", [os.path.join("Z2CNN", "seed0"), "Z2CNN"])
def test_run_folder_that_is_a_file(datadir, tmp_path, capsys, inside):
    (tmp_path / "r" / "Z2CNN").mkdir(parents=True) if inside != "Z2CNN" else (tmp_path / "r").mkdir()
    (tmp_path / "r" / inside).write_text("x")
    status = experiment.cli(TINY + ["--models", "Z2CNN", "--epochs", "1", "--datadir", datadir,
                                    "--resultdir", str(tmp_path / "r")])
    assert status == 2 and f"{tmp_path / 'r' / inside} is an existing file" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--models", "Z2CNN,Z3CNN"], "unknown model.*Z3CNN"),
    (["--epochs", "ten"], "--epochs must be"),
    (["--epochs", "Z2CNN=0"], "--epochs must be"),
    (["--epochs", "Foo=3"], "unknown model 'Foo'"),
    (["--seeds", "1,1"], "repeated"),
    (["--repeats", "0"], "--repeats must be"),
    (["--seed", "3"], "--seed is set by the sweep"),
    (["--workers", "0"], "--workers must be a positive integer"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
    (["--threads", "0"], "--threads must be a positive integer"),
])
def test_bad_sweep_flags(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        experiment.main(["--resultdir", str(tmp_path), "--datadir", str(tmp_path)] + extra)


def test_cli_reports_missing_data(tmp_path, capsys):
    status = experiment.cli(["--resultdir", str(tmp_path / "r"), "--datadir", str(tmp_path / "nodata"),
                             "--models", "Z2CNN", "--repeats", "1", "--epochs", "1"])
    assert status == 2
    err = capsys.readouterr().err
    assert "error:" in err and os.path.join(str(tmp_path / "nodata"), "train_all.npz") in err


def test_run_without_a_run_record_is_not_reused(one_run, capsys):
    """A finished run whose run.json is gone (made by older code, or removed) cannot be checked
    against the settings: named, not reused."""
    argv, folder, _ = one_run
    os.remove(os.path.join(folder, "run.json"))
    assert experiment.cli(argv) == 2
    err = capsys.readouterr().err
    assert os.path.join(folder, "run.json") in err and "cannot be checked" in err


def test_progress_bar_counts_the_sweeps_runs(one_run, capsys):
    """Without --quiet: one bar for the sweep, counting runs (done earlier ones included); the
    runs' own bars stay off; nothing left to train is no bar at all."""
    argv, folder, _ = one_run
    loud = [a for a in argv if a != "--quiet"]
    capsys.readouterr()
    experiment.main(loud)
    assert "sweep:" not in capsys.readouterr().err
    experiment.main(loud + ["--seeds", "0,1"])
    err = capsys.readouterr().err
    assert "sweep: 1/2 runs" in err and "sweep: 2/2 runs" in err
    assert "epoch 1/1" not in err and "BN statistics" not in err and "validation" not in err


PUBLISHED_REPORT = ("results.md", "results.csv", "learning_curves.png")


def test_the_published_report_is_not_replaced_by_a_sweep(datadir, tmp_path, monkeypatch, capsys):
    """results/mnist_rot's report (written by reproduction.py) survives the sweep command: by
    default the sweep goes elsewhere, and --resultdir results/mnist_rot is refused before anything
    trains unless --overwrite_report."""
    published = tmp_path / "results" / "mnist_rot"
    published.mkdir(parents=True)
    for name in PUBLISHED_REPORT:
        shutil.copy(os.path.join(REPO, "results", "mnist_rot", name), published / name)
    before = {name: (published / name).read_bytes() for name in PUBLISHED_REPORT}
    monkeypatch.chdir(tmp_path)
    argv = TINY + ["--models", "Z2CNN", "--repeats", "1", "--epochs", "1", "--datadir", datadir]
    assert experiment.cli(argv) == 0
    assert os.path.isfile(tmp_path / "results" / "mnist_rot_sweep" / "results.md")
    capsys.readouterr()
    assert experiment.cli(argv + ["--resultdir", os.path.join("results", "mnist_rot")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--resultdir results/mnist_rot: it holds a report" in err
    assert "--overwrite_report" in err and sorted(os.listdir(published)) == sorted(PUBLISHED_REPORT)
    assert {name: (published / name).read_bytes() for name in PUBLISHED_REPORT} == before
    assert experiment.cli(argv + ["--resultdir", os.path.join("results", "mnist_rot"), "--overwrite_report"]) == 0
    assert (published / "results.md").read_bytes() != before["results.md"]


def test_a_sweeps_report_is_replaced_only_by_one_covering_its_runs(one_run, capsys):
    """The same sweep, or one with more seeds, rewrites its report; a sweep leaving some of its
    runs out (or with other settings in new folders) is refused unless --overwrite_report."""
    argv, folder, _ = one_run
    out = os.path.dirname(os.path.dirname(folder))
    experiment.main(argv)  # the same runs
    experiment.main(argv + ["--seeds", "0,1"])  # more
    assert [r["seed"] for r in read_csv(os.path.join(out, "runs.csv"))] == ["0", "1"]
    capsys.readouterr()
    for other in (["--seeds", "1"], ["--batchsize", "8", "--fresh_on_change"]):
        assert experiment.cli(argv + other) == 2
        err = capsys.readouterr().err
        assert f"--resultdir {out}: it holds the report of 2 run(s) (sweep.json)" in err and "--overwrite_report" in err
    assert [r["seed"] for r in read_csv(os.path.join(out, "runs.csv"))] == ["0", "1"]
    assert not [f for f in os.listdir(os.path.join(out, "Z2CNN")) if "-" in f]  # nothing trained
    experiment.main(argv + ["--seeds", "1", "--overwrite_report"])
    assert [r["seed"] for r in read_csv(os.path.join(out, "runs.csv"))] == ["1"]

"""The MNIST-rot sweep on a tiny rotated-digits set: table, CSV and plot; a re-run skips finished
runs, resumes snapshotted ones and restarts runs killed before their first snapshot."""
import csv
import json
import os

import pytest

from gconv_experiments.MNIST_ROT import experiment
from gconv_experiments.MNIST_ROT.digits_rot import save_digits_rot
from gconv_experiments.training import ConfigError

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


@pytest.mark.slow
def test_sweep_writes_table_and_plot_then_continues(datadir, tmp_path, capsys):
    out = str(tmp_path / "sweep")
    argv = TINY + ["--datadir", datadir, "--resultdir", out]
    result = experiment.main(argv + ["--epochs", "1"])
    assert len(result["summaries"]) == 4
    with open(os.path.join(out, "results.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["seed"]) for r in rows] == [("Z2CNN", "0"), ("Z2CNN", "1"), ("P4CNN", "0"), ("P4CNN", "1")]
    assert all(0 <= float(r["test_error"]) <= 1 for r in rows)
    with open(os.path.join(out, "results.md")) as f:
        table = f.read()
    assert "| Z2CNN | 2 | 1 |" in table and "5.03 ± 0.0020" in table and "2.28 ± 0.0004" in table
    with open(result["plot"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(result["plot"]) > 5000
    capsys.readouterr()

    # Re-running the same command redoes nothing.
    stamps = {p: os.path.getmtime(p) for p in (os.path.join(out, m, f"seed{s}", "summary.json")
                                               for m in ("Z2CNN", "P4CNN") for s in (0, 1))}
    experiment.main(argv + ["--epochs", "1"])
    assert capsys.readouterr().out.count("finished earlier") == 4
    assert all(os.path.getmtime(p) == t for p, t in stamps.items())

    # A sweep killed mid-way: one run lost its summary (killed after its snapshot), one was killed
    # before its first snapshot (args and a partial log only). Asking for 2 epochs continues all.
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
    with open(os.path.join(out, "results.md")) as f:
        assert "| P4CNN | 2 | 2 |" in f.read()


def test_parse_epochs():
    models = ["Z2CNN", "P4CNN", "P4CNN_RP"]
    assert experiment.parse_epochs(experiment.build_parser().get_default("epochs"), models) == \
        {"Z2CNN": 300, "P4CNN": 100, "P4CNN_RP": 100}
    assert experiment.parse_epochs("7", models) == {"Z2CNN": 7, "P4CNN": 7, "P4CNN_RP": 7}
    assert experiment.parse_epochs("P4CNN=3", models) == {"Z2CNN": 300, "P4CNN": 3, "P4CNN_RP": 100}


@pytest.mark.parametrize("extra, message", [
    (["--models", "Z2CNN,Z3CNN"], "unknown model.*Z3CNN"),
    (["--epochs", "ten"], "--epochs must be"),
    (["--epochs", "Z2CNN=0"], "--epochs must be"),
    (["--epochs", "Foo=3"], "unknown model 'Foo'"),
    (["--seeds", "1,1"], "repeated"),
    (["--repeats", "0"], "--repeats must be"),
    (["--seed", "3"], "--seed is set by the sweep"),
])
def test_bad_sweep_flags(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        experiment.main(["--resultdir", str(tmp_path), "--datadir", str(tmp_path)] + extra)


def test_cli_reports_missing_data(tmp_path, capsys):
    status = experiment.cli(["--resultdir", str(tmp_path / "r"), "--datadir", str(tmp_path / "nodata"),
                             "--models", "Z2CNN", "--repeats", "1", "--epochs", "1"])
    assert status == 2
    assert "error: data file" in capsys.readouterr().err


def test_unreadable_summary_is_redone_from_the_snapshot(datadir, tmp_path, capsys):
    """A summary.json cut short (killed while writing) does not stop the sweep: the run resumes
    from its snapshot and rewrites it."""
    out = str(tmp_path / "sweep")
    argv = ["--models", "Z2CNN", "--repeats", "1", "--train_size", "16", "--val_size", "8", "--batchsize", "16",
            "--net_kwargs", "{'channels': 2}", "--quiet", "--epochs", "1", "--datadir", datadir, "--resultdir", out]
    first = experiment.main(argv)["summaries"][0]
    with open(os.path.join(out, "Z2CNN", "seed0", "summary.json"), "w") as f:
        f.write('{"model": "Z2')
    again = experiment.main(argv)["summaries"][0]
    assert "Z2CNN seed 0: resuming from" in capsys.readouterr().out
    assert again["test_error"] == first["test_error"]

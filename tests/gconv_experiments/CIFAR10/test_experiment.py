"""The CIFAR10 sweep on a tiny archive in the official layout: preprocessed once by the client,
the runs' records hash the cache files, tables as for MNIST-rot, a rerun reuses every run, and a
local cluster gives the same runs.csv."""
import csv
import json
import os
import statistics

import pytest

from gconv_experiments.CIFAR10 import experiment
from gconv_experiments.training import ConfigError

TINY = ["--models", "AllCNNC,P4AllCNNC", "--repeats", "2", "--epochs", "1", "--train_size", "24",
        "--val_size", "12", "--batchsize", "12", "--net_kwargs", "{'widths': (4, 4)}", "--threads", "1",
        "--quiet"]


@pytest.fixture
def datadir(tiny_archive):
    return os.path.dirname(tiny_archive)


def read(path):
    with open(path) as f:
        return f.read()


def test_sweep_tabulates_and_reuses(datadir, tmp_path, capsys):
    out = str(tmp_path / "sweep")
    result = experiment.main(TINY + ["--datadir", datadir, "--resultdir", out])
    assert os.path.isfile(os.path.join(datadir, "preprocessed", "train_all.npz"))
    for p in result["planned"]:
        data = p.record["data"]
        assert data["trainfn"]["path"] == os.path.join(datadir, "preprocessed", "train_all.npz")
        assert data["valfn"]["path"] == os.path.join(datadir, "preprocessed", "test.npz")
    with open(os.path.join(out, "results.csv"), newline="") as f:
        rows = {r["model"]: r for r in csv.DictReader(f)}
    for model in ("AllCNNC", "P4AllCNNC"):
        errors = [json.loads(read(os.path.join(out, model, f"seed{s}", "summary.json")))["test_error"] for s in (0, 1)]
        assert float(rows[model]["test_error_mean"]) == pytest.approx(statistics.fmean(errors), abs=1e-12)
        assert float(rows[model]["test_error_std_ddof0"]) == pytest.approx(statistics.pstdev(errors), abs=1e-12)
    table = read(os.path.join(out, "results.md"))
    assert "paper (Table 2), %" in table and "9.44 / +aug 8.86" in table
    capsys.readouterr()
    again = experiment.main(TINY + ["--datadir", datadir, "--resultdir", out])
    assert [p.action for p in again["planned"]] == ["done"] * 4
    assert capsys.readouterr().out.count("finished earlier") == 4


@pytest.mark.slow
def test_local_cluster_gives_the_serial_runs(datadir, tmp_path):
    pytest.importorskip("distributed")
    small = TINY[:1] + ["AllCNNC"] + TINY[2:]
    serial, dask = str(tmp_path / "serial"), str(tmp_path / "dask")
    experiment.main(small + ["--datadir", datadir, "--resultdir", serial])
    experiment.main(small + ["--datadir", datadir, "--resultdir", dask, "--workers", "2"])
    assert read(os.path.join(serial, "runs.csv")) == read(os.path.join(dask, "runs.csv"))
    assert read(os.path.join(serial, "results.csv")) == read(os.path.join(dask, "results.csv"))


def test_missing_source_is_one_error(tmp_path):
    with pytest.raises(ConfigError, match="--datadir"):
        experiment.main(TINY + ["--datadir", str(tmp_path / "nothing"), "--resultdir", str(tmp_path / "r")])

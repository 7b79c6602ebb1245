"""The data-efficiency study end to end on tiny data (2 models x 2 sizes x 1 seed, 5 steps):
the table, the plot and the headline are written, finished runs are reused, a changed setting
stops the study, jobs run one at a time; and the headline's log-log interpolation by hand."""
import csv
import math
import os

import pytest

from gconv_experiments.MNIST_ROT import data_efficiency, data_efficiency_report as report

TINY = ["--models", "Z2CNN,P4CNN", "--sizes", "64,32", "--seeds", "0", "--steps", "5", "--batchsize", "16"]


@pytest.fixture(scope="module")
def study(datadir, tmp_path_factory):
    resultdir = str(tmp_path_factory.mktemp("study") / "data_efficiency")
    assert data_efficiency.main(TINY + ["--datadir", datadir, "--resultdir", resultdir]) == 0
    return resultdir


def test_the_study_writes_the_table_the_plot_and_the_headline(study, tiny):
    with open(os.path.join(study, "results.md")) as f:
        text = f.read()
    assert "4 of 4 planned runs finished" in text and "Reference: Z2CNN with 64 images" in text
    assert "- P4CNN: reaches it" in text and "P4CNN with 1,000 images: outside the measured range" in text
    with open(os.path.join(study, "results.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["size"], r["runs_finished"]) for r in rows] == \
        [("Z2CNN", "32", "1"), ("Z2CNN", "64", "1"), ("P4CNN", "32", "1"), ("P4CNN", "64", "1")]
    with open(os.path.join(study, "data_efficiency.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    for model in ("Z2CNN", "P4CNN"):
        for size in (32, 64):
            summary = tiny.strict_json(os.path.join(study, model, f"n{size}", "seed0", "summary.json"))
            assert summary["steps"] == 5 and summary["epochs"] == (3 if size == 32 else 2)
            record = tiny.strict_json(os.path.join(study, model, f"n{size}", "seed0", "run.json"))
            assert (record["config"]["train_subset"], record["config"]["train_size"]) == ("balanced", size)


def test_a_second_call_reuses_the_runs_and_a_changed_setting_stops_it(study, datadir, capsys):
    summary = os.path.join(study, "P4CNN", "n32", "seed0", "summary.json")
    before = os.path.getmtime(summary)
    assert data_efficiency.main(TINY + ["--datadir", datadir, "--resultdir", study]) == 0
    assert os.path.getmtime(summary) == before and "finished earlier" in capsys.readouterr().out
    changed = [a if a != "5" else "6" for a in TINY]
    assert data_efficiency.main(changed + ["--datadir", datadir, "--resultdir", study]) == 2
    assert "--steps: 5 -> 6" in capsys.readouterr().err


def test_report_only_and_single_jobs(study, datadir, tmp_path, capsys):
    assert data_efficiency.main(TINY + ["--datadir", datadir, "--resultdir", study, "--report-only"]) == 0
    assert "4 of 4 runs finished" in capsys.readouterr().out
    other = str(tmp_path / "lanes")
    assert data_efficiency.main(TINY + ["--datadir", datadir, "--resultdir", other, "--list-jobs"]) == 0
    assert capsys.readouterr().out.splitlines() == ["0 Z2CNN 32 0", "1 P4CNN 32 0", "2 Z2CNN 64 0", "3 P4CNN 64 0"]
    assert data_efficiency.main(TINY + ["--datadir", datadir, "--resultdir", other, "--run-job", "1"]) == 0
    with open(os.path.join(other, "results.md")) as f:
        assert "1 of 4 planned runs finished" in f.read()
    assert data_efficiency.main(TINY + ["--datadir", datadir, "--resultdir", other, "--run-job", "4"]) == 2


@pytest.mark.parametrize("extra, message", [(["--sizes", "8,32"], "--sizes 8 smaller than --batchsize 16"),
                                            (["--sizes", "32,65"], "--sizes 65 exceeds the 64 images"),
                                            (["--models", "P4CNN,X"], "--models: unknown model(s) ['X']")])
def test_bad_study_flags_are_one_line_errors(datadir, tmp_path, capsys, extra, message):
    argv = TINY + ["--datadir", datadir, "--resultdir", str(tmp_path / "s")] + extra
    assert data_efficiency.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not os.path.exists(tmp_path / "s")


def test_headline_interpolates_in_log_size_and_log_error():
    rows = [dict(model="Z2CNN", size=n, runs_finished=1, test_error_mean=e)
            for n, e in ((300, 0.20), (1000, 0.10), (3000, 0.05), (12000, 0.02))]
    rows += [dict(model="P4CNN", size=n, runs_finished=1, test_error_mean=e)
             for n, e in ((300, 0.08), (1000, 0.04), (3000, 0.015), (12000, 0.01))]
    rows += [dict(model="P4MCNN", size=n, runs_finished=1, test_error_mean=e) for n, e in ((300, 0.3), (12000, 0.03))]
    # P4CNN reaches 2% between 1000 (4%) and 3000 (1.5%): log n = log 1000 + log(2/4)/log(1.5/4) * log 3,
    # n = 1000 * 3 ** 0.7067 = 2,174 images, factor 12000 / 2174 = 5.5
    expected = 1000 * 3 ** (math.log(0.5) / math.log(0.375))
    size, how = report.size_reaching([300, 1000, 3000, 12000], [0.08, 0.04, 0.015, 0.01], 0.02)
    assert how == "interpolated" and size == pytest.approx(expected, rel=1e-12)
    lines = report.headline(rows)
    assert f"reaches it with about {expected:,.0f} images" in lines[1]
    assert f"data saving factor {12000 / expected:.1f}" in lines[1] and "2,174 images" in lines[1] and "5.5." in lines[1]
    assert "P4MCNN: reaches it: not reached" in lines[2]
    assert "Z2CNN with 1,000 images: 10.00% test error (measured)" in lines[3]
    p4m_at_1000 = 0.3 * 0.1 ** (math.log(1000 / 300) / math.log(40))
    assert f"P4MCNN with 1,000 images: {100 * p4m_at_1000:.2f}% test error (interpolated)" in lines[5]
    assert report.size_reaching([300, 1000], [0.01, 0.005], 0.02) == (300, "at or below the smallest size")

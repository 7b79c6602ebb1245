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
    assert "P4MCNN: does not reach it within the sizes measured (up to 12,000 images)" in lines[2]
    assert "Z2CNN with 1,000 images: 10.00% test error (measured)" in lines[3]
    p4m_at_1000 = 0.3 * 0.1 ** (math.log(1000 / 300) / math.log(40))
    assert f"P4MCNN with 1,000 images: {100 * p4m_at_1000:.2f}% test error (interpolated)" in lines[5]
    assert report.size_reaching([300, 1000], [0.01, 0.005], 0.02) == (300, "at or below the smallest size")
    unstarted = report.headline(rows[:4] + [dict(model="P4CNN", size=300, runs_finished=0, test_error_mean=None)])
    assert unstarted[1] == "- P4CNN: no finished run yet."


def test_runs_take_the_epochs_their_steps_need_and_a_size_of_one_batch_is_allowed(tmp_path):
    """epochs = ceil(steps / ceil(size / batch)): at batch 128, 300 images are 3 batches an
    epoch (the last one short), so 4,000 steps take 1,334 epochs; 1,000 images: 8 batches, 500
    epochs. A size equal to the batch size is one whole batch, accepted."""
    study = data_efficiency.Study("/d", "/o", ("P4CNN",), (300, 1000), (0,), steps=4000)
    assert (study.epochs(300), study.epochs(1000), study.epochs(128), study.epochs(129)) == (1334, 500, 4000, 2000)
    argv = list(study.run("P4CNN", 300, 0).argv)
    assert argv[argv.index("--epochs") + 1] == "1334" and argv[argv.index("--steps") + 1] == "4000"
    args = data_efficiency.build_parser().parse_args(["--datadir", str(tmp_path), "--sizes", "128,300",
                                                      "--batchsize", "128"])
    assert data_efficiency.study_from_args(args, check_data=False).sizes == (128, 300)


def test_a_curve_reaching_the_target_exactly_reaches_it_there():
    """An error equal to the target counts as reached: at that size, interpolated or not."""
    assert report.size_reaching([300, 1000], [0.05, 0.02], 0.02) == (pytest.approx(1000, rel=1e-12), "interpolated")
    assert report.size_reaching([300, 1000], [0.02, 0.01], 0.02) == (300, "at or below the smallest size")


def test_group_rows_mean_and_sample_std_of_the_finished_seeds_by_hand():
    """Errors 2% and 4% finished, a third seed unfinished: mean 3%, sample std (ddof 1) 1.414%."""
    runs = [dict(model="P4CNN", size=300, seed=s, finished=f, test_error=e, hours=h)
            for s, f, e, h in ((0, True, 0.02, 1.0), (1, True, 0.04, 3.0), (2, False, None, 0.5))]
    row, = report.group_rows(runs)
    assert (row["runs_finished"], row["runs_planned"], row["hours_per_run"]) == (2, 3, 2.0)
    assert row["test_error_mean"] == pytest.approx(0.03, rel=1e-12)
    assert row["test_error_std_ddof1"] == pytest.approx(0.02 / math.sqrt(2), rel=1e-12)
    assert row["test_error_pct_std_ddof1"] == pytest.approx(100 * 0.02 / math.sqrt(2), rel=1e-12)


def test_a_run_counts_as_finished_only_with_the_studys_epochs_and_steps(tmp_path):
    """A summary written by a run with other --steps (the same epochs) is not this study's."""
    import json
    study = data_efficiency.Study("/d", str(tmp_path), ("P4CNN",), (32,), (0, 1, 2), steps=5, batchsize=16)
    assert study.epochs(32) == 3
    for seed, epochs, steps in ((0, 3, 5), (1, 3, 6), (2, 2, 5)):
        folder = study.run_folder("P4CNN", 32, seed)
        os.makedirs(folder)
        with open(os.path.join(folder, "summary.json"), "w") as f:
            json.dump(dict(epochs=epochs, steps=steps, test_error=0.1 * (seed + 1), seconds_total=3600.0), f)
    rows = report.collect(study)
    assert [(r["seed"], r["finished"], r["test_error"]) for r in rows] == [(0, True, 0.1), (1, False, None),
                                                                          (2, False, None)]

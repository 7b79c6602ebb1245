"""The command line and table code of benchmarks/run_benchmarks.py and its section modules
(nothing is timed here): argument checks, the child environment, medians and rows by hand, the
printed table."""
import pathlib

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture()
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_table
    import bench_timing
    import run_benchmarks
    return run_benchmarks, bench_timing, bench_table


def test_parse_args_defaults_and_errors(bench, capsys):
    run_benchmarks, _, _ = bench
    args = run_benchmarks.parse_args(["--threads", "3", "--only", "steps", "--models", "P4CNN"])
    assert args.sections == {"steps"} and args.threads == 3 and args.model_list == ["P4CNN"]
    assert run_benchmarks.parse_args([]).sections == {"transform", "layers", "steps"}
    for bad, message in ((["--only", "steps,bogus"], "unknown sections"),
                         (["--models", "NoSuchNet"], "--models: unknown"),
                         (["--repeats", "0"], "--repeats must be >= 1"),
                         (["--threads", "0"], "--threads must be >= 1")):
        with pytest.raises(SystemExit):
            run_benchmarks.parse_args(bad)
        assert message in capsys.readouterr().err


def test_child_env(bench, monkeypatch):
    run_benchmarks, _, _ = bench
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    env = run_benchmarks.child_env(run_benchmarks.parse_args(
        ["--native-blas", "--no-fast-conv", "--threads", "2"]))
    assert "OPENBLAS_CORETYPE" not in env and env["GROUPY_FAST_CPU_CONV"] == "0"
    assert env["OMP_NUM_THREADS"] == env["GROUPY_CPU_CONV_THREADS"] == "2"
    env = run_benchmarks.child_env(run_benchmarks.parse_args(["--threads", "1"]))
    assert env["OPENBLAS_CORETYPE"] == "Haswell" and env["GROUPY_FAST_CPU_CONV"] == "1"


def test_median_and_row_by_hand(bench):
    _, timing, _ = bench
    assert timing.median([3, 1, 2]) == 2 and timing.median([4, 1, 3, 2]) == 2.5
    r = timing.row("steps", "x", [0.002, 0.004, 0.003], [0.001, 0.002, 0.003])
    assert (r["ours_ms"], r["ref_ms"], r["ours_best_ms"], r["ref_best_ms"]) == \
        pytest.approx((3, 2, 2, 1))
    assert r["ratio"] == pytest.approx(1.5) and r["ratio_best"] == pytest.approx(2)


def test_print_table(bench, capsys):
    _, timing, table = bench
    r = dict(timing.row("steps", "P4CNN step", [0.150], [0.100]), ours_peak_rss_mib=300.4,
             ours_step_rss_growth_mib=170.2, ref_peak_rss_mib=500.0, ref_step_rss_growth_mib=200,
             twin_max_abs_dlogits=3.2e-6)
    table.print_table([r, dict(timing.row("layers", "conv", [0.001], [0.001]), ref_ms=None,
                               ratio=None, ratio_best=None)])
    out = capsys.readouterr().out.splitlines()
    assert out[2] == "[steps]" and out[4] == "[layers]"
    assert out[3].split() == ["P4CNN", "step", "150.00", "100.00", "1.50", "1.50",
                              "300/500", "(+170/200)", "3.2e-06"]
    assert out[5].split() == ["conv", "1.00", "-", "-", "-", "-"]

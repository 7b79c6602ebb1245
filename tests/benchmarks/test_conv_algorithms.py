"""benchmarks/conv_algorithms.py: its layer argument, the choice of 'auto' it reports, and one
tiny run of the table (every algorithm's passes are timed and give the same numbers)."""
import pathlib

import chainer
import numpy as np
import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture()
def ca(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import conv_algorithms
    return conv_algorithms


def test_a_layer_is_batch_channels_and_map_size(ca):
    assert ca.parse_layer("32x88x32") == (32, 88, 32)
    for bad in ("32x88", "axbxc", "32x0x8"):
        with pytest.raises(ValueError, match="--layers: '{}'".format(bad)):
            ca.parse_layer(bad)


def test_a_bad_layer_is_refused_by_the_command_line(ca, capsys):
    with pytest.raises(SystemExit):
        ca.main(["--layers", "32x88"])
    assert "is not NxCxH" in capsys.readouterr().err


@pytest.mark.parametrize("layer, choice", [
    ((272, 32), "winograd"), ((184, 16), "im2col"), ((360, 8), "im2col"),
    ((88, 32), "direct (weight grad im2col)"), ((40, 24), "direct")])
def test_the_reported_choice_of_auto_is_the_dispatch(ca, layer, choice):
    with chainer.using_config("groupy_fast_cpu_numba", True):
        assert ca.auto_choice(*layer) == choice


def test_the_algorithms_compute_the_same_passes(ca):
    fns = ca.passes(2, 8, 6)
    out = {}
    for algo in ca.ALGORITHMS:
        with chainer.using_config("groupy_fast_cpu_conv_algo", algo):
            out[algo] = [np.array(fn()) for fn in fns.values()]
    for algo in ca.ALGORITHMS[1:]:
        for a, ref in zip(out[algo], out["im2col"]):
            np.testing.assert_allclose(a, ref, rtol=1e-4, atol=1e-4)


def test_the_table_has_a_row_per_algorithm_with_its_ratio_to_im2col(ca, capsys):
    ca.main(["--layers", "2x8x6", "--repeats", "1"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line.split()[:1] == ["2x8x6"]]
    assert [r[1] for r in rows] == list(ca.ALGORITHMS)
    assert float(rows[0][6]) == 1.0
    for r in rows:
        assert abs(sum(map(float, r[2:5])) - float(r[5])) < 0.2  # total of the three passes


def test_the_table_leaves_the_thread_settings_as_they_were(ca, capsys):
    """(A test after it in the same process trains on the threads it expects.)"""
    import threadpoolctl
    from groupy.fast_cpu.threads import get_num_threads
    before = (get_num_threads(), [p["num_threads"] for p in threadpoolctl.threadpool_info()])
    ca.main(["--layers", "2x8x6", "--repeats", "1", "--threads", "3"])
    assert (get_num_threads(), [p["num_threads"] for p in threadpoolctl.threadpool_info()]) == before

"""The p4 / p4m drawings write real PNG images (checked for content, not pixel snapshots)."""
import numpy as np
import pytest
from matplotlib.image import imread

from groupy.gfunc import P4FuncArray, P4MFuncArray
from groupy.gfunc.plot.plot_p4 import plot_p4
from groupy.gfunc.plot.plot_p4m import plot_p4m


def n_colours(path):
    img = imread(str(path))
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    return len(np.unique(img.reshape(-1, img.shape[-1]).round(3), axis=0))


@pytest.mark.parametrize("plot,func,n", [(plot_p4, P4FuncArray, 4), (plot_p4m, P4MFuncArray, 8)])
def test_png_is_written_with_content(tmp_path, plot, func, n):
    v = np.random.default_rng(0).standard_normal((n, 5, 5))
    path = tmp_path / "map.png"
    fig = plot(func(v), fname=path)
    assert path.stat().st_size > 5000
    assert n_colours(path) > 20  # planes in a colour map, red arrows, black frames, labels
    # the plain-array form draws the same planes
    path2 = tmp_path / "map2.png"
    plot(v, fname=path2)
    assert np.array_equal(imread(str(path)), imread(str(path2)))
    assert fig.axes and len(fig.axes[0].images) == n


def test_draws_into_a_given_axes(tmp_path):
    from matplotlib.figure import Figure
    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    assert plot_p4(np.ones((4, 3, 3)), ax=ax1) is fig  # constant planes are fine too
    plot_p4m(np.arange(72.0).reshape(8, 3, 3), ax=ax2)
    assert len(ax1.images) == 4 and len(ax2.images) == 8


def test_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"\(4, nu, nv\)"):
        plot_p4(np.zeros((8, 3, 3)))
    with pytest.raises(ValueError, match=r"\(8, nu, nv\)"):
        plot_p4m(P4FuncArray(np.zeros((2, 4, 3, 3))))


def test_p4m_with_separate_mirror_and_rotation_axes(tmp_path):
    v = np.random.default_rng(1).standard_normal((8, 4, 4))
    plot_p4m(P4MFuncArray(v.reshape(2, 4, 4, 4)), fname=tmp_path / "a.png")
    plot_p4m(P4MFuncArray(v), fname=tmp_path / "b.png")
    assert np.array_equal(imread(str(tmp_path / "a.png")), imread(str(tmp_path / "b.png")))

"""plot_p4 / plot_p4m / plot_z2 take the original GrouPy's arguments (names, order, defaults
from the original's groupy/gfunc/plot/*.py) and they do what the original's did."""
import inspect

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from groupy.gfunc.plot.plot_p4 import plot_p4
from groupy.gfunc.plot.plot_p4m import plot_p4m
from groupy.gfunc.plot.plot_z2 import plot_z2

ORIGINAL = {
    plot_p4: [("f", inspect.Parameter.empty), ("fignum", None), ("rlabels", "cayley"),
              ("rcolor", "red"), ("rlinestyle", "-"), ("fontsize", 20),
              ("labelpad_factor_1", 1.5), ("labelpad_factor_2", 1.5), ("figsize", (3, 3))],
    plot_p4m: [("f", inspect.Parameter.empty), ("fignum", None), ("rlabels", "cayley_mr"),
               ("rcolor", "red"), ("mcolor", "blue"), ("rlinestyle", "-"), ("mlinestyle", "-"),
               ("fontsize", 20), ("labelpad_factor_1", 1.5), ("labelpad_factor_2", 1.5),
               ("labelpad_factor_3", 2.5), ("labelpad_factor_4", 2.5), ("figsize", (3, 3))],
    plot_z2: [("f", inspect.Parameter.empty), ("fignum", None), ("range", None),
              ("color_map", "gray")],
}


@pytest.fixture
def plt():
    import matplotlib.pyplot as plt
    plt.close("all")
    yield plt
    plt.close("all")


@pytest.mark.parametrize("func", list(ORIGINAL), ids=lambda f: f.__name__)
def test_positional_parameters_are_the_originals(func):
    params = [p for p in inspect.signature(func).parameters.values()
              if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert [(p.name, p.default) for p in params] == ORIGINAL[func]


def texts(fig):
    return sorted(t.get_text() for ax in fig.axes for t in ax.texts)


def test_original_style_call_draws_into_pyplot_figure_fignum(plt):
    v = np.random.default_rng(0).standard_normal((4, 5, 5))
    fig = plot_p4(v, 7, "radians", "green", "--")  # positional, as the original's callers
    assert fig is plt.figure(7) and plt.get_fignums() == [7]
    assert tuple(fig.get_size_inches()) == (3, 3)
    arrows = [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == 4
    assert all(a.get_edgecolor() == to_rgba("green") and a.get_linestyle() == "--"
               for a in arrows)
    assert texts(fig) == sorted(["$0$", "$\\frac{\\pi}{2}$", "$\\pi$", "$\\frac{3\\pi}{2}$"])
    plot_p4m(np.zeros((2, 4, 3, 3)))  # fignum None: a new pyplot figure
    assert len(plt.get_fignums()) == 2


@pytest.mark.parametrize("rlabels,expected", [
    ("cayley", ["$e$", "$r$", "$r^2$", "$r^3$"]), ("indices", ["0", "1", "2", "3"]),
    ("none", [])])
def test_p4_labels(rlabels, expected):
    fig = Figure()
    plot_p4(np.zeros((4, 3, 3)), rlabels=rlabels, ax=fig.add_subplot())
    assert texts(fig) == sorted(expected)


def test_p4m_labels_lines_and_colours():
    fig = Figure()
    plot_p4m(np.zeros((8, 3, 3)), rlabels="cayley_rm", mcolor="purple", mlinestyle=":",
             ax=fig.add_subplot())
    assert texts(fig) == sorted(["$e$", "$r$", "$r^2$", "$r^3$", "$m$", "$r^3m$", "$r^2m$", "$rm$"])
    lines = fig.axes[0].lines
    assert len(lines) == 4 and all(l.get_color() == "purple" and l.get_linestyle() == ":"
                                   for l in lines)
    with pytest.raises(ValueError, match="rlabels must be one of"):
        plot_p4m(np.zeros((8, 3, 3)), rlabels="cayley", ax=Figure().add_subplot())
    with pytest.raises(ValueError, match="rlabels must be one of"):
        plot_p4(np.zeros((4, 3, 3)), rlabels="cayley_mr", ax=Figure().add_subplot())


def test_colour_planes():
    v = np.random.default_rng(1).uniform(size=(4, 3, 3, 3))
    fig = Figure()
    plot_p4(v, ax=fig.add_subplot())
    images = fig.axes[0].images
    assert len(images) == 4 and all(im.get_array().shape == (3, 3, 3) for im in images)
    fig = Figure()
    plot_p4m(np.ones((2, 4, 3, 3, 3)), ax=fig.add_subplot())
    assert len(fig.axes[0].images) == 8


def test_plot_z2_draws_on_the_current_axes_with_index_ticks(plt):
    f = np.arange(6.0).reshape(2, 3)
    ax = plt.figure(3).gca()
    image = plot_z2(f, range=(0, 10), color_map="viridis")
    assert image in ax.images and image.get_clim() == (0, 10)
    assert image.get_cmap().name == "viridis"
    np.testing.assert_array_equal(image.get_array(), f)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1"]
    assert plot_z2(f).get_clim() == (0, 5)  # default: the values' range
    with pytest.raises(ValueError, match=r"\(nu, nv\)"):
        plot_z2(np.zeros((2, 3, 4)))

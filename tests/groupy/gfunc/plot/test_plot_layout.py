"""Where the planes land: a function with a single peak is drawn, the figure rendered, and the
peak found in the pixels. Its place is derived from the docstrings' layout alone (plane r at slot
r counter-clockwise from the top; p4m plane (m, r) on the inner ring for m = 0, the outer for
m = 1; row 0 of a plane at the top, column 0 at the left), not from the drawing code."""
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from groupy.gfunc.plot.plot_p4 import plot_p4
from groupy.gfunc.plot.plot_p4m import plot_p4m

NU, NV = 4, 6  # not square, so that a transposed plane would be caught
PEAK_CMAP = ListedColormap(["black", "yellow"])
SLOT_DIRECTION = {0: (0, 1), 1: (-1, 0), 2: (0, -1), 3: (1, 0)}  # screen (right, up)


def render(plot, f):
    fig = Figure(figsize=(6, 6), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    plot(f, ax=ax, cmap=PEAK_CMAP, rlabels="none")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3] / 255.0


def peak_and_centre(img):
    """Screen position (x right, y up) of the yellow peak and of the centre of all planes."""
    yellow = (img[..., 0] > 0.9) & (img[..., 1] > 0.9) & (img[..., 2] < 0.1)
    dark = img.max(axis=-1) < 0.1  # plane pixels (value 0) and frames
    assert yellow.sum() > 0, "the peak is not drawn"
    rows, cols = np.nonzero(yellow)
    prow, pcol = np.nonzero(dark | yellow)
    h = img.shape[0]
    return (np.array([cols.mean(), h - rows.mean()]), np.array([pcol.mean(), h - prow.mean()]))


def single_peak(n_planes, plane, i, j):
    v = np.zeros((n_planes, NU, NV))
    v[plane, i, j] = 1.0
    return v


def check_slot(offset, slot):
    dx, dy = SLOT_DIRECTION[slot]
    along = offset @ np.array([dx, dy])
    across = abs(offset @ np.array([-dy, dx]))
    assert along > 0 and across < 0.5 * along, (slot, offset)
    return along


@pytest.mark.parametrize("r", range(4))
def test_p4_plane_r_sits_at_slot_r(r):
    peak, centre = peak_and_centre(render(plot_p4, single_peak(4, r, 1, 2)))
    check_slot(peak - centre, r)


@pytest.mark.parametrize("m", range(2))
@pytest.mark.parametrize("r", range(4))
def test_p4m_plane_m_r_sits_at_ring_m_slot_r(m, r):
    peak, centre = peak_and_centre(render(plot_p4m, single_peak(8, 4 * m + r, 1, 2)))
    dist = check_slot(peak - centre, r)
    peak0, _ = peak_and_centre(render(plot_p4m, single_peak(8, r, 1, 2)))
    inner = check_slot(peak0 - centre, r)
    if m == 1:
        assert dist > 1.5 * inner  # the mirrored plane is on the outer ring


@pytest.mark.parametrize("plot,n_planes,plane", [(plot_p4, 4, 1), (plot_p4m, 8, 6)])
def test_row_zero_is_at_the_top_and_column_zero_at_the_left(plot, n_planes, plane):
    top_right, _ = peak_and_centre(render(plot, single_peak(n_planes, plane, 0, NV - 1)))
    bottom_left, _ = peak_and_centre(render(plot, single_peak(n_planes, plane, NU - 1, 0)))
    top_left, _ = peak_and_centre(render(plot, single_peak(n_planes, plane, 0, 0)))
    dx, dy = top_right - bottom_left
    assert dx > 0 and dy > 0
    # moving along a row changes only x, along a column only y (no transposition)
    step_x, step_y = top_right - top_left
    assert step_x > 0 and abs(step_y) < 0.1 * step_x
    assert abs((top_left - bottom_left)[0]) < 0.1 * dy
    # a plane is drawn square: NV - 1 column steps and NU - 1 row steps span it alike
    assert step_x / (NV - 1) * NV == pytest.approx(dy / (NU - 1) * NU, rel=0.15)

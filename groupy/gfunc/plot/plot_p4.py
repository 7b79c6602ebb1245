"""Draw a function on p4 the way the G-CNN paper does: its four rotation planes on a ring
around a square, with arrows for the generator r."""
from __future__ import annotations

from groupy.gfunc.plot import rings

_LABELS = ["e", "r", "r\u00b2", "r\u00b3"]


def plot_p4(f, ax=None, fname=None, cmap="viridis", title="p4 feature map"):
    """Draw f (P4FuncArray of batch shape (), or ndarray (4, nu, nv)).

    Plane r (the values at the p4 elements with rotation r) sits at slot r of a ring,
    counter-clockwise from the top; red arrows go from the plane of h to that of r h, so they
    show where each plane moves (rotating as it goes) when the function is rotated, ``r * f``.

    Args:
        ax: matplotlib Axes to draw on; a new Figure is made when None.
        fname: if given, the figure is saved there as PNG.
    Returns:
        the matplotlib Figure.
    """
    planes = rings.as_planes(f, 4, "p4")
    if ax is None:
        _, ax = rings.new_axes()
    size, radius = 1.0, 1.45
    vmin, vmax = rings.value_range(planes)
    for k in range(4):
        rings.draw_plane(ax, planes[k], rings.ring_position(k, radius), size, vmin, vmax, cmap,
                         _LABELS[k])
    rings.ring_arrows(ax, radius, size, +1, rings.ROTATION_COLOR)
    rings.finish(ax, radius + 0.85 * size, title)
    if fname is not None:
        rings.save(ax.figure, fname)
    return ax.figure

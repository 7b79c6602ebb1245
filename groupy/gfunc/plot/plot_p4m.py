"""Draw a function on p4m the way the G-CNN paper does: two rings of four planes, the
rotations (inner) and the mirrored rotations (outer), with arrows for r and lines for m."""
from __future__ import annotations

from groupy.gfunc.plot import rings

_ROT = ["", "r", "r\u00b2", "r\u00b3"]


def _label(m, r):
    text = ("m" if m else "") + _ROT[r]
    return text or "e"


def plot_p4m(f, ax=None, fname=None, cmap="viridis", title="p4m feature map"):
    """Draw f (P4MFuncArray of batch shape (), or ndarray (8, nu, nv), plane m * 4 + r).

    Plane (0, r) sits at slot r of the inner ring and plane (1, r) at slot r of the outer
    ring.  Red arrows go from the plane of h to that of r h (counter-clockwise on the inner
    ring, clockwise on the outer one, since r m r = m); blue lines join h and m h.

    Args:
        ax: matplotlib Axes to draw on; a new Figure is made when None.
        fname: if given, the figure is saved there as PNG.
    Returns:
        the matplotlib Figure.
    """
    planes = rings.as_planes(f, 8, "p4m")
    if ax is None:
        _, ax = rings.new_axes((6, 6))
    size, inner, outer = 1.0, 1.45, 3.4
    vmin, vmax = rings.value_range(planes)
    for m in range(2):
        for r in range(4):
            rings.draw_plane(ax, planes[4 * m + r], rings.ring_position(r, (inner, outer)[m]),
                             size, vmin, vmax, cmap, _label(m, r))
    rings.ring_arrows(ax, inner, size, +1, rings.ROTATION_COLOR)
    rings.ring_arrows(ax, outer, size, -1, rings.ROTATION_COLOR)
    for r in range(4):
        a, b = rings.ring_position(r, inner), rings.ring_position(r, outer)
        gap = ((b - a) / (outer - inner)) * (0.5 * size + 0.2)  # clear the box and label
        rings.draw_arrow(ax, a + gap, b - gap, rings.MIRROR_COLOR, both_ends=True)
    rings.finish(ax, outer + 0.85 * size, title)
    if fname is not None:
        rings.save(ax.figure, fname)
    return ax.figure

"""Draw a function on p4 the way the G-CNN paper does: its four rotation planes on a ring
around a square, with arrows for the generator r."""
from groupy.gfunc.plot import rings

__all__ = ['LABELS', 'plot_p4']

LABELS = {
    "radians": ["$0$", "$\\frac{\\pi}{2}$", "$\\pi$", "$\\frac{3\\pi}{2}$"],
    "cayley": ["$e$", "$r$", "$r^2$", "$r^3$"],
    "indices": [0, 1, 2, 3],
    "none": ["", "", "", ""],
}


def plot_p4(f, fignum=None, rlabels="cayley", rcolor="red", rlinestyle="-", fontsize=20,
            labelpad_factor_1=1.5, labelpad_factor_2=1.5, figsize=(3, 3), *, ax=None,
            fname=None, cmap="gray", title=None, value_range=None):
    """Draw one function on p4: f a P4FuncArray of batch shape (), or an ndarray (4, nu, nv)
    (or (4, nu, nv, 3) for colour).

    Plane r (the values at the p4 elements with rotation r) sits at slot r of a ring,
    counter-clockwise from the top (e top, r left, r^2 bottom, r^3 right), each drawn with
    row 0 at the top; arrows go from the plane of h to that of r h, so they show where each
    plane moves (rotating as it goes) when the function is rotated, ``r * f``. The first nine
    arguments are the original GrouPy's.

    Args:
        fignum: pyplot figure number to draw into (None: a new pyplot figure), as the original.
        rlabels: 'cayley' (e, r, r^2, r^3), 'radians', 'indices' or 'none'; labels face the
            ring's centre.
        rcolor, rlinestyle: colour and line style of the rotation arrows.
        fontsize: of the labels; labelpad_factor_1 / _2: distance of the labels of the top and
            bottom / left and right planes from their plane, in units of fontsize / 5 points.
        figsize: of a new figure, inches.
        ax: a matplotlib Axes to draw on instead (no pyplot).
        fname: save the figure there as PNG (without ax and fignum: on a plain Figure, no
            pyplot).
        cmap: colour map (the original: gray); value_range: (vmin, vmax) of the colour scale,
            default the values' range, one scale for all planes.
        title: optional title.
    Returns:
        the matplotlib Figure.
    """
    names = rings.label_names(rlabels, LABELS, "p4")
    planes = rings.as_planes(f, 4, "p4")
    ax = rings.figure_axes(ax, fignum, fname, figsize)
    radius = 1.45
    style = rings.style(planes, cmap, value_range)
    for k in range(4):
        center = rings.ring_position(k, radius)
        rings.draw_plane(ax, planes[k], center, style)
        pad = (labelpad_factor_1 if k % 2 == 0 else labelpad_factor_2) * fontsize / 5
        rings.draw_label(ax, names[k], center, rings.inward(k), pad, fontsize)
    rings.ring_arrows(ax, radius, +1, rcolor, rlinestyle)
    rings.finish(ax, radius + 0.75 * rings.SIZE, title)
    if fname is not None:
        rings.save(ax.figure, fname)
    return ax.figure

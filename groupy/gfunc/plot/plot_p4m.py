"""Draw a function on p4m the way the G-CNN paper does: two rings of four planes, the
rotations (inner) and the mirrored rotations (outer), with arrows for r and lines for m."""
from groupy.gfunc.plot import rings

__all__ = ['LABELS', 'plot_p4m']

# Index 4 * m + r labels plane (m, r), the element m^m r^r.
LABELS = {
    "cayley_mr": ["$e$", "$r$", "$r^2$", "$r^3$", "$m$", "$mr$", "$mr^2$", "$mr^3$"],
    "cayley_rm": ["$e$", "$r$", "$r^2$", "$r^3$", "$m$", "$r^3m$", "$r^2m$", "$rm$"],
    "cayley2": ["$e$", "$r$", "$r^2$", "$r^3$", "$m$", "$mr$\n$=$\n$r^3m$", "$r^2m = mr^2$",
                "$mr^3$\n$=$\n$rm$"],
    "none": [""] * 8,
}


def plot_p4m(f, fignum=None, rlabels="cayley_mr", rcolor="red", mcolor="blue", rlinestyle="-",
             mlinestyle="-", fontsize=20, labelpad_factor_1=1.5, labelpad_factor_2=1.5,
             labelpad_factor_3=2.5, labelpad_factor_4=2.5, figsize=(3, 3), *, ax=None,
             fname=None, cmap="gray", title=None, value_range=None):
    """Draw one function on p4m: f a P4MFuncArray of batch shape (), or an ndarray
    (8, nu, nv) (plane m * 4 + r) or (2, 4, nu, nv) (or either with a trailing 3 for colour).

    Plane (0, r) sits at slot r of the inner ring and plane (1, r) at slot r of the outer
    ring, slots counter-clockwise from the top (r = 0 top, 1 left, 2 bottom, 3 right), each
    drawn with row 0 at the top. Arrows go from the plane of h to that of r h
    (counter-clockwise on the inner ring, clockwise on the outer one, since r m = m r^3);
    lines join h and m h. The first thirteen arguments are the original GrouPy's.

    Args:
        fignum: pyplot figure number to draw into (None: a new pyplot figure), as the original.
        rlabels: 'cayley_mr', 'cayley_rm', 'cayley2' or 'none'; inner labels face the centre,
            outer ones face outwards.
        rcolor, rlinestyle: rotation arrows; mcolor, mlinestyle: mirror lines.
        fontsize: of the labels; labelpad_factor_1 / _2 (inner ring) and _3 / _4 (outer ring):
            distance of the labels of the top and bottom / left and right planes from their
            plane, in units of fontsize / 5 points.
        figsize: of a new figure, inches.
        ax, fname, cmap, title, value_range: as in :func:`~groupy.gfunc.plot.plot_p4`.
    Returns:
        the matplotlib Figure.
    """
    names = rings.label_names(rlabels, LABELS, "p4m")
    planes = rings.as_planes(f, 8, "p4m")
    ax = rings.figure_axes(ax, fignum, fname, figsize)
    inner, outer = 1.45, 3.4
    style = rings.style(planes, cmap, value_range)
    pads = ((labelpad_factor_1, labelpad_factor_2), (labelpad_factor_3, labelpad_factor_4))
    for m in range(2):
        for r in range(4):
            center = rings.ring_position(r, (inner, outer)[m])
            rings.draw_plane(ax, planes[4 * m + r], center, style)
            side = rings.inward(r) if m == 0 else -rings.inward(r)
            pad = pads[m][r % 2] * fontsize / 5
            rings.draw_label(ax, names[4 * m + r], center, side, pad, fontsize)
    rings.ring_arrows(ax, inner, +1, rcolor, rlinestyle)
    rings.ring_arrows(ax, outer, -1, rcolor, rlinestyle)
    for r in range(4):
        # h = r^k and m h = m r^k sit at slot k of the inner and the outer ring
        rings.draw_line(ax, rings.ring_position(r, inner), rings.ring_position(r, outer),
                        mcolor, mlinestyle)
    rings.finish(ax, outer + 1.3 * rings.SIZE, title)  # room for the outer labels
    if fname is not None:
        rings.save(ax.figure, fname)
    return ax.figure

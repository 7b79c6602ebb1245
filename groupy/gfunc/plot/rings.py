"""Shared drawing helpers: planes of a feature map placed on rings, arrows between them.

Coordinates are data units of one matplotlib Axes; each plane is drawn with ``imshow`` so that
row 0 is at the top (u downwards, v to the right), as in ``groupy.garray``'s conventions.
A ring has four slots: slot k at angle 90 + 90 k degrees, i.e. 0 top, 1 left, 2 bottom,
3 right (counter-clockwise from the top).
"""
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Rectangle

__all__ = ['SIZE', 'as_planes', 'draw_label', 'draw_line', 'draw_plane', 'figure_axes', 'finish',
           'inward', 'label_names', 'ring_arrows', 'ring_position', 'save', 'style']

SIZE = 1.0  # side of one plane, in data units


def figure_axes(ax, fignum, fname, figsize):
    """The Axes to draw on: `ax` itself; else a plain Figure (no pyplot) when only saving to
    `fname`; else pyplot's figure `fignum` (a new one for None), as the original GrouPy drew,
    so that ``plt.show()`` / ``plt.savefig`` see it."""
    if ax is not None:
        return ax
    if fname is not None and fignum is None:
        fig = Figure(figsize=figsize)
    else:
        import matplotlib.pyplot as plt
        fig = plt.figure(fignum, figsize=figsize)
        fig.set_size_inches(figsize, forward=True)
    return fig.add_axes((0.0, 0.0, 1.0, 1.0))


def as_planes(f, n_planes, kind):
    """Values of one function with `n_planes` stabiliser planes: ndarray (n_planes, nu, nv) or,
    for colour images, (n_planes, nu, nv, 3)."""
    v = np.asarray(getattr(f, "v", f), dtype=np.float64)
    one_function = getattr(f, "ndim", 0) == 0 if hasattr(f, "i2g") else True
    if one_function and kind == "p4m" and v.ndim >= 4 and v.shape[:2] == (2, 4):
        v = v.reshape((8,) + v.shape[2:])  # (2, 4, nu, nv[, 3]): axes m and r
    if (not one_function or not (v.ndim == 3 or (v.ndim == 4 and v.shape[-1] == 3))
            or v.shape[0] != n_planes):
        shape = f"({n_planes}, nu, nv)" if kind == "p4" else "(8, nu, nv) or (2, 4, nu, nv)"
        raise ValueError(f"plot_{kind}: expected one {kind} function of shape {shape} "
                         f"(a {kind.upper()}FuncArray with batch shape (); colour: a trailing "
                         f"axis of 3); got shape {v.shape}")
    return v


def label_names(rlabels, names, kind):
    """The label texts of option `rlabels` from the dict `names` (ValueError naming the options)."""
    if rlabels not in names:
        raise ValueError(f"plot_{kind}: rlabels must be one of {sorted(names)}; got {rlabels!r}")
    return [str(t) for t in names[rlabels]]


def ring_position(k, radius):
    """Centre of slot k (0..3) on a ring: k = 0 at the top, then counter-clockwise."""
    angle = np.pi / 2 + k * np.pi / 2
    return np.array([radius * np.cos(angle), radius * np.sin(angle)])


def draw_plane(ax, plane, center, style, transform=None):
    """Draw `plane` (nu, nv) or (nu, nv, 3) as a SIZE x SIZE image centred at `center` (in data
    coordinates mapped by `transform`, default ``ax.transData``)."""
    x, y = center
    h = SIZE / 2
    transform = ax.transData if transform is None else transform
    extent = (x - h, x + h, y - h, y + h)
    if plane.ndim == 3:  # colour: scale into [0, 1] together
        ax.imshow(np.clip((plane - style["vmin"]) / (style["vmax"] - style["vmin"]), 0, 1),
                  interpolation="nearest", extent=extent, origin="upper", zorder=2,
                  transform=transform)
    else:
        ax.imshow(plane, cmap=style["cmap"], vmin=style["vmin"], vmax=style["vmax"],
                  interpolation="nearest", extent=extent, origin="upper", zorder=2,
                  transform=transform)
    ax.add_patch(Rectangle((x - h, y - h), SIZE, SIZE, fill=False, lw=1.0, ec="black",
                           zorder=3, transform=transform))


def draw_label(ax, text, center, direction, pad_points, fontsize):
    """Write `text` beside the plane at `center`, on its side `direction` (a unit vector along
    an axis), `pad_points` away from its edge."""
    if not text:
        return
    d = np.asarray(direction, dtype=float)
    edge = np.asarray(center) + d * SIZE / 2
    ha = "center" if d[0] == 0 else ("left" if d[0] > 0 else "right")
    va = "center" if d[1] == 0 else ("bottom" if d[1] > 0 else "top")
    ax.annotate(text, xy=tuple(edge), xytext=tuple(d * pad_points), textcoords="offset points",
                ha=ha, va=va, fontsize=fontsize, zorder=4)


def inward(k):
    """Unit vector from slot k towards the centre of its ring."""
    return -np.rint(ring_position(k, 1.0))


def ring_arrows(ax, radius, direction, color, linestyle):
    """Curved arrows slot k -> slot k + direction (mod 4) around a ring, clear of the planes."""
    for k in range(4):
        a, b = ring_position(k, radius), ring_position((k + direction) % 4, radius)
        shrink = 0.75 * SIZE
        d = (b - a) / np.linalg.norm(b - a)
        ax.add_patch(FancyArrowPatch(
            tuple(a + shrink * d), tuple(b - shrink * d), arrowstyle="-|>",
            connectionstyle=f"arc3,rad={0.25 * direction}", mutation_scale=12, lw=2.0,
            color=color, linestyle=linestyle, zorder=1))


def draw_line(ax, start, end, color, linestyle):
    """A straight line (behind the planes) from the centre of one plane to another."""
    ax.add_line(Line2D((start[0], end[0]), (start[1], end[1]), lw=4, color=color,
                       linestyle=linestyle, zorder=0))


def finish(ax, extent, title):
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=11)


def style(planes, cmap, value_range):
    """Colour settings shared by every plane: one value range for all (the original scaled
    each plane on its own), `value_range` = (vmin, vmax) to fix it."""
    if value_range is None:
        vmin, vmax = float(np.min(planes)), float(np.max(planes))
    else:
        vmin, vmax = (float(t) for t in value_range)
    if not vmax > vmin:
        vmin, vmax = vmin - 1.0, vmax + 1.0
    return {"cmap": cmap, "vmin": vmin, "vmax": vmax}


def save(fig, fname):
    """Write `fig` as PNG to `fname`."""
    fig.savefig(fname, format="png", dpi=100, bbox_inches="tight")

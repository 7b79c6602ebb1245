"""Shared drawing helpers: planes of a feature map placed on rings, arrows between them.

Coordinates are data units of one matplotlib Axes; each plane is drawn with ``imshow`` so that
row 0 is at the top (u downwards, v to the right), as in ``groupy.garray``'s conventions.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

ROTATION_COLOR = "tab:red"
MIRROR_COLOR = "tab:blue"


def new_axes(figsize=(5, 5)):
    """A fresh Figure (no pyplot, no global backend change) and its single Axes."""
    fig = Figure(figsize=figsize)
    return fig, fig.add_subplot(1, 1, 1)


def as_planes(f, n_planes, kind):
    """Values of one function with `n_planes` stabiliser planes: ndarray (n_planes, nu, nv)."""
    v = np.asarray(getattr(f, "v", f), dtype=np.float64)
    if getattr(f, "flat_stabilizer", True) is False and v.ndim == 4:  # P4MFuncArray (2, 4, ..)
        v = v.reshape((8,) + v.shape[2:])
    if v.ndim != 3 or v.shape[0] != n_planes:
        raise ValueError(f"plot_{kind}: expected one {kind} function of shape "
                         f"({n_planes}, nu, nv) (a {kind.upper()}FuncArray with batch shape ()); "
                         f"got shape {v.shape}")
    return v


def ring_position(k, radius):
    """Centre of slot k (0..3) on a ring: k = 0 at the top, then counter-clockwise."""
    angle = np.pi / 2 + k * np.pi / 2
    return np.array([radius * np.cos(angle), radius * np.sin(angle)])


def draw_plane(ax, plane, center, size, vmin, vmax, cmap, label):
    """Draw `plane` (nu, nv) as a size x size image centred at `center`, with a label under it."""
    x, y = center
    h = size / 2
    ax.imshow(plane, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest",
              extent=(x - h, x + h, y - h, y + h), origin="upper", zorder=2)
    ax.add_patch(Rectangle((x - h, y - h), size, size, fill=False, lw=1.0, ec="black",
                           zorder=3))
    ax.text(x, y - h - 0.06 * size, label, ha="center", va="top", fontsize=9, zorder=4,
            bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none"))


def draw_arrow(ax, start, end, color, rad=0.0, both_ends=False):
    """An arrow (curved when rad != 0) from `start` to `end`."""
    style = "<|-|>" if both_ends else "-|>"
    ax.add_patch(FancyArrowPatch(tuple(start), tuple(end), arrowstyle=style,
                                 connectionstyle=f"arc3,rad={rad}", mutation_scale=12,
                                 lw=1.6, color=color, zorder=1))


def ring_arrows(ax, radius, size, direction, color):
    """Arrows k -> k + direction (mod 4) between the four slots of a ring."""
    for k in range(4):
        a, b = ring_position(k, radius), ring_position((k + direction) % 4, radius)
        # leave the plane boxes free: start/end a bit beyond the box corners, towards each other
        shrink = 0.75 * size
        d = (b - a) / np.linalg.norm(b - a)
        draw_arrow(ax, a + shrink * d, b - shrink * d, color, rad=0.25 * direction)


def finish(ax, extent, title):
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=11)


def value_range(planes):
    vmin, vmax = float(np.min(planes)), float(np.max(planes))
    return (vmin, vmax) if vmax > vmin else (vmin - 1.0, vmax + 1.0)


def save(fig, fname):
    """Write `fig` as PNG to `fname`."""
    fig.savefig(fname, format="png", dpi=100, bbox_inches="tight")

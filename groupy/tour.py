"""A short tour of groupy: group tables, an equivariance check, and feature-map plots.

    python -m groupy.tour --out groupy_tour.png

Prints the Cayley tables of C4 and D4, checks numerically that a G-correlation built from the
filter-transform index tables is equivariant (transforming the input then correlating equals
correlating then transforming the output, for odd and even filter sizes), and draws a p4 and a
p4m feature map of a small embedded image to a PNG.
"""
import argparse
import sys

import numpy as np

from groupy.garray.C4_array import C4
from groupy.garray.D4_array import D4
from groupy.garray.p4_array import C4_halfshift
from groupy.garray.p4m_array import D4_halfshift
from groupy.gconv.make_gconv_indices import (make_c4_p4_indices, make_c4_z2_indices,
                                             make_d4_p4m_indices, make_d4_z2_indices)
from groupy.gfunc import P4FuncArray, P4MFuncArray, Z2FuncArray

__all__ = ['IMAGE', 'NAMES', 'equivariance_error', 'feature_maps', 'gcorrelate', 'main',
           'point_group', 'print_table', 'save_plots']

NAMES = ["e", "r", "r2", "r3", "m", "mr", "mr2", "mr3"]

#: An asymmetric 13 x 13 picture (an "F" with a dot), so every rotation/flip is visible.
IMAGE = np.zeros((13, 13))
IMAGE[2:11, 3:5] = 1.0
IMAGE[2:4, 3:10] = 1.0
IMAGE[6:8, 3:8] = 1.0
IMAGE[9:11, 8:10] = 0.5


def gcorrelate(x, w, inds):
    """G-correlation of one feature map x (nti, H, W) with one filter w (nti, k, k):
    out[g] = sum over (t, i, j) of x[t, i + a, j + b] * transformed_w[g, t, i, j] (valid
    positions), the filter transformed by the index table `inds` -> (n_out, H-k+1, W-k+1)."""
    tw = w[inds[..., 0], inds[..., 1], inds[..., 2]]
    k = w.shape[-1]
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(-2, -1))
    return np.einsum("tabij,gtij->gab", windows, tw)


def point_group(kind, n):
    """The rotations (p4) or rotations and mirrors (p4m) about the centre of an n x n grid."""
    if kind == "p4":
        return C4 if n % 2 else C4_halfshift
    return D4 if n % 2 else D4_halfshift


def equivariance_error(in_kind, out_kind, ksize, rng):
    """max |corr(g x) - g corr(x)| over the stabiliser elements g."""
    table = {("Z2", "p4"): make_c4_z2_indices, ("p4", "p4"): make_c4_p4_indices,
             ("Z2", "p4m"): make_d4_z2_indices, ("p4m", "p4m"): make_d4_p4m_indices}
    func = {"Z2": lambda v: Z2FuncArray(v[0]), "p4": P4FuncArray, "p4m": P4MFuncArray}
    nti = {"Z2": 1, "p4": 4, "p4m": 8}[in_kind]
    n = 11
    x = rng.standard_normal((nti, n, n))
    w = rng.standard_normal((nti, ksize, ksize))
    inds = table[in_kind, out_kind](ksize)
    out = gcorrelate(x, w, inds)
    err = 0.0
    for g_in, g_out in zip(point_group(out_kind, n), point_group(out_kind, out.shape[-1])):
        gx = (g_in * func[in_kind](x)).v.reshape(x.shape)
        g_out_of_out = (g_out * func[out_kind](out)).v
        err = max(err, float(np.max(np.abs(gcorrelate(gx, w, inds) - g_out_of_out))))
    return err


def print_table(title, group, names):
    table = group.cayley_table()
    print(f"{title} (row * column):")
    print("      " + " ".join(f"{names[j]:>4}" for j in range(group.order)))
    for i in range(group.order):
        print(f"{names[i]:>4}  " + " ".join(f"{names[t]:>4}" for t in table[i]))
    print()


def feature_maps():
    """Lift IMAGE to p4 and p4m with a small oriented (corner-detecting) filter, ReLU."""
    w = np.array([[[1.0, 1.0, 0.0], [1.0, -1.0, -1.0], [0.0, -1.0, -1.0]]])
    p4_map = np.maximum(gcorrelate(IMAGE[None], w, make_c4_z2_indices(3)), 0)
    p4m_map = np.maximum(gcorrelate(IMAGE[None], w, make_d4_z2_indices(3)), 0)
    return P4FuncArray(p4_map), P4MFuncArray(p4m_map)


def save_plots(path):
    from matplotlib.figure import Figure

    from groupy.gfunc.plot.plot_p4 import plot_p4
    from groupy.gfunc.plot.plot_p4m import plot_p4m

    fig = Figure(figsize=(12, 6.4))
    ax_img = fig.add_axes([0.0, 0.62, 0.14, 0.3])
    ax_img.imshow(IMAGE, cmap="gray_r", interpolation="nearest")
    ax_img.set_title("input", fontsize=10)
    ax_img.set_axis_off()
    p4_map, p4m_map = feature_maps()
    plot_p4(p4_map, ax=fig.add_axes([0.13, 0.05, 0.38, 0.85]), title="p4 feature map")
    plot_p4m(p4m_map, ax=fig.add_axes([0.54, 0.03, 0.40, 0.9]), title="p4m feature map")
    fig.savefig(path, format="png", dpi=90)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="groupy_tour.png", help="PNG file for the plots")
    args = parser.parse_args(argv)

    print("groupy tour\n")
    print_table("C4 = {r^k}: Cayley table", C4, NAMES[:4])
    print_table("D4 = {m^a r^b}: Cayley table", D4, NAMES)

    print("Equivariance of G-correlations built from the index tables")
    print("(max abs error of corr(g x) vs g corr(x) over the stabiliser, float64):")
    rng = np.random.default_rng(0)
    worst = 0.0
    for in_kind, out_kind in [("Z2", "p4"), ("p4", "p4"), ("Z2", "p4m"), ("p4m", "p4m")]:
        for ksize in (3, 4):
            err = equivariance_error(in_kind, out_kind, ksize, rng)
            worst = max(worst, err)
            print(f"  {in_kind:>3} -> {out_kind:<3}  ksize={ksize}:  {err:.1e}")
    print()
    save_plots(args.out)
    print(f"wrote the p4 and p4m feature maps of the embedded image to {args.out}")
    return 0 if worst < 1e-10 else 1


if __name__ == "__main__":
    sys.exit(main())

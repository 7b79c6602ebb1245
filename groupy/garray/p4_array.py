"""The plane group p4: rotations by multiples of 90 degrees about any point of Z2, and
translations.

'int': (r, u, v), meaning T(u, v) R(r) (first rotate about the origin, then translate);
'hmat' (and its alias 'mat'): the 3x3 homogeneous matrix [[R(r), (u, v)], [0, 0, 1]].
p4 acts on p4 and on Z2 points: (r, u, v) * x = R(r) x + (u, v).
"""
import numpy as np

from groupy.garray.C4_array import rotation_hmat, rotation_index
from groupy.garray.garray import int_array, parameter_range, randint
from groupy.garray.matrix_garray import MatrixGArray

__all__ = ['C4_halfshift', 'identity', 'meshgrid', 'P4Array', 'r', 'r_range', 'rand', 'rotation',
           'translation', 'u', 'u_range', 'v', 'v_range']


class P4Array(MatrixGArray):
    """Array of p4 elements (r, u, v)."""

    parameterizations = ("int", "mat", "hmat")
    _g_shapes = {"int": (3,), "mat": (3, 3), "hmat": (3, 3)}
    _acts_on = ("P4Array", "Z2Array")
    _int_description = "(r, u, v) with r in 0..3 and integer u, v"

    def _int2hmat(self, data):
        hmat = rotation_hmat(data[..., 0])
        hmat[..., :2, 2] = data[..., 1:]
        return hmat

    def _hmat2int(self, hmat):
        r = rotation_index(hmat[..., 1, 0], hmat[..., 1, 1])
        return np.concatenate([r[..., None], hmat[..., :2, 2]], axis=-1)


def identity(shape=(), p="int"):
    return P4Array.identity(shape, p)


def rand(minu, maxu, minv, maxv, size=(), rng=None):
    """Random elements: r uniform in 0..3, u in [minu, maxu), v in [minv, maxv)."""
    r_ = randint(0, 4, size, rng)
    u_ = randint(minu, maxu, size, rng)
    v_ = randint(minv, maxv, size, rng)
    return P4Array(np.stack([r_, u_, v_], axis=-1), "int")


def translation(t):
    """Translations by t = (u, v) (array-like of shape (..., 2))."""
    t = int_array(t, "t", "p4_array.translation")
    if t.shape[-1:] != (2,):
        raise ValueError(f"translation: t must have shape (..., 2); got shape {t.shape}")
    return P4Array(np.concatenate([np.zeros_like(t[..., :1]), t], axis=-1), "int")


def rotation(r, center=(0, 0)):
    """Rotations by r quarter turns (array-like of ints) about the integer point `center`."""
    r = int_array(r, "r", "p4_array.rotation")
    int_array(center, "center", "p4_array.rotation")
    rot = P4Array(np.stack([r % 4, np.zeros_like(r), np.zeros_like(r)], axis=-1), "int")
    c = translation(center)
    return c * rot * c.inv()


def _range(axis, start, stop, step):
    return parameter_range(P4Array, axis, start, stop, step,
                           "p4_array." + ("r_range", "u_range", "v_range")[axis])


def r_range(start=0, stop=4, step=1):
    """Rotations (r, 0, 0) for r in range(start, stop, step), loop shape (n,)."""
    return _range(0, start, stop, step)


def u_range(start=-1, stop=2, step=1):
    """Translations (0, u, 0) for u in range(start, stop, step), loop shape (n,)."""
    return _range(1, start, stop, step)


def v_range(start=-1, stop=2, step=1):
    """Translations (0, 0, v) for v in range(start, stop, step), loop shape (n,)."""
    return _range(2, start, stop, step)


def meshgrid(r=None, u=None, v=None):
    """Grid of loop shape (len(r), len(u), len(v)) whose element [i, j, k] is
    u[j] * v[k] * r[i], i.e. has 'int' parameters (r_i, u_j, v_k) for ranges as above."""
    r = r_range() if r is None else r
    u = u_range() if u is None else u
    v = v_range() if v is None else v
    return (u.reshape(1, len(u), 1) * v.reshape(1, 1, len(v))) * r.reshape(len(r), 1, 1)


r = P4Array([1, 0, 0])
u = P4Array([0, 1, 0])
v = P4Array([0, 0, 1])

#: The four rotations about the pixel corner (-1/2, -1/2): they map a grid of even size
#: n, u, v in [-n/2, n/2 - 1], onto itself (used for even filter sizes).
C4_halfshift = P4Array([[0, 0, 0], [1, -1, 0], [2, -1, -1], [3, 0, -1]])

"""The plane group p4m: rotations by multiples of 90 degrees and mirrors about any point of
Z2, and translations.

'int': (m, r, u, v), meaning T(u, v) M(m) R(r) with M(m) = diag((-1)^m, 1);
'hmat' (and its alias 'mat'): the 3x3 homogeneous matrix [[M(m) R(r), (u, v)], [0, 0, 1]].
p4m acts on p4m and on Z2 points: (m, r, u, v) * x = M(m) R(r) x + (u, v).
"""
import numpy as np

from groupy.garray.D4_array import D4, mirror_rotation_hmat, mirror_rotation_index
from groupy.garray.garray import int_array, parameter_range, randint
from groupy.garray.matrix_garray import MatrixGArray

__all__ = ['D4_halfshift', 'half_shifted', 'identity', 'm', 'm_range', 'meshgrid', 'mirror_u',
           'mirror_v', 'P4MArray', 'r', 'r_range', 'rand', 'rotation', 'translation', 'u',
           'u_range', 'v', 'v_range']


class P4MArray(MatrixGArray):
    """Array of p4m elements (m, r, u, v)."""

    parameterizations = ("int", "mat", "hmat")
    _g_shapes = {"int": (4,), "mat": (3, 3), "hmat": (3, 3)}
    _acts_on = ("P4MArray", "Z2Array")
    _int_description = "(m, r, u, v) with m in 0..1, r in 0..3 and integer u, v"

    def _int2hmat(self, data):
        hmat = mirror_rotation_hmat(data[..., 0], data[..., 1])
        hmat[..., :2, 2] = data[..., 2:]
        return hmat

    def _hmat2int(self, hmat):
        m_, r_ = mirror_rotation_index(hmat)
        return np.concatenate([m_[..., None], r_[..., None], hmat[..., :2, 2]], axis=-1)


def identity(shape=(), p="int"):
    return P4MArray.identity(shape, p)


def rand(minu, maxu, minv, maxv, size=(), rng=None):
    """Random elements: m in 0..1, r in 0..3, u in [minu, maxu), v in [minv, maxv)."""
    m_ = randint(0, 2, size, rng)
    r_ = randint(0, 4, size, rng)
    u_ = randint(minu, maxu, size, rng)
    v_ = randint(minv, maxv, size, rng)
    return P4MArray(np.stack([m_, r_, u_, v_], axis=-1), "int")


def translation(t):
    """Translations by t = (u, v) (array-like of shape (..., 2))."""
    t = int_array(t, "t", "p4m_array.translation")
    if t.shape[-1:] != (2,):
        raise ValueError(f"translation: t must have shape (..., 2); got shape {t.shape}")
    return P4MArray(np.concatenate([np.zeros(t.shape[:-1] + (2,), np.int64), t], axis=-1))


def _point_element(m_, r_, center, func):
    m_ = int_array(m_, "shape" if func.startswith("mirror") else "m", "p4m_array." + func)
    r_ = int_array(r_, "r", "p4m_array." + func)
    int_array(center, "center", "p4m_array." + func)
    m_, r_ = np.broadcast_arrays(m_ % 2, r_ % 4)
    z = np.zeros_like(r_)
    g = P4MArray(np.stack([m_, r_, z, z], axis=-1), "int")
    c = translation(center)
    return c * g * c.inv()


def rotation(r, center=(0, 0)):
    """Rotations by r quarter turns (array-like of ints) about the integer point `center`."""
    return _point_element(0, r, center, "rotation")


def mirror_u(shape=(), center=(0, 0)):
    """The mirror u -> -u (flips rows: M(1)) about `center`, loop shape `shape`."""
    return _point_element(np.ones(shape, dtype=np.int64), 0, center, "mirror_u")


def mirror_v(shape=(), center=(0, 0)):
    """The mirror v -> -v (flips columns: M(1) R(2)) about `center`, loop shape `shape`."""
    return _point_element(np.ones(shape, dtype=np.int64), 2, center, "mirror_v")


def _range(axis, start, stop, step):
    return parameter_range(P4MArray, axis, start, stop, step,
                           "p4m_array." + ("m_range", "r_range", "u_range", "v_range")[axis])


def m_range(start=0, stop=2, step=1):
    """Mirrors (m, 0, 0, 0) for m in range(start, stop, step), loop shape (n,)."""
    return _range(0, start, stop, step)


def r_range(start=0, stop=4, step=1):
    """Rotations (0, r, 0, 0) for r in range(start, stop, step), loop shape (n,)."""
    return _range(1, start, stop, step)


def u_range(start=-1, stop=2, step=1):
    """Translations (0, 0, u, 0) for u in range(start, stop, step), loop shape (n,)."""
    return _range(2, start, stop, step)


def v_range(start=-1, stop=2, step=1):
    """Translations (0, 0, 0, v) for v in range(start, stop, step), loop shape (n,)."""
    return _range(3, start, stop, step)


def meshgrid(m=None, r=None, u=None, v=None):
    """Grid of loop shape (len(m), len(r), len(u), len(v)) whose element [a, b, i, j] is
    u[i] * v[j] * m[a] * r[b], i.e. has 'int' parameters (m_a, r_b, u_i, v_j)."""
    m = m_range() if m is None else m
    r = r_range() if r is None else r
    u = u_range() if u is None else u
    v = v_range() if v is None else v
    t = u.reshape(1, 1, len(u), 1) * v.reshape(1, 1, 1, len(v))
    return t * (m.reshape(len(m), 1, 1, 1) * r.reshape(1, len(r), 1, 1))


def half_shifted(g):
    """Conjugate the point-group elements `g` (D4Array, or P4MArray without translation) to
    act about the pixel corner c = (-1/2, -1/2): returns T(c) g T(-c) as P4MArray.

    Its translation is c - A c = -(e - A e) / 2 with e = (1, 1), an integer vector."""
    hmat = g.hmat()
    if np.any(hmat[..., :2, 2] != 0):
        raise ValueError("half_shifted: g must fix the origin (no translation part)")
    e = np.ones(2, dtype=np.int64)
    hmat = hmat.copy()
    hmat[..., :2, 2] = -(e - hmat[..., :2, :2] @ e) // 2
    return P4MArray(hmat, "hmat").reparameterize("int")


m = P4MArray([1, 0, 0, 0])
r = P4MArray([0, 1, 0, 0])
u = P4MArray([0, 0, 1, 0])
v = P4MArray([0, 0, 0, 1])

#: The eight elements of D4 (order m * 4 + r) acting about the pixel corner (-1/2, -1/2):
#: they map a grid of even size n, u, v in [-n/2, n/2 - 1], onto itself.
D4_halfshift = half_shifted(D4)

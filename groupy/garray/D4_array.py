"""The dihedral group D4 = {m^a r^b : a in 0..1, b in 0..3} (rotations and mirrors of a square).

'int': (m, r) with m in 0..1, r in 0..3, meaning M(m) R(r) (first rotate, then mirror when
acting on points); 'mat': the C4 matrix R(r) with its first row multiplied by (-1)^m, i.e.
M(m) R(r) with M = diag((-1)^m, 1); 'hmat': that matrix embedded in 3x3.  M(1) maps
(u, v) -> (-u, v): it flips the row coordinate (``np.flip(image, axis=-2)``).
D4 acts on D4, on p4m (as the point group fixing the origin) and on Z2 points.
"""
import numpy as np

from groupy.garray.C4_array import check_origin, rotation_hmat, rotation_index
from groupy.garray.finitegroup import FiniteGroup
from groupy.garray.garray import int_array, randint
from groupy.garray.matrix_garray import MatrixGArray

__all__ = ['D4', 'D4Array', 'D4Group', 'e', 'identity', 'm', 'mirror_rotation_hmat',
           'mirror_rotation_index', 'mirror_u', 'mirror_v', 'r', 'rand', 'rotation']


def mirror_rotation_hmat(m, r):
    """M(m) R(r) (m modulo 2, r modulo 4) as homogeneous matrices."""
    hmat = rotation_hmat(r)
    hmat[..., 0, :] *= (1 - 2 * (np.asarray(m) % 2))[..., None]
    return hmat


def mirror_rotation_index(hmat):
    """(m, r) of the linear part M(m) R(r) of `hmat` (garbage for non-elements)."""
    r = rotation_index(hmat[..., 1, 0], hmat[..., 1, 1])
    m = (hmat[..., 0, 0] != hmat[..., 1, 1]) | (hmat[..., 0, 1] != -hmat[..., 1, 0])
    return m.astype(np.int64), r


class D4Array(MatrixGArray):
    """Array of mirror-rotations (m, r)."""

    parameterizations = ("int", "mat", "hmat")
    _g_shapes = {"int": (2,), "mat": (2, 2), "hmat": (3, 3)}
    _acts_on = ("D4Array", "P4MArray", "Z2Array")
    _linear_mat = True
    _int_description = "(m, r) with m in 0..1, r in 0..3"

    def _int2hmat(self, data):
        return mirror_rotation_hmat(data[..., 0], data[..., 1])

    def _hmat2int(self, hmat):
        return np.stack(mirror_rotation_index(hmat), axis=-1)


class D4Group(FiniteGroup, D4Array):
    """The whole group D4 as a D4Array of loop shape (8,), elements (m, r) in lexicographic
    order, i.e. element index m * 4 + r."""

    garray_class = D4Array

    def __init__(self):
        m, r = np.divmod(np.arange(8, dtype=np.int64), 4)
        D4Array.__init__(self, np.stack([m, r], axis=-1), "int")
        FiniteGroup.__init__(self, D4Array)  # checks the group axioms


def identity(shape=(), p="int"):
    return D4Array.identity(shape, p)


def rand(size=(), rng=None):
    """Uniformly random elements of loop shape `size`."""
    m = randint(0, 2, size, rng)
    r = randint(0, 4, size, rng)
    return D4Array(np.stack([m, r], axis=-1), "int")


def _element(m_, r_, center, func):
    check_origin(center, "D4")
    m_, r_ = np.broadcast_arrays(int_array(m_, "shape", "D4_array." + func) % 2,
                                 int_array(r_, "r", "D4_array." + func) % 4)
    return D4Array(np.stack([m_, r_], axis=-1), "int")


def rotation(r, center=(0, 0)):
    """Rotations (0, r) by r quarter turns (array-like of ints) about the origin."""
    return _element(0, r, center, "rotation")


def mirror_u(shape=(), center=(0, 0)):
    """The mirror u -> -u (M(1): flips rows), (m, r) = (1, 0), loop shape `shape`."""
    return _element(np.ones(shape, dtype=np.int64), 0, center, "mirror_u")


def mirror_v(shape=(), center=(0, 0)):
    """The mirror v -> -v (M(1) R(2): flips columns), (m, r) = (1, 2), loop shape `shape`."""
    return _element(np.ones(shape, dtype=np.int64), 2, center, "mirror_v")


r = D4Array([0, 1])
m = D4Array([1, 0])
#: The identity (m, r) = (0, 0), as in the original GrouPy.
e = D4Array([0, 0])
D4 = D4Group()

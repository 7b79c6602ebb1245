"""The rotation group C4 = {r^k : k = 0..3} (rotations by multiples of 90 degrees).

'int': (r,) with r in 0..3; 'mat': R(r) = [[cos r pi/2, -sin r pi/2], [sin r pi/2, cos r pi/2]];
'hmat': R(r) embedded in a 3x3 homogeneous matrix.  C4 acts on C4, on p4 (as the rotations
about the origin) and on Z2 points.  With points (u, v) = (row, column), R(1) maps
(u, v) -> (-v, u): on an image displayed with row 0 at the top that is a counter-clockwise
quarter turn, the same as ``np.rot90``.
"""
import numpy as np

from groupy.garray.finitegroup import FiniteGroup
from groupy.garray.garray import int_array, randint
from groupy.garray.matrix_garray import MatrixGArray

__all__ = ['C4', 'C4Array', 'C4Group', 'check_origin', 'e', 'identity', 'r', 'rand', 'rotation',
           'rotation_hmat', 'rotation_index']

_COS = np.array([1, 0, -1, 0], dtype=np.int64)
_SIN = np.array([0, 1, 0, -1], dtype=np.int64)


def rotation_hmat(r):
    """R(r) (r taken modulo 4) as homogeneous matrices, shape r.shape + (3, 3)."""
    r = np.asarray(r) % 4
    c, s = _COS[r], _SIN[r]
    hmat = np.zeros(r.shape + (3, 3), dtype=np.int64)
    hmat[..., 0, 0], hmat[..., 0, 1] = c, -s
    hmat[..., 1, 0], hmat[..., 1, 1] = s, c
    hmat[..., 2, 2] = 1
    return hmat


def rotation_index(s, c):
    """The r in 0..3 with sin/cos (s, c) (garbage for other pairs; callers verify)."""
    return np.where(s == 0, 1 - c, 2 - s) % 4


class C4Array(MatrixGArray):
    """Array of rotations r in 0..3."""

    parameterizations = ("int", "mat", "hmat")
    _g_shapes = {"int": (1,), "mat": (2, 2), "hmat": (3, 3)}
    _acts_on = ("C4Array", "P4Array", "Z2Array")
    _linear_mat = True
    _int_description = "(r,) with r in 0..3"

    def _int2hmat(self, data):
        return rotation_hmat(data[..., 0])

    def _hmat2int(self, hmat):
        return rotation_index(hmat[..., 1, 0], hmat[..., 1, 1])[..., None]


class C4Group(FiniteGroup, C4Array):
    """The whole group C4 as a C4Array of loop shape (4,), elements in the order r = 0..3."""

    garray_class = C4Array

    def __init__(self):
        C4Array.__init__(self, np.arange(4, dtype=np.int64)[:, None], "int")
        FiniteGroup.__init__(self, C4Array)  # checks the group axioms


def identity(shape=(), p="int"):
    return C4Array.identity(shape, p)


def rand(size=(), rng=None):
    """Uniformly random rotations of loop shape `size`."""
    return C4Array(randint(0, 4, size, rng)[..., None], "int")


def check_origin(center, group):
    """Raise ValueError unless `center` is (0, 0): point-group elements fix the origin."""
    if np.any(int_array(center, "center", group + "_array.rotation") != 0):
        raise ValueError(f"{group} elements fix the origin (center=(0, 0)); got center={center!r}"
                         f" (use p4_array / p4m_array for rotations about other points)")


def rotation(r, center=(0, 0)):
    """Rotations by r quarter turns (array-like of ints, taken modulo 4) about the origin."""
    check_origin(center, "C4")
    r = int_array(r, "r", "C4_array.rotation")
    return C4Array((r % 4)[..., None], "int")


r = C4Array([1])
#: The identity rotation (r = 0), as in the original GrouPy.
e = C4Array([0])
C4 = C4Group()

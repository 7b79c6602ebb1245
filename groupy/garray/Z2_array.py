"""The group Z2 of integer translations of the plane (also: the points it acts on).

'int': (u, v) (u = row coordinate, v = column coordinate); 'hmat': T(u, v) =
[[1, 0, u], [0, 1, v], [0, 0, 1]].  Composition is addition.  Every other group here acts on
Z2 points x by ``g * x = A x + t``.
"""
import numpy as np

from groupy.garray.garray import parameter_range, randint
from groupy.garray.matrix_garray import MatrixGArray

__all__ = ['identity', 'meshgrid', 'rand', 'u', 'u_range', 'v', 'v_range', 'Z2Array']


class Z2Array(MatrixGArray):
    """Array of translations / points (u, v)."""

    parameterizations = ("int", "hmat")
    _g_shapes = {"int": (2,), "hmat": (3, 3)}
    _acts_on = ("Z2Array",)
    _int_description = "(u, v) with integer u, v"

    def _int2hmat(self, data):
        hmat = np.zeros(data.shape[:-1] + (3, 3), dtype=np.int64)
        hmat[..., 0, 0] = hmat[..., 1, 1] = hmat[..., 2, 2] = 1
        hmat[..., :2, 2] = data
        return hmat

    def _hmat2int(self, hmat):
        return hmat[..., :2, 2].copy()

    def z2_composition(self, other):
        """``self + other`` (composition of translations), in 'int'."""
        if not isinstance(other, Z2Array):
            raise TypeError(f"z2_composition: expected a Z2Array; got {type(other).__name__}")
        return self * other

    def _from_product_hmat(self, hmat):
        # g * x for a point x: the translation part of g T(x) is A x + t.
        return self.factory(self._from_hmat(self._int2hmat(hmat[..., :2, 2]), self.p), self.p)


def identity(shape=(), p="int"):
    return Z2Array.identity(shape, p)


def rand(minu, maxu, minv, maxv, size=(), rng=None):
    """Random points with u in [minu, maxu) and v in [minv, maxv), loop shape `size`."""
    u = randint(minu, maxu, size, rng)
    v = randint(minv, maxv, size, rng)
    return Z2Array(np.stack([u, v], axis=-1), "int")


def u_range(start=-1, stop=2, step=1):
    """Points (u, 0) for u in range(start, stop, step), loop shape (n,)."""
    return parameter_range(Z2Array, 0, start, stop, step, "Z2_array.u_range")


def v_range(start=-1, stop=2, step=1):
    """Points (0, v) for v in range(start, stop, step), loop shape (n,)."""
    return parameter_range(Z2Array, 1, start, stop, step, "Z2_array.v_range")


def meshgrid(u=None, v=None):
    """Grid of points, loop shape (len(u), len(v)), with element [i, j] = u[i] + v[j]."""
    u = u_range() if u is None else u
    v = v_range() if v is None else v
    return u.reshape(len(u), 1) * v.reshape(1, len(v))


u = Z2Array([1, 0])
v = Z2Array([0, 1])

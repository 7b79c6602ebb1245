"""MatrixGArray: group elements represented by integer matrices.

Every element of our groups is an isometry of the integer plane, so it has a 3x3 homogeneous
matrix ``'hmat'`` = [[A, t], [0, 0, 1]] (A a signed permutation matrix, t an integer
translation).  Composition is the matrix product, the inverse the (exact, integer) matrix
inverse, and the action on a point x of Z2 is ``A x + t``.  A subclass only converts between
its ``'int'`` parameters and ``'hmat'``; every other operation goes through ``'hmat'``.

For the point groups (C4, D4) ``'mat'`` is the 2x2 linear part A; for the plane groups (p4,
p4m) ``'mat'`` is the 3x3 homogeneous matrix itself (the same as ``'hmat'``).
"""
from __future__ import annotations

import numpy as np

from groupy.garray.garray import GArray


class MatrixGArray(GArray):
    """Array of group elements stored as 'int' parameters or as integer matrices.

    Subclasses implement ``_int2hmat(int_data) -> hmat`` (must not fail on out-of-range
    parameters: reduce them modulo their range) and ``_hmat2int(hmat) -> int_data`` (may return
    anything for a non-element; construction checks the round trip), and set
    ``_int_description`` for error messages.
    """

    #: True where 'mat' is the 2x2 linear part (C4, D4); False where 'mat' equals 'hmat'.
    _linear_mat = False
    #: What valid 'int' data looks like, for error messages.
    _int_description = ""

    def _int2hmat(self, data):
        raise NotImplementedError

    def _hmat2int(self, hmat):
        raise NotImplementedError

    # ------------------------------------------------------------------ conversions
    def _to_hmat(self, data, p):
        if p == "int":
            return self._int2hmat(data)
        if p == "mat" and self._linear_mat:
            hmat = np.zeros(data.shape[:-2] + (3, 3), dtype=np.int64)
            hmat[..., :2, :2] = data
            hmat[..., 2, 2] = 1
            return hmat
        return data

    def _from_hmat(self, hmat, p):
        if p == "int":
            return self._hmat2int(hmat)
        if p == "mat" and self._linear_mat:
            return hmat[..., :2, :2].copy()
        return hmat

    def _reparameterize(self, data, p_in, p_out):
        return self._from_hmat(self._to_hmat(data, p_in), p_out)

    def _validate(self):
        hmat = self._to_hmat(self.data, self.p)
        ints = self._hmat2int(hmat)
        if self.p == "int":
            ok = np.all(ints == self.data)
        else:
            ok = np.all(self._int2hmat(ints) == hmat)
        if not ok:
            raise ValueError(
                f"{type(self).__name__}: data with p={self.p!r} does not hold valid group "
                f"elements; 'int' elements are {self._int_description}")

    # ------------------------------------------------------------------ group operations
    def hmat(self):
        """The homogeneous 3x3 matrices, shape ``self.shape + (3, 3)``."""
        return self._to_hmat(self.data, self.p)

    def inv(self):
        inv = np.rint(np.linalg.inv(self.hmat())).astype(np.int64)
        return self.factory(self._from_hmat(inv, self.p), self.p)

    def _left_action(self, other):
        return other._from_product_hmat(np.matmul(self.hmat(), other.hmat()))

    def _from_product_hmat(self, hmat):
        """The result of ``g * self`` from the product of homogeneous matrices."""
        return self.factory(self._from_hmat(hmat, self.p), self.p)

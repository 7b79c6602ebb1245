"""MatrixGArray: group elements represented by integer matrices.

Every element of our groups is an isometry of the integer plane, so it has a 3x3 homogeneous
matrix ``'hmat'`` = [[A, t], [0, 0, 1]] (A a signed permutation matrix, t an integer
translation).  Composition is the matrix product, the inverse the (exact, integer) matrix
inverse, and the action on a point x of Z2 is ``A x + t``.  A subclass only converts between
its ``'int'`` parameters and ``'hmat'``; every other operation goes through ``'hmat'``.

For the point groups (C4, D4) ``'mat'`` is the 2x2 linear part A; for the plane groups (p4,
p4m) ``'mat'`` is the 3x3 homogeneous matrix itself (the same as ``'hmat'``).
"""
import numpy as np

from groupy.garray.garray import GArray

__all__ = ['MatrixGArray']


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

    # ------------------------------------------------------------------ the original's names
    # Conversions of raw data arrays (they ignore self's elements, as in the original GrouPy):
    # 'int' data (..., n) <-> 'mat' / 'hmat' matrices (..., 2, 2) / (..., 3, 3).  Note: the
    # original's C4/D4 'hmat' left the [2, 2] entry 0; ours is the homogeneous matrix (1 there).
    def _check_mat(self, func):
        if "mat" not in self.parameterizations:
            raise NotImplementedError(f"{type(self).__name__}.{func}: this group has no 'mat' "
                                      f"parameterisation (only {list(self.parameterizations)})")

    def int2hmat(self, int_data):
        """'int' data (..., n) -> homogeneous matrices (..., 3, 3)."""
        return self._int2hmat(np.asarray(int_data))

    def hmat2int(self, hmat_data):
        """Homogeneous matrices (..., 3, 3) -> 'int' data (..., n)."""
        return self._hmat2int(np.asarray(hmat_data))

    def int2mat(self, int_data):
        """'int' data -> 'mat' data (2x2 for C4/D4, 3x3 for p4/p4m)."""
        self._check_mat("int2mat")
        return self._from_hmat(self._int2hmat(np.asarray(int_data)), "mat")

    def mat2int(self, mat_data):
        """'mat' data -> 'int' data."""
        self._check_mat("mat2int")
        return self._hmat2int(self._to_hmat(np.asarray(mat_data), "mat"))

    def mat2hmat(self, mat_data):
        """'mat' data -> homogeneous matrices (..., 3, 3)."""
        self._check_mat("mat2hmat")
        return self._to_hmat(np.asarray(mat_data), "mat")

    def hmat2mat(self, hmat_data):
        """Homogeneous matrices (..., 3, 3) -> 'mat' data."""
        self._check_mat("hmat2mat")
        return self._from_hmat(np.asarray(hmat_data), "mat")

    def _named_left_action(self, other, func):
        if not isinstance(other, GArray) or not self._acts_on_class(other):
            raise TypeError(f"{type(self).__name__}.{func}: {type(self).__name__} does not act on "
                            f"{type(other).__name__}; it acts on {list(self._acts_on)}")
        return self._left_action(other)

    # The original chose one of four formulas by the type of `other`; all are ``self * other``.
    def left_action_mat(self, other):
        """``self * other`` (composition of matrices, result in other's parameterisation)."""
        return self._named_left_action(other, "left_action_mat")

    def left_action_hmat(self, other):
        """``self * other`` via homogeneous matrices (e.g. C4 acting on p4)."""
        return self._named_left_action(other, "left_action_hmat")

    def left_action_vec(self, other):
        """``self * x`` for Z2 points x: A x (a point group acting on points)."""
        return self._named_left_action(other, "left_action_vec")

    def left_action_hvec(self, other):
        """``self * x`` for Z2 points x: A x + t (a plane group acting on points)."""
        return self._named_left_action(other, "left_action_hvec")

    # ------------------------------------------------------------------ composition
    def _left_action(self, other):
        return other._from_product_hmat(np.matmul(self.hmat(), other.hmat()))

    def _from_product_hmat(self, hmat):
        """The result of ``g * self`` from the product of homogeneous matrices."""
        return self.factory(self._from_hmat(hmat, self.p), self.p)

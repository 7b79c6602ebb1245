"""Index tables that transform G-convolution filters by the elements of the stabiliser.

A filter with ``nti`` input transforms is an array ``w`` of shape ``(nti, k, k)``: a function
on the ``nti`` stabiliser elements (1 for Z2, 4 for p4, 8 for p4m) times the k x k grid of
points u (rows) and v (columns), both in [-floor(k/2), floor(k/2) - (k even)].  For each
output transform g (the elements of C4, r = 0..3, or of D4, index m * 4 + r) the table gives

    transformed[g, t, i, j] = w[T, U, V]   with   (T, U, V) = inds[g, t, i, j],

and ``transformed[g]`` is the left translation of w by g, ``(g w)(x) = w(g^-1 x)``, the same
as ``g * P4FuncArray(w)`` etc. in ``groupy.gfunc``.  In numpy terms (``rot = np.rot90``):

* Z2 filter (nti = 1), g = (m, r):
  ``transformed[g, 0] = np.flip(rot(w[0], k=r, axes=(0, 1)), axis=0) if m else
  rot(w[0], k=r, axes=(0, 1))``, i.e. rotate by r quarter turns (np.rot90's direction),
  then, if m = 1, flip the rows (axis 0, u -> -u).
* p4 filter (nti = 4, axis 0 indexed by s), g = r:
  ``transformed[r] = rot(np.roll(w, r, axis=0), k=r, axes=(1, 2))``, i.e.
  ``transformed[r, s] = rot(w[(s - r) % 4], k=r)``.
* p4m filter (nti = 8, axis 0 indexed by n * 4 + s), g = (m, r): every plane is transformed
  spatially as a Z2 filter by (m, r), and the planes are permuted by
  ``transformed[g, n * 4 + s] = spatial_g(w[n' * 4 + s'])`` with
  ``n' = (n + m) % 2`` and ``s' = (s - (-1)**(n + m) * r) % 4``
  (from g^-1 (n, s) = R^-r M^m M^n R^s = M^(n+m) R^(s - (-1)^(n+m) r)).

For even k the rotations and mirrors act about the pixel corner (-1/2, -1/2), which is the
centre of the grid: ``C4_halfshift`` for p4 and ``D4_halfshift`` for p4m.  np.rot90 and
np.flip also act about the array centre, so the formulas above hold for every k >= 1.

Tables are int32 of shape ``(n_out_transforms, nti, k, k, 3)``; ``flatten_indices`` turns
them into flat indices ``U * k * nti + V * nti + T`` (a filter laid out as (k, k, nti)).
k is at most ``MAX_KSIZE`` = 64 (the original GrouPy set no bound): building a table costs
time and memory growing as k^2, about a second and 100 MB for a p4m table of k = 64, more than
a minute and 14 GB for k = 1001.
"""
import numpy as np

from groupy._checks import positive_int
from groupy.garray.C4_array import C4
from groupy.garray.D4_array import D4
from groupy.garray.p4_array import C4_halfshift
from groupy.garray.p4m_array import D4_halfshift
from groupy.gfunc.p4func_array import P4FuncArray
from groupy.gfunc.p4mfunc_array import P4MFuncArray
from groupy.gfunc.z2func_array import Z2FuncArray

__all__ = ['MAX_KSIZE', 'check_ksize', 'flatten_indices', 'make_c4_p4_indices', 'make_c4_z2_indices',
           'make_d4_p4m_indices', 'make_d4_z2_indices']

_FUNC_ARRAYS = {1: Z2FuncArray, 4: P4FuncArray, 8: P4MFuncArray}

#: the largest filter size k the tables are built for (see the module docstring)
MAX_KSIZE = 64


def check_ksize(ksize, name: str = 'ksize') -> int:
    """``ksize`` as a Python int in 1..MAX_KSIZE; ValueError naming ``name``, the value and the
    limit otherwise.

    >>> check_ksize(5)
    5
    >>> check_ksize(1001)
    Traceback (most recent call last):
    ...
    ValueError: ksize must be at most 64 (the filter-transform table grows as ksize**2), got 1001
    """
    ksize = positive_int(ksize, name)
    if ksize > MAX_KSIZE:
        raise ValueError('{} must be at most {} (the filter-transform table grows as ksize**2), got {}'.format(
            name, MAX_KSIZE, ksize))
    return ksize


def _table(func_array, group):
    """Left-translation indices of `func_array` by every element of `group` as the int32
    table (n_out, nti, k, k, 3); a Z2 function gets the stabiliser index T = 0 prepended."""
    index = func_array.left_translation_indices(group[:, None, None, None])
    if index.shape[-1] == 2:  # Z2 filter: (n_out, 1, k, k, 2) -> add T = 0
        index = np.concatenate([np.zeros_like(index[..., :1]), index], axis=-1)
    return index.astype(np.int32)


def _filter_table(ksize, planes, group, halfshift_group):
    """The table of a filter on ``planes`` stabiliser planes (1: Z2, 4: p4, 8: p4m) under
    ``group`` (odd k) or ``halfshift_group`` (even k: about the centre of the grid)."""
    ksize = check_ksize(ksize)
    shape = (ksize, ksize) if planes == 1 else (planes, ksize, ksize)
    func_array = _FUNC_ARRAYS[planes](np.zeros(shape))
    return _table(func_array, group if ksize % 2 else halfshift_group)


def make_c4_z2_indices(ksize: int) -> np.ndarray:
    """Rotate a Z2 filter by r = 0..3: int32 table of shape (4, 1, k, k, 3).

    >>> inds = make_c4_z2_indices(3)
    >>> inds.shape, inds.dtype
    ((4, 1, 3, 3, 3), dtype('int32'))
    >>> inds[1, 0, 0, 0].tolist()  # rot90 by one quarter turn: top-left <- top-right
    [0, 0, 2]
    """
    return _filter_table(ksize, 1, C4, C4_halfshift)


def make_c4_p4_indices(ksize: int) -> np.ndarray:
    """Rotate a p4 filter by r = 0..3: int32 table of shape (4, 4, k, k, 3).

    >>> make_c4_p4_indices(2).shape
    (4, 4, 2, 2, 3)
    """
    return _filter_table(ksize, 4, C4, C4_halfshift)


def make_d4_z2_indices(ksize: int) -> np.ndarray:
    """Rotate/flip a Z2 filter by (m, r), index m * 4 + r: int32 table (8, 1, k, k, 3).

    >>> make_d4_z2_indices(3).shape
    (8, 1, 3, 3, 3)
    """
    return _filter_table(ksize, 1, D4, D4_halfshift)


def make_d4_p4m_indices(ksize: int) -> np.ndarray:
    """Rotate/flip a p4m filter by (m, r), index m * 4 + r: int32 table (8, 8, k, k, 3).

    >>> make_d4_p4m_indices(3).shape
    (8, 8, 3, 3, 3)
    """
    return _filter_table(ksize, 8, D4, D4_halfshift)


def flatten_indices(inds) -> np.ndarray:
    """Flat indices ``U * k * nti + V * nti + T`` of a table (n_out, nti, k, k, 3): int32
    array of shape (n_out, nti, k, k), indexing a filter flattened from layout (k, k, nti)."""
    inds = np.asarray(inds)
    if inds.ndim != 5 or inds.shape[-1] != 3 or inds.shape[2] != inds.shape[3]:
        raise ValueError("flatten_indices: expected a table of shape "
                         f"(n_out, nti, k, k, 3); got shape {inds.shape}")
    nti, k = inds.shape[1], inds.shape[2]
    t, u, v = inds[..., 0], inds[..., 1], inds[..., 2]
    return (u * k * nti + v * nti + t).astype(np.int32)

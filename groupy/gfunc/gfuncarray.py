"""GFuncArray: arrays of functions on a finite grid of group elements.

A GFuncArray holds values ``v`` of shape ``batch_shape + i2g.shape``: ``v[..., i, j, ...]`` is
the value of each function at the group element ``i2g[i, j, ...]``.  Group elements act on
such functions by

* left translation  ``g * f``:  ``(g f)(x) = f(g^-1 x)``  (transform the function by g),
* right translation ``f * g``:  ``(f g)(x) = f(x g)``  (the right regular representation,
  as in the original GrouPy).

Left translation is a left action, ``(g h) f = g (h f)``; right translations commute with left
ones, ``(g f) h = g (f h)``, and compose as ``(f g) h = f (h g)`` (since f(x h g) is f
translated by h g).  ``g`` may also be an element of a subgroup that acts on the grid's group
(C4 on p4, D4 on p4m, any group on Z2).

Both are computed by gathering values with integer indices, so ``g^-1 x`` (resp. ``x g``)
must lie on the grid for every grid point x; otherwise a ValueError says so (a translation
moves points off a finite grid: use ``np.roll`` for circular shifts).

The loop shape of ``g`` broadcasts against the grid shape like numpy arrays do (as in the
original GrouPy): a single element (shape ``()`` or ``(1,)``) transforms every function, and
``C4[:, None, None, None] * f`` for a p4 function f (grid shape (4, k, k)) stacks the four
rotated copies, giving values of shape ``batch_shape + (4, 4, k, k)`` (batch shape
``batch_shape + (4,)``).
"""
import copy

import numpy as np

from groupy.garray.garray import GArray

__all__ = ['GFuncArray', 'centered_range']


class GFuncArray:
    """Functions on the grid ``i2g`` (index -> group element) with values ``v``.

    Subclasses implement ``g2i(g)``: the grid index of each element of ``g``, an int64 array of
    shape ``g.shape + (i2g.ndim,)``, raising ValueError for elements off the grid.

    Args:
        v: ndarray of shape ``batch_shape + i2g.shape``.
        i2g: GArray, the grid of group elements.
    """

    def __init__(self, v, i2g):
        if not isinstance(i2g, GArray):
            raise TypeError(f"{type(self).__name__}: i2g must be a GArray; got {type(i2g)}")
        v = np.asarray(v)
        nd = i2g.ndim
        if v.ndim < nd or v.shape[v.ndim - nd:] != i2g.shape:
            raise ValueError(f"{type(self).__name__}: v must have trailing shape {i2g.shape} "
                             f"(batch_shape + grid shape); got shape {v.shape}")
        self.v = v
        self.i2g = i2g

    # ------------------------------------------------------------------ shapes
    @property
    def f_shape(self):
        """Shape of the grid (the domain of one function)."""
        return self.i2g.shape

    @property
    def f_ndim(self):
        return self.i2g.ndim

    @property
    def shape(self):
        """Batch shape (the shape of the array of functions)."""
        return self.v.shape[:self.v.ndim - self.f_ndim]

    @property
    def ndim(self):
        """Number of batch axes."""
        return self.v.ndim - self.f_ndim

    def _with_values(self, v):
        out = copy.copy(self)
        out.v = v
        return out

    def __getitem__(self, key):
        """Index the batch axes."""
        if not isinstance(key, tuple):
            key = (key,)
        if not any(k is Ellipsis for k in key):
            key = key + (Ellipsis,)
        return self._with_values(self.v[key + (slice(None),) * self.f_ndim])

    # ------------------------------------------------------------------ translations
    def g2i(self, g):
        raise NotImplementedError

    def _check_on_grid(self, index, problem):
        size = np.asarray(self.f_shape, dtype=np.int64)
        if not np.all((index >= 0) & (index < size)):
            raise ValueError(f"{type(self).__name__}: {problem} (grid shape {self.f_shape})")
        return index

    def _check_g(self, g):
        if not isinstance(g, GArray):
            raise TypeError(f"{type(self).__name__}: expected a GArray; got {type(g)}")
        try:
            shape = np.broadcast_shapes(g.shape, self.f_shape)
        except ValueError:
            shape = None
        if shape is None or shape[len(shape) - self.f_ndim:] != self.f_shape:
            raise ValueError(f"{type(self).__name__}: the loop shape {g.shape} of g does not "
                             f"broadcast against the grid shape {self.f_shape} (use e.g. "
                             f"g[:, None, None, None] to stack one transform per element)")
        return g

    def left_translation_points(self, g):
        """``g^-1 x`` for every grid point x: loop shape ``broadcast(g.shape, f_shape)``."""
        return self._check_g(g).inv() * self.i2g

    def left_translation_indices(self, g):
        """Indices into the grid: ``(g f).v[..., idx] = f.v[..., *index[idx]]``.

        Returns int64 array of shape ``broadcast(g.shape, f_shape) + (f_ndim,)``."""
        return self._check_on_grid(
            self.g2i(self.left_translation_points(g)),
            "left translation moves points off the grid (g does not map it onto itself)")

    def right_translation_points(self, g):
        """``x g`` for every grid point x: loop shape ``broadcast(g.shape, f_shape)``."""
        g = self._check_g(g)
        if g.garray_class is not self.i2g.garray_class:  # a subgroup element: embed it
            g = g * self.i2g.garray_class.identity(g.shape)
        return self.i2g * g

    def right_translation_indices(self, g):
        """Indices into the grid: ``(f g).v[..., idx] = f.v[..., *index[idx]]``."""
        return self._check_on_grid(
            self.g2i(self.right_translation_points(g)),
            "right translation moves points off the grid (g does not map it onto itself)")

    def _values_at(self, index):
        return self.v[(Ellipsis,) + tuple(index[..., i] for i in range(self.f_ndim))]

    def _gather(self, index):
        return self._with_values(self._values_at(index))

    def __call__(self, g):
        """f sampled at the group elements `g` (on the grid): as in the original GrouPy, a
        GFuncArray whose ``.v`` holds the values, shape ``batch_shape + g.shape``, and whose
        ``i2g`` is `g` (a plain GFuncArray: it has no grid to translate on).
        ``np.asarray(f(g))`` is the ndarray of values."""
        if not isinstance(g, GArray):
            raise TypeError(f"{type(self).__name__}: expected a GArray; got {type(g)}")
        values = self._values_at(self._check_on_grid(self.g2i(g), "some elements lie off the grid"))
        return GFuncArray(values, g)

    def __array__(self, dtype=None, copy=None):
        """The values ``v`` (so that numpy functions accept a GFuncArray)."""
        v = self.v if dtype is None else self.v.astype(dtype, copy=False)
        return v.copy() if copy else v

    def __rmul__(self, g):
        """Left translation ``g * f``."""
        if not isinstance(g, GArray):
            return NotImplemented
        return self._gather(self.left_translation_indices(g))

    def __mul__(self, g):
        """Right translation ``f * g``."""
        if not isinstance(g, GArray):
            return NotImplemented
        return self._gather(self.right_translation_indices(g))

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape}, f_shape={self.f_shape})"


def centered_range(n, start=None, stop=None, name="u"):
    """(start, stop) of n grid coordinates, inclusive; centred on 0 by default:
    [-floor(n/2), floor(n/2) - (n even)].  Given bounds must span exactly n points."""
    if start is None and stop is None:
        start = -(n // 2)
        return start, start + n - 1
    if start is None or stop is None or stop - start + 1 != n:
        raise ValueError(f"{name}min/{name}max = {start}/{stop} must both be given and span "
                         f"the {n} grid points of that axis")
    return int(start), int(stop)

"""GArray: an n-dimensional array of group elements.

A GArray holds `data` of shape ``shape + g_shape``: ``shape`` is the loop shape (it indexes,
reshapes and broadcasts like a numpy array) and ``g_shape`` the shape of one group element in
the parameterisation ``p`` (e.g. ``(3,)`` for a p4 element ``(r, u, v)`` in ``'int'`` or
``(3, 3)`` for its homogeneous matrix in ``'hmat'``).

``g * h`` composes elementwise (with broadcasting) when both are of the same group, and applies
``g`` to ``h`` (``g`` acting on points of Z2 or on elements of a larger group) where that action
is defined; ``g ** n`` is the integer power, ``g.inv()`` the inverse, and ``g == h`` compares
elements whatever their parameterisations.  Subclasses fill in the group specifics.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ['GArray', 'int_array', 'int_scalar', 'parameter_range', 'randint']


class GArray:
    """Array of group elements (abstract base).

    Subclasses set ``parameterizations`` (tuple of names), ``_g_shapes`` (name -> shape of one
    element) and ``_acts_on`` (names of the GArray classes this group acts on from the left),
    and implement ``_reparameterize``, ``_validate``, ``_left_action`` and ``inv``.

    Args:
        data: array-like of shape ``shape + g_shape[p]``.
        p: parameterisation name.
    """

    parameterizations: tuple = ()
    _g_shapes: dict = {}
    _acts_on: tuple = ()
    #: Class used for results; FiniteGroup subclasses point this back to their array class.
    garray_class: type = None

    # Let numpy defer to us (or fail cleanly) instead of broadcasting GArrays as objects.
    __array_ufunc__ = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "garray_class" not in cls.__dict__:
            cls.garray_class = cls

    def __init__(self, data, p="int"):
        if p not in self.parameterizations:
            raise ValueError(
                f"{type(self).__name__}: unknown parameterisation p={p!r}; "
                f"expected one of {list(self.parameterizations)}")
        data = np.asarray(data)
        if data.dtype == np.bool_ or not np.issubdtype(data.dtype, np.integer):
            raise TypeError(
                f"{type(self).__name__}: data for p={p!r} must have an integer dtype "
                f"(it is converted to np.int64); got dtype {data.dtype}")
        g_shape = self._g_shapes[p]
        if data.shape[data.ndim - len(g_shape):] != g_shape or data.ndim < len(g_shape):
            raise ValueError(
                f"{type(self).__name__}: data for p={p!r} must have trailing shape {g_shape} "
                f"(shape + {g_shape}); got shape {data.shape}")
        self.data = data.astype(np.int64, copy=False)
        self.p = p
        self._validate()

    # ------------------------------------------------------------------ construction
    def factory(self, data, p):
        """A new array of this group (never of a FiniteGroup subclass) from `data` in `p`."""
        return self.garray_class(data, p)

    def _validate(self):
        """Raise ValueError if `self.data` does not hold valid group elements."""
        raise NotImplementedError

    @classmethod
    def identity(cls, shape=(), p="int"):
        """Identity elements of loop shape `shape` (all our groups have identity 'int' data 0).
        ``identity('mat')`` (the original C4/D4 signature ``identity(p)``) also works."""
        if isinstance(shape, str):
            shape, p = (), shape
        shape = (int(shape),) if isinstance(shape, numbers.Integral) else tuple(shape)
        e = cls.garray_class(np.zeros(shape + cls._g_shapes["int"], dtype=np.int64), "int")
        return e.reparameterize(p)

    # ------------------------------------------------------------------ shapes
    @property
    def g_shape(self):
        """Shape of one group element in the current parameterisation."""
        return self._g_shapes[self.p]

    @property
    def shape(self):
        """Loop shape (the shape of the array of elements)."""
        return self.data.shape[:self.data.ndim - len(self.g_shape)]

    @property
    def g_ndim(self):
        """Number of axes of one group element in the current parameterisation."""
        return len(self.g_shape)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def reshape(self, *shape):
        """Reshape the loop axes: ``g.reshape(3, 4)`` or ``g.reshape((3, 4))``."""
        if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
            shape = tuple(shape[0])
        try:
            data = self.data.reshape(tuple(shape) + self.g_shape)
        except ValueError:
            raise ValueError(f"{type(self).__name__}: cannot reshape loop shape {self.shape} "
                             f"into {tuple(shape)}") from None
        return self.factory(data, self.p)

    def flatten(self):
        """A copy with loop shape ``(size,)``."""
        return self.reshape(self.size)

    # ------------------------------------------------------------------ parameterisations
    def reparameterize(self, p):
        """The same elements in parameterisation `p`."""
        if p not in self.parameterizations:
            raise ValueError(
                f"{type(self).__name__}: unknown parameterisation p={p!r}; "
                f"expected one of {list(self.parameterizations)}")
        if p == self.p:
            return self.factory(self.data.copy(), p)
        return self.factory(self._reparameterize(self.data, self.p, p), p)

    def _reparameterize(self, data, p_in, p_out):
        raise NotImplementedError

    # ------------------------------------------------------------------ group operations
    def inv(self):
        """Elementwise inverse."""
        raise NotImplementedError

    def _left_action(self, other):
        """``self * other`` for an `other` whose class is in ``_acts_on``."""
        raise NotImplementedError

    def _acts_on_class(self, other):
        return any(c.__name__ in self._acts_on for c in type(other).__mro__)

    def __mul__(self, other):
        if not isinstance(other, GArray):
            return NotImplemented  # e.g. a GFuncArray handles g * f in its __rmul__
        if not self._acts_on_class(other):
            raise TypeError(
                f"{type(self).__name__} does not act on {type(other).__name__}; "
                f"it acts on {list(self._acts_on)}")
        return self._left_action(other)

    def __pow__(self, n):
        """Integer power ``g ** n`` (negative `n` uses the inverse)."""
        if not isinstance(n, numbers.Integral) or isinstance(n, bool):
            return NotImplemented
        n = int(n)
        base = self.inv() if n < 0 else self
        n = abs(n)
        result = self.garray_class.identity(self.shape, self.p)
        while n:
            if n & 1:
                result = result * base
            base = base * base
            n >>= 1
        return result

    # ------------------------------------------------------------------ comparison
    def __eq__(self, other):
        """Elementwise equality (bool ndarray of the broadcast loop shape)."""
        if not isinstance(other, GArray) or other.garray_class is not self.garray_class:
            return NotImplemented
        other_data = other._reparameterize(other.data, other.p, self.p) \
            if other.p != self.p else other.data
        g_axes = tuple(range(-len(self.g_shape), 0))
        return np.all(self.data == other_data, axis=g_axes)

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else ~eq

    __hash__ = None

    def __contains__(self, item):
        """True if every element of `item` occurs somewhere in this array."""
        if not isinstance(item, GArray) or item.garray_class is not self.garray_class:
            return False
        flat = self.flatten()
        items = item.flatten()
        hits = items.reshape(items.size, 1) == flat.reshape(1, flat.size)
        return bool(np.all(np.any(hits, axis=1)))

    # ------------------------------------------------------------------ indexing
    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        n_index = sum(1 for k in key if k is not None and k is not Ellipsis)
        if n_index > self.ndim and not any(isinstance(k, np.ndarray) and k.dtype == np.bool_
                                           for k in key):
            raise IndexError(f"{type(self).__name__}: too many indices ({n_index}) for loop "
                             f"shape {self.shape}")
        if not any(k is Ellipsis for k in key):
            key = key + (Ellipsis,)
        key = key + (slice(None),) * len(self.g_shape)
        return self.factory(self.data[key], self.p)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError(f"len() of a 0-d {type(self).__name__} (loop shape ())")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError(f"iteration over a 0-d {type(self).__name__} (loop shape ())")
        for i in range(self.shape[0]):
            yield self[i]

    def __repr__(self):
        return f"{type(self).__name__}(p={self.p!r}, shape={self.shape}, data=\n{self.data})"


def int_array(x, name, func):
    """`x` (array-like of integers) as an int64 ndarray; TypeError naming ``func``'s argument
    `name` for floats, bools or anything else that would be truncated or reinterpreted."""
    a = np.asarray(x)
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
        if not (a.size == 0 and a.dtype == np.float64):  # [] / () is an empty int array
            raise TypeError(f"{func}: {name} must hold integers; got {x!r} (dtype {a.dtype})")
    return a.astype(np.int64)


def int_scalar(x, name, func):
    """`x` as a Python int; TypeError naming the argument unless it is an integer scalar."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{func}: {name} must be an integer; got {x!r}")
    return int(x)


def randint(low, high, size, rng=None):
    """Uniform integers in [low, high) as np.int64, from `rng` (a np.random.Generator or
    RandomState) or numpy's global generator when `rng` is None."""
    low, high = int_scalar(low, "low", "rand"), int_scalar(high, "high", "rand")
    size = (int(size),) if isinstance(size, numbers.Integral) else tuple(size)
    if rng is None:
        rng = np.random
    if isinstance(rng, np.random.Generator):
        return rng.integers(low, high, size=size, dtype=np.int64)
    return np.asarray(rng.randint(low, high, size=size), dtype=np.int64)


def parameter_range(garray_class, axis, start, stop, step, func="range"):
    """Elements of `garray_class` whose 'int' parameters are all zero except parameter `axis`,
    which runs over range(start, stop, step): loop shape (n,).  Non-integer bounds raise
    TypeError, step 0 ValueError (both naming the argument)."""
    start, stop, step = (int_scalar(a, n, func) for a, n in
                         ((start, "start"), (stop, "stop"), (step, "step")))
    if step == 0:
        raise ValueError(f"{func}: step must not be 0")
    x = np.arange(start, stop, step, dtype=np.int64)
    data = np.zeros(x.shape + garray_class._g_shapes["int"], dtype=np.int64)
    data[:, axis] = x
    return garray_class(data, "int")

"""FiniteGroup: mix-in for a GArray that holds every element of a finite group once."""
import numpy as np

__all__ = ['FiniteGroup']


class FiniteGroup:
    """Mix-in for the whole of a finite group as a GArray of loop shape (order,).

    Use as ``class C4Group(FiniteGroup, C4Array)`` with ``garray_class = C4Array`` so that
    products and slices are plain arrays again.
    """

    def __init__(self, garray_type=None):
        """Optional, for groups written the original GrouPy's way: call
        ``ArrayClass.__init__(self, data, p)`` and then ``FiniteGroup.__init__(self, ArrayClass)``.
        Checks that the elements form a group (closed under products and inverses)."""
        if garray_type is not None:
            if not isinstance(self, garray_type):
                raise TypeError(f"FiniteGroup: {type(self).__name__} must derive from the "
                                f"garray_type {garray_type.__name__} it passes")
            self.garray_class = garray_type
        if self.ndim != 1:
            raise ValueError(f"FiniteGroup: {type(self).__name__} must be a flat array of "
                             f"elements; got loop shape {self.shape}")
        g = self.garray_class(self.data, self.p)
        if g.inv() not in g or (g.reshape(-1, 1) * g.reshape(1, -1)) not in g:
            raise ValueError(f"FiniteGroup: the elements of {type(self).__name__} are not "
                             f"closed under inverses and products")

    @property
    def garray_type(self):
        """The GArray class of the elements (the original GrouPy's name for garray_class)."""
        return self.garray_class

    def __eq__(self, other):
        # As in the original: two instances of the same finite group are equal (a bool);
        # against any other GArray the comparison is elementwise.
        if isinstance(other, type(self)):
            return True
        return super().__eq__(other)

    def __ne__(self, other):
        if isinstance(other, type(self)):
            return False
        return super().__ne__(other)

    __hash__ = None

    @property
    def order(self):
        return self.size

    @property
    def elements(self):
        """The elements as a list of 0-d arrays, in the group's order."""
        return list(self)

    def index(self, g):
        """Position of each element of `g` in this group: int64 array of loop shape g.shape."""
        hits = g.reshape(g.shape + (1,)) == self.garray_class(self.data, self.p)
        if not np.all(hits.sum(axis=-1) == 1):
            raise ValueError(f"index: not every element of the given {type(g).__name__} "
                             f"belongs to this {type(self).__name__}")
        return np.argmax(hits, axis=-1).astype(np.int64)

    def cayley_table(self):
        """Multiplication table: entry [i, j] is the index of elements[i] * elements[j]."""
        g = self.garray_class(self.data, self.p)
        return self.index(g.reshape(self.order, 1) * g.reshape(1, self.order))

    def inverse_indices(self):
        """Entry i is the index of the inverse of elements[i]."""
        return self.index(self.garray_class(self.data, self.p).inv())

"""FiniteGroup: mix-in for a GArray that holds every element of a finite group once."""
from __future__ import annotations

import numpy as np


class FiniteGroup:
    """Mix-in for the whole of a finite group as a GArray of loop shape (order,).

    Use as ``class C4Group(FiniteGroup, C4Array)`` with ``garray_class = C4Array`` so that
    products and slices are plain arrays again.
    """

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

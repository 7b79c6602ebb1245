"""Z2FuncArray: functions on a rectangle of Z2 (images / planar filters)."""
import numpy as np

from groupy.garray import Z2_array
from groupy.garray.Z2_array import Z2Array
from groupy.gfunc.gfuncarray import GFuncArray, centered_range

__all__ = ['Z2FuncArray']


class Z2FuncArray(GFuncArray):
    """Functions on the points (u, v), u in [umin, umax] (rows), v in [vmin, vmax] (columns).

    Args:
        v: ndarray of shape ``batch_shape + (nu, nv)``.
        umin, umax, vmin, vmax: grid bounds (inclusive); default centred on the origin.
    """

    def __init__(self, v, umin=None, umax=None, vmin=None, vmax=None):
        v = np.asarray(v)
        if v.ndim < 2:
            raise ValueError(f"Z2FuncArray: v must have shape batch_shape + (nu, nv); "
                             f"got shape {v.shape}")
        self.umin, self.umax = centered_range(v.shape[-2], umin, umax, "u")
        self.vmin, self.vmax = centered_range(v.shape[-1], vmin, vmax, "v")
        i2g = Z2_array.meshgrid(Z2_array.u_range(self.umin, self.umax + 1),
                                Z2_array.v_range(self.vmin, self.vmax + 1))
        super().__init__(v, i2g)

    def g2i(self, g):
        if not isinstance(g, Z2Array):
            raise TypeError(f"Z2FuncArray.g2i: expected a Z2Array; got {type(g).__name__}")
        index = g.reparameterize("int").data.copy()
        index[..., 0] -= self.umin
        index[..., 1] -= self.vmin
        return index

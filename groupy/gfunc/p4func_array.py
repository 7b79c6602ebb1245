"""P4FuncArray: functions on p4 restricted to the rotations x a rectangle of translations
(p4 feature maps / filters with a stabiliser axis of length 4)."""
import numpy as np

from groupy.garray import p4_array
from groupy.garray.p4_array import P4Array
from groupy.gfunc.gfuncarray import GFuncArray, centered_range

__all__ = ['P4FuncArray']


class P4FuncArray(GFuncArray):
    """Functions on the p4 elements (r, u, v) = T(u, v) R(r), r in 0..3,
    u in [umin, umax], v in [vmin, vmax]; ``v[..., r, i, j]`` is the value at (r, umin+i, vmin+j).

    Args:
        v: ndarray of shape ``batch_shape + (4, nu, nv)``.
        umin, umax, vmin, vmax: grid bounds (inclusive); default centred on the origin.
    """

    def __init__(self, v, umin=None, umax=None, vmin=None, vmax=None):
        v = np.asarray(v)
        if v.ndim < 3 or v.shape[-3] != 4:
            raise ValueError(f"P4FuncArray: v must have shape batch_shape + (4, nu, nv); "
                             f"got shape {v.shape}")
        self.umin, self.umax = centered_range(v.shape[-2], umin, umax, "u")
        self.vmin, self.vmax = centered_range(v.shape[-1], vmin, vmax, "v")
        i2g = p4_array.meshgrid(p4_array.r_range(0, 4),
                                p4_array.u_range(self.umin, self.umax + 1),
                                p4_array.v_range(self.vmin, self.vmax + 1))
        super().__init__(v, i2g)

    def g2i(self, g):
        if not isinstance(g, P4Array):
            raise TypeError(f"P4FuncArray.g2i: expected a P4Array; got {type(g).__name__}")
        index = g.reparameterize("int").data.copy()
        index[..., 1] -= self.umin
        index[..., 2] -= self.vmin
        return index

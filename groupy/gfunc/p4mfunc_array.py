"""P4MFuncArray: functions on p4m restricted to D4 x a rectangle of translations
(p4m feature maps / filters with a stabiliser axis of length 8, index m * 4 + r)."""
import numpy as np

from groupy.garray import p4m_array
from groupy.garray.p4m_array import P4MArray
from groupy.gfunc.gfuncarray import GFuncArray, centered_range

__all__ = ['P4MFuncArray']


class P4MFuncArray(GFuncArray):
    """Functions on the p4m elements (m, r, u, v) = T(u, v) M(m) R(r);
    ``v[..., m * 4 + r, i, j]`` is the value at (m, r, umin + i, vmin + j).

    Args:
        v: ndarray of shape ``batch_shape + (8, nu, nv)`` (flat stabiliser, index m * 4 + r),
            or ``batch_shape + (2, 4, nu, nv)`` (axes m and r; ``flat_stabilizer`` is False).
        umin, umax, vmin, vmax: grid bounds (inclusive); default centred on the origin.
    """

    def __init__(self, v, umin=None, umax=None, vmin=None, vmax=None):
        v = np.asarray(v)
        self.flat_stabilizer = v.ndim >= 3 and v.shape[-3] == 8
        if not (self.flat_stabilizer or v.shape[-4:-2] == (2, 4)):
            raise ValueError(f"P4MFuncArray: v must have shape batch_shape + (8, nu, nv) "
                             f"(or batch_shape + (2, 4, nu, nv)); got shape {v.shape}")
        self.umin, self.umax = centered_range(v.shape[-2], umin, umax, "u")
        self.vmin, self.vmax = centered_range(v.shape[-1], vmin, vmax, "v")
        grid = p4m_array.meshgrid(p4m_array.m_range(), p4m_array.r_range(),
                                  p4m_array.u_range(self.umin, self.umax + 1),
                                  p4m_array.v_range(self.vmin, self.vmax + 1))
        if self.flat_stabilizer:
            grid = grid.reshape((8,) + grid.shape[2:])
        super().__init__(v, grid)

    def g2i(self, g):
        if not isinstance(g, P4MArray):
            raise TypeError(f"P4MFuncArray.g2i: expected a P4MArray; got {type(g).__name__}")
        index = g.reparameterize("int").data.copy()
        index[..., 2] -= self.umin
        index[..., 3] -= self.vmin
        if self.flat_stabilizer:
            index = np.concatenate([index[..., :1] * 4 + index[..., 1:2], index[..., 2:]],
                                   axis=-1)
        return index

"""P4MFuncArray: functions on p4m restricted to D4 x a rectangle of translations
(p4m feature maps / filters with a stabiliser axis of length 8, index m * 4 + r)."""
from __future__ import annotations

import numpy as np

from groupy.garray import p4m_array
from groupy.garray.p4m_array import P4MArray
from groupy.gfunc.gfuncarray import GFuncArray, centered_range


class P4MFuncArray(GFuncArray):
    """Functions on the p4m elements (m, r, u, v) = T(u, v) M(m) R(r);
    ``v[..., m * 4 + r, i, j]`` is the value at (m, r, umin + i, vmin + j).

    Args:
        v: ndarray of shape ``batch_shape + (8, nu, nv)``.
        umin, umax, vmin, vmax: grid bounds (inclusive); default centred on the origin.
    """

    def __init__(self, v, umin=None, umax=None, vmin=None, vmax=None):
        v = np.asarray(v)
        if v.ndim < 3 or v.shape[-3] != 8:
            raise ValueError(f"P4MFuncArray: v must have shape batch_shape + (8, nu, nv); "
                             f"got shape {v.shape}")
        self.umin, self.umax = centered_range(v.shape[-2], umin, umax, "u")
        self.vmin, self.vmax = centered_range(v.shape[-1], vmin, vmax, "v")
        grid = p4m_array.meshgrid(p4m_array.m_range(), p4m_array.r_range(),
                                  p4m_array.u_range(self.umin, self.umax + 1),
                                  p4m_array.v_range(self.vmin, self.vmax + 1))
        super().__init__(v, grid.reshape((8,) + grid.shape[2:]))

    def g2i(self, g):
        if not isinstance(g, P4MArray):
            raise TypeError(f"P4MFuncArray.g2i: expected a P4MArray; got {type(g).__name__}")
        mruv = g.reparameterize("int").data
        index = np.stack([mruv[..., 0] * 4 + mruv[..., 1],
                          mruv[..., 2] - self.umin,
                          mruv[..., 3] - self.vmin], axis=-1)
        return index

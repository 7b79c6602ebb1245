"""P4MFuncArray: the flat stabiliser axis (index m * 4 + r) and the (m, r) layout agree."""
import numpy as np
import pytest

from groupy.garray import D4_array, p4m_array
from groupy.gfunc import P4MFuncArray


@pytest.mark.parametrize("n", [3, 4])
def test_flat_and_unflattened_stabiliser_layouts_agree(n):
    v = np.random.default_rng(n).standard_normal((2, 8, n, n))
    flat = P4MFuncArray(v)
    split = P4MFuncArray(v.reshape(2, 2, 4, n, n))
    assert flat.flat_stabilizer and not split.flat_stabilizer
    assert flat.f_shape == (8, n, n) and split.f_shape == (2, 4, n, n)
    assert (flat.i2g.reshape(2, 4, n, n) == split.i2g).all()
    assert flat.i2g[6, 0, 0].data.tolist() == [1, 2, -(n // 2), -(n // 2)]
    group = D4_array.D4 if n % 2 else p4m_array.D4_halfshift
    for g, h in zip(group, D4_array.D4):
        np.testing.assert_array_equal((g * flat).v.reshape(split.v.shape), (g * split).v)
        np.testing.assert_array_equal((flat * h).v.reshape(split.v.shape), (split * h).v)


def test_bad_stabiliser_axis():
    with pytest.raises(ValueError, match=r"\(8, nu, nv\).*\(2, 4, nu, nv\)"):
        P4MFuncArray(np.zeros((4, 4, 5, 5)))
    with pytest.raises(ValueError, match=r"\(8, nu, nv\)"):
        P4MFuncArray(np.zeros((5, 5)))

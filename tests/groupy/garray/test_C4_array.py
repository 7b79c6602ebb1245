import numpy as np
import pytest

from groupy.garray import C4_array as c4
from groupy.garray import Z2_array as z2


def test_element_order_and_matrices():
    assert c4.C4.order == 4 and c4.C4.shape == (4,)
    assert c4.C4.data[:, 0].tolist() == [0, 1, 2, 3]
    for k, g in enumerate(c4.C4.elements):
        t = k * np.pi / 2
        expected = np.rint([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]).astype(int)
        assert np.array_equal(g.reparameterize("mat").data, expected)
        assert g == c4.r ** k
    assert np.array_equal(c4.C4.index(c4.C4), np.arange(4))


def test_cayley_table():
    table = c4.C4.cayley_table()
    assert np.array_equal(table, (np.arange(4)[:, None] + np.arange(4)[None, :]) % 4)
    assert c4.C4.inverse_indices().tolist() == [0, 3, 2, 1]
    assert type(c4.C4 * c4.C4) is c4.C4Array and type(c4.C4[1:]) is c4.C4Array


def test_rotation_of_points():
    # R(1) (u, v) = (-v, u): a counter-clockwise quarter turn with u the row coordinate
    assert (c4.r * z2.Z2Array([2, 5])).data.tolist() == [-5, 2]
    assert (c4.r ** 2 * z2.Z2Array([2, 5])).data.tolist() == [-2, -5]


def test_rotation_helper():
    g = c4.rotation([0, 1, 2, 7])
    assert g.shape == (4,) and g.data[:, 0].tolist() == [0, 1, 2, 3]
    assert c4.rotation(1) == c4.r and c4.rotation(1).shape == ()
    with pytest.raises(ValueError, match="fix the origin"):
        c4.rotation(1, center=(1, 0))

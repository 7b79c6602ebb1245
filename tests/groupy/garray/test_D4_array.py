import numpy as np
import pytest

from groupy.garray import C4_array as c4
from groupy.garray import D4_array as d4
from groupy.garray import Z2_array as z2


def test_element_order_and_matrices():
    assert d4.D4.order == 8
    assert d4.D4.data.tolist() == [[m, r] for m in range(2) for r in range(4)]
    for k, g in enumerate(d4.D4.elements):
        m, r = divmod(k, 4)
        expected = c4.C4[r].reparameterize("mat").data.copy()
        expected[0] *= (-1) ** m
        assert np.array_equal(g.reparameterize("mat").data, expected)
        assert g == d4.m ** m * d4.r ** r
    assert np.array_equal(d4.D4.index(d4.D4[::-1]), np.arange(8)[::-1])


def test_cayley_table_is_a_latin_square_and_non_abelian():
    table = d4.D4.cayley_table()
    assert np.all(np.sort(table, axis=0) == np.arange(8)[:, None])
    assert np.all(np.sort(table, axis=1) == np.arange(8)[None, :])
    assert not np.array_equal(table, table.T)
    assert table[4, 1] == 5 and table[1, 4] == 7  # m r = (1, 1); r m = m r^3 = (1, 3)
    # rotations form the subgroup C4 with the same table
    assert np.array_equal(table[:4, :4], c4.C4.cayley_table())


def test_mirror_flips_u():
    assert (d4.m * z2.Z2Array([2, 5])).data.tolist() == [-2, 5]
    assert (d4.m * d4.r * z2.Z2Array([2, 5])).data.tolist() == [5, 2]


def test_rotation_and_mirror_helpers():
    x = z2.Z2Array([2, 5])
    assert d4.rotation(1) == d4.r and d4.rotation([1, 6]).data.tolist() == [[0, 1], [0, 2]]
    assert d4.mirror_u() == d4.m and (d4.mirror_u() * x).data.tolist() == [-2, 5]
    assert (d4.mirror_v() * x).data.tolist() == [2, -5]
    assert d4.mirror_v((2, 3)).shape == (2, 3)
    assert np.all(d4.mirror_v((2, 3)) == d4.rotation(1) * d4.mirror_u() * d4.rotation(-1))
    with pytest.raises(ValueError, match="fix the origin"):
        d4.mirror_u(center=(0, 2))

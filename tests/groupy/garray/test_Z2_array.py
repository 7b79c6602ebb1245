import numpy as np

from groupy.garray import Z2_array as z2


def test_composition_is_addition():
    a = z2.rand(-5, 5, -5, 5, (6,), np.random.default_rng(0))
    b = z2.rand(-5, 5, -5, 5, (6,), np.random.default_rng(1))
    assert np.array_equal((a * b).data, a.data + b.data)
    assert np.array_equal(a.inv().data, -a.data)
    assert np.array_equal(a.reparameterize("hmat").data[:, :2, 2], a.data)


def test_ranges_and_meshgrid():
    assert z2.u_range(-2, 3).data.tolist() == [[-2, 0], [-1, 0], [0, 0], [1, 0], [2, 0]]
    assert z2.v_range(0, 4, 2).data.tolist() == [[0, 0], [0, 2]]
    grid = z2.meshgrid(z2.u_range(-1, 2), z2.v_range(0, 4))
    assert grid.shape == (3, 4)
    assert grid.data[2, 3].tolist() == [1, 3]
    assert z2.meshgrid().shape == (3, 3) and z2.identity((2,)).data.tolist() == [[0, 0]] * 2
    assert z2.u * z2.v == z2.Z2Array([1, 1])

import numpy as np

from groupy.garray import C4_array as c4
from groupy.garray import Z2_array as z2
from groupy.garray import p4_array as p4


def test_hmat_is_translation_times_rotation():
    g = p4.rand(-3, 4, -3, 4, (20,), np.random.default_rng(0))
    hmat = g.reparameterize("hmat").data
    for gi, h in zip(g.data, hmat):
        r, u, v = gi
        rot = np.eye(3, dtype=int)
        rot[:2, :2] = c4.C4[r].reparameterize("mat").data
        t = np.eye(3, dtype=int)
        t[:2, 2] = u, v
        assert np.array_equal(h, t @ rot)
    assert np.array_equal(g.reparameterize("mat").data, hmat)
    assert np.all(g == p4.translation(g.data[:, 1:]) * p4.rotation(g.data[:, 0]))


def test_ranges_and_meshgrid_parameters():
    grid = p4.meshgrid(p4.r_range(0, 4), p4.u_range(-2, 2), p4.v_range(-1, 2))
    assert grid.shape == (4, 4, 3)
    rr, uu, vv = np.meshgrid(np.arange(4), np.arange(-2, 2), np.arange(-1, 2), indexing="ij")
    assert np.array_equal(grid.data, np.stack([rr, uu, vv], axis=-1))
    assert p4.meshgrid().shape == (4, 3, 3)


def test_rotation_about_center_fixes_it():
    center = (2, -3)
    g = p4.rotation(np.arange(4), center)
    c = z2.Z2Array(list(center))
    assert np.all(g * c == c)
    assert np.all(g[1] ** 4 == p4.identity()) and g[1] != p4.r
    assert np.all(p4.rotation(np.arange(4)) == p4.r_range())


def test_c4_halfshift_maps_even_grids_onto_themselves():
    assert p4.C4_halfshift.data.tolist() == [[0, 0, 0], [1, -1, 0], [2, -1, -1], [3, 0, -1]]
    for n in (2, 4):
        grid = z2.meshgrid(z2.u_range(-n // 2, n // 2), z2.v_range(-n // 2, n // 2))
        for g in p4.C4_halfshift:
            assert grid.flatten() in g * grid
        # the halfshifted rotations form a group isomorphic to C4
        assert np.all(p4.C4_halfshift[1] ** 4 == p4.identity())
        assert np.all(p4.C4_halfshift[1] ** 2 == p4.C4_halfshift[2])
        # and rotate a grid (about its centre) as np.rot90 does with points (row, column)
        idx = (p4.C4_halfshift[1] * grid).data + n // 2  # indices of the image points
        a = np.arange(n * n).reshape(n, n)
        rotated = np.empty_like(a)
        rotated[idx[..., 0], idx[..., 1]] = a
        assert np.array_equal(rotated, np.rot90(a))

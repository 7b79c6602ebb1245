import numpy as np

from groupy.garray import D4_array as d4
from groupy.garray import Z2_array as z2
from groupy.garray import p4_array as p4
from groupy.garray import p4m_array as p4m


def test_hmat_is_translation_mirror_rotation():
    g = p4m.rand(-3, 4, -3, 4, (30,), np.random.default_rng(0))
    for gi, h in zip(g.data, g.reparameterize("hmat").data):
        m, r, u, v = gi
        lin = np.eye(3, dtype=int)
        lin[:2, :2] = d4.D4[4 * m + r].reparameterize("mat").data
        t = np.eye(3, dtype=int)
        t[:2, 2] = u, v
        mirror = np.diag([(-1) ** m, 1, 1])
        rot = np.eye(3, dtype=int)
        rot[:2, :2] = lin[:2, :2] if m == 0 else mirror[:2, :2] @ lin[:2, :2]
        assert np.array_equal(h, t @ mirror @ rot)
    point_part = p4m.P4MArray(np.concatenate([g.data[:, :2], np.zeros((30, 2), int)], axis=1))
    assert np.all(g == p4m.translation(g.data[:, 2:]) * point_part)


def test_ranges_meshgrid_and_mirrors():
    grid = p4m.meshgrid(p4m.m_range(), p4m.r_range(), p4m.u_range(0, 2), p4m.v_range(-1, 1))
    assert grid.shape == (2, 4, 2, 2)
    mm, rr, uu, vv = np.meshgrid(range(2), range(4), range(0, 2), range(-1, 1), indexing="ij")
    assert np.array_equal(grid.data, np.stack([mm, rr, uu, vv], axis=-1))
    x = z2.Z2Array([2, 5])
    assert (p4m.mirror_u() * x).data.tolist() == [-2, 5]
    assert (p4m.mirror_v() * x).data.tolist() == [2, -5]
    assert p4m.mirror_u((3,)).shape == (3,)
    assert (p4m.mirror_u(center=(1, 1)) * x).data.tolist() == [0, 5]
    assert np.all(p4m.rotation(np.arange(4), (1, 2)) * z2.Z2Array([1, 2]) == z2.Z2Array([1, 2]))


def test_d4_halfshift_maps_even_grids_onto_themselves():
    hs = p4m.D4_halfshift
    assert hs.shape == (8,)
    # its rotations are C4_halfshift
    assert np.array_equal(hs.reparameterize("hmat").data[:4],
                          p4.C4_halfshift.reparameterize("hmat").data)
    # it is a group isomorphic to D4, with the same multiplication table
    table = np.array([[int(np.argmax(hs == a * b)) for b in hs] for a in hs])
    assert np.array_equal(table, d4.D4.cayley_table())
    for n in (2, 4, 6):
        grid = z2.meshgrid(z2.u_range(-n // 2, n // 2), z2.v_range(-n // 2, n // 2))
        for g in hs:
            assert grid.flatten() in g * grid
    # the mirror flips the rows of an even image about its centre
    n = 4
    grid = z2.meshgrid(z2.u_range(-n // 2, n // 2), z2.v_range(-n // 2, n // 2))
    idx = (hs[4] * grid).data + n // 2
    a = np.arange(n * n).reshape(n, n)
    out = np.empty_like(a)
    out[idx[..., 0], idx[..., 1]] = a
    assert np.array_equal(out, np.flip(a, axis=0))

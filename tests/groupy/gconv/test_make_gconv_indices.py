"""The filter-transform tables against np.rot90 / np.flip, for odd and even filter sizes."""
import numpy as np
import pytest

from groupy.gconv.make_gconv_indices import (MAX_KSIZE, flatten_indices, make_c4_p4_indices,
                                             make_c4_z2_indices, make_d4_p4m_indices,
                                             make_d4_z2_indices)

KSIZES = list(range(1, 8))


def spatial(w, m, r):
    """Rotate the last two axes by r quarter turns (np.rot90), then flip rows if m."""
    out = np.rot90(w, k=r, axes=(-2, -1))
    return np.flip(out, axis=-2) if m else out


def reference(w, m, r):
    """The filter w (nti, k, k) transformed by g = (m, r) as the module docstring states."""
    nti = w.shape[0]
    if nti == 1:
        return spatial(w, m, r)
    if nti == 4:
        return spatial(np.roll(w, r, axis=0), 0, r)
    out = np.empty_like(w)
    for n in range(2):
        for s in range(4):
            n_src = (n + m) % 2
            s_src = (s - (-1) ** (n + m) * r) % 4
            out[n * 4 + s] = spatial(w[n_src * 4 + s_src], m, r)
    return out


BUILDERS = {
    "c4_z2": (make_c4_z2_indices, 4, 1),
    "c4_p4": (make_c4_p4_indices, 4, 4),
    "d4_z2": (make_d4_z2_indices, 8, 1),
    "d4_p4m": (make_d4_p4m_indices, 8, 8),
}


def apply(inds, w):
    return w[inds[..., 0], inds[..., 1], inds[..., 2]]


@pytest.mark.parametrize("ksize", KSIZES)
@pytest.mark.parametrize("name", list(BUILDERS))
def test_table_matches_rot90_and_flip(name, ksize):
    build, n_out, nti = BUILDERS[name]
    inds = build(ksize)
    assert inds.shape == (n_out, nti, ksize, ksize, 3) and inds.dtype == np.int32
    w = np.random.default_rng(ksize).standard_normal((nti, ksize, ksize))
    out = apply(inds, w)
    for g in range(n_out):
        m, r = divmod(g, 4)
        np.testing.assert_array_equal(out[g], reference(w, m, r))


@pytest.mark.parametrize("ksize", KSIZES)
@pytest.mark.parametrize("name", list(BUILDERS))
def test_table_is_a_permutation_and_flattens_by_formula(name, ksize):
    build, n_out, nti = BUILDERS[name]
    inds = build(ksize)
    flat = flatten_indices(inds)
    assert flat.shape == (n_out, nti, ksize, ksize) and flat.dtype == np.int32
    for g in range(n_out):
        assert np.array_equal(np.sort(flat[g].ravel()), np.arange(nti * ksize * ksize))
    t, u, v = np.moveaxis(inds, -1, 0)
    assert np.array_equal(flat, u * ksize * nti + v * nti + t)
    # the flat index addresses the filter laid out as (k, k, nti)
    w = np.random.default_rng(0).standard_normal((nti, ksize, ksize))
    w_kkt = np.transpose(w, (1, 2, 0)).ravel()
    np.testing.assert_array_equal(w_kkt[flat], apply(inds, w))


@pytest.mark.parametrize("ksize", [2, 3, 4])
@pytest.mark.parametrize("name", list(BUILDERS))
def test_tables_compose_like_the_group(name, ksize):
    # transforming by g then by h equals transforming by h g (a left action)
    from groupy.garray.C4_array import C4
    from groupy.garray.D4_array import D4
    build, n_out, nti = BUILDERS[name]
    group = C4 if n_out == 4 else D4
    table = group.cayley_table()
    inds = build(ksize)
    w = np.random.default_rng(1).standard_normal((nti, ksize, ksize))
    for g in range(n_out):
        for h in range(n_out):
            np.testing.assert_array_equal(apply(inds[h], apply(inds[g], w)),
                                          apply(inds[table[h, g]], w))


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "3"])
def test_bad_ksize(bad):
    with pytest.raises(ValueError, match="ksize must be a positive integer"):
        make_c4_p4_indices(bad)


def test_flatten_indices_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"\(n_out, nti, k, k, 3\)"):
        flatten_indices(np.zeros((4, 4, 3, 3), dtype=np.int32))


@pytest.mark.parametrize("name", list(BUILDERS))
def test_ksize_is_bounded(name):
    """k = 64 is built; k = 65 is refused before anything is built (the tables grow as k^2)."""
    build, n_out, nti = BUILDERS[name]
    assert MAX_KSIZE == 64 and build(64).shape == (n_out, nti, 64, 64, 3)
    with pytest.raises(ValueError, match=r"^ksize must be at most 64 \(the filter-transform table grows as "
                                         r"ksize\*\*2\), got 65$"):
        build(65)

"""Left and right translation of functions on Z2, p4 and p4m grids."""
import numpy as np
import pytest

from groupy.garray import C4_array, D4_array, Z2_array, p4_array, p4m_array
from groupy.gfunc import GFuncArray, P4FuncArray, P4MFuncArray, Z2FuncArray

RNG = np.random.default_rng(0)


def z2_func(n=5):
    return Z2FuncArray(RNG.standard_normal((2, n, n)))


def p4_func(n=5):
    return P4FuncArray(RNG.standard_normal((2, 4, n, n)))


def p4m_func(n=5):
    return P4MFuncArray(RNG.standard_normal((2, 8, n, n)))


# (function factory, samplers of transforms that keep the 5x5 grid (rotations about the
# centre, mirrors, and the identity / translations applied to a shrunken support)
CASES = {
    "Z2-C4": (z2_func, lambda: C4_array.rand((), RNG)),
    "Z2-D4": (z2_func, lambda: D4_array.rand((), RNG)),
    "Z2-p4": (z2_func, lambda: p4_array.rand(0, 1, 0, 1, (), RNG)),
    "Z2-p4m": (z2_func, lambda: p4m_array.rand(0, 1, 0, 1, (), RNG)),
    "p4-C4": (p4_func, lambda: C4_array.rand((), RNG)),
    "p4-p4": (p4_func, lambda: p4_array.rand(0, 1, 0, 1, (), RNG)),
    "p4m-D4": (p4m_func, lambda: D4_array.rand((), RNG)),
    "p4m-p4m": (p4m_func, lambda: p4m_array.rand(0, 1, 0, 1, (), RNG)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_left_translation_is_a_left_action(case):
    make_f, rand_g = CASES[case]
    f = make_f()
    for _ in range(6):
        g, h = rand_g(), rand_g()
        np.testing.assert_array_equal(((g * h) * f).v, (g * (h * f)).v)
        np.testing.assert_array_equal((g.inv() * (g * f)).v, f.v)
    e = type(rand_g()).identity()
    np.testing.assert_array_equal((e * f).v, f.v)


@pytest.mark.parametrize("case", ["p4-C4", "p4-p4", "p4m-D4", "p4m-p4m"])
def test_right_translation_is_the_right_regular_representation(case):
    make_f, rand_g = CASES[case]
    f = make_f()
    for _ in range(6):
        g, h = rand_g(), rand_g()
        # (f g)(x) = f(x g), hence (f g) h = f (h g)
        index = f.g2i(f.i2g * (g * type(f.i2g).identity()))
        np.testing.assert_array_equal(
            (f * g).v, f.v[..., index[..., 0], index[..., 1], index[..., 2]])
        np.testing.assert_array_equal(((f * g) * h).v, (f * (h * g)).v)
        np.testing.assert_array_equal(((f * g) * g.inv()).v, f.v)
    e = type(rand_g()).identity()
    np.testing.assert_array_equal((f * e).v, f.v)


def test_left_translation_of_z2_functions_is_rot90_and_flip():
    for n in (1, 2, 3, 4, 5):
        a = RNG.standard_normal((3, n, n))
        f = Z2FuncArray(a)
        group = C4_array.C4 if n % 2 else p4_array.C4_halfshift
        for k, g in enumerate(group):
            np.testing.assert_array_equal((g * f).v, np.rot90(a, k, axes=(-2, -1)))
        group = D4_array.D4 if n % 2 else p4m_array.D4_halfshift
        np.testing.assert_array_equal((group[4] * f).v, np.flip(a, axis=-2))


def test_rotation_about_the_centre_of_an_uncentred_grid():
    a = RNG.standard_normal((5, 5))
    f = Z2FuncArray(a, umin=0, umax=4, vmin=10, vmax=14)
    g = p4_array.rotation(1, center=(2, 12))
    np.testing.assert_array_equal((g * f).v, np.rot90(a))
    np.testing.assert_array_equal((p4m_array.mirror_v(center=(2, 12)) * f).v, np.flip(a, 1))


def test_stacked_transforms_and_indices():
    f = p4_func(3)
    stack = C4_array.C4[:, None, None, None]  # loop shapes broadcast like numpy arrays
    out = stack * f
    assert out.shape == (2, 4) and out.v.shape == (2, 4, 4, 3, 3)
    for k in range(4):
        np.testing.assert_array_equal(out.v[:, k], (C4_array.C4[k] * f).v)
    inds = f.left_translation_indices(stack)
    assert inds.shape == (4, 4, 3, 3, 3) and np.issubdtype(inds.dtype, np.integer)
    # a single element of loop shape (1,) transforms every function (as in the original GrouPy)
    g = C4_array.C4[1:2]
    assert g.shape == (1,) and (g * f).shape == f.shape
    np.testing.assert_array_equal((g * f).v, (C4_array.r * f).v)
    with pytest.raises(ValueError, match=r"does not broadcast against the grid shape"):
        C4_array.C4 * f  # (4,) against the grid (4, 3, 3)
    # p4 functions rotate their planes and permute the stabiliser cyclically
    np.testing.assert_array_equal(
        (C4_array.r * f).v, np.rot90(np.roll(f.v, 1, axis=-3), 1, axes=(-2, -1)))
    # right translation by a rotation only permutes the stabiliser axis: (f r)(s, x) = f(s + 1, x)
    np.testing.assert_array_equal((f * C4_array.r).v, np.roll(f.v, -1, axis=-3))
    # and both kinds of translation commute
    g, h = C4_array.r, C4_array.r ** 2
    np.testing.assert_array_equal(((g * f) * h).v, (g * (f * h)).v)


def test_p4m_stabiliser_order_and_batch_indexing():
    f = p4m_func(3)
    assert f.i2g.shape == (8, 3, 3)
    assert f.i2g[5, 1, 1].data.tolist() == [1, 1, 0, 0]  # index m * 4 + r
    assert f[1].shape == () and np.array_equal(f[1].v, f.v[1])
    assert isinstance(f[0], P4MFuncArray)


def test_grid_bounds():
    f = Z2FuncArray(np.zeros((4, 3)))
    assert (f.umin, f.umax, f.vmin, f.vmax) == (-2, 1, -1, 1)
    g = Z2FuncArray(np.zeros((4, 3)), umin=0, umax=3, vmin=5, vmax=7)
    assert g.i2g[0, 0].data.tolist() == [0, 5]
    with pytest.raises(ValueError, match="span"):
        Z2FuncArray(np.zeros((4, 3)), umin=0, umax=2, vmin=0, vmax=2)


def test_errors():
    with pytest.raises(ValueError, match=r"\(4, nu, nv\)"):
        P4FuncArray(np.zeros((3, 5, 5)))
    with pytest.raises(ValueError, match=r"\(8, nu, nv\)"):
        P4MFuncArray(np.zeros((4, 5, 5)))
    with pytest.raises(ValueError, match="trailing shape"):
        GFuncArray(np.zeros((3, 3)), Z2_array.meshgrid(Z2_array.u_range(0, 4)))
    with pytest.raises(ValueError, match="off the grid"):
        p4_array.translation([3, 0]) * p4_func(3)
    with pytest.raises(ValueError, match="off the grid"):  # rotation about the wrong centre
        C4_array.r * z2_func(4)
    with pytest.raises(TypeError, match="does not act on P4Array"):
        D4_array.m * p4_func(3)  # D4 acts on p4m, not p4: the grid lookup refuses it


# The checks of the original GrouPy test-suite: elements of loop shape (1,) broadcast against
# the grid, so every function of the batch is transformed by the same element.
ORIGINAL_CASES = {
    "Z2-C4": (lambda: Z2FuncArray(RNG.standard_normal((2, 6, 5, 5))), C4_array),
    "Z2-D4": (lambda: Z2FuncArray(RNG.standard_normal((2, 6, 5, 5))), D4_array),
    "p4-C4": (lambda: P4FuncArray(RNG.standard_normal((2, 6, 4, 5, 5))), C4_array),
    "p4m-D4": (lambda: P4MFuncArray(RNG.standard_normal((2, 6, 8, 5, 5))), D4_array),
}


@pytest.mark.parametrize("case", list(ORIGINAL_CASES))
def test_original_style_checks_with_length_one_elements(case):
    make_f, group_module = ORIGINAL_CASES[case]
    f = make_f()
    for _ in range(4):
        g, h = group_module.rand(size=(1,)), group_module.rand(size=(1,))
        gh_f, g_hf = (g * h) * f, g * (h * f)
        assert gh_f.v.shape == f.v.shape
        np.testing.assert_array_equal(gh_f.v, g_hf.v)
        np.testing.assert_array_equal((g.inv() * (g * f)).v, f.v)
        np.testing.assert_array_equal((g * f).v, (g[0] * f).v)
    np.testing.assert_array_equal((group_module.identity() * f).v, f.v)
    # g2i inverts i2g
    index = f.g2i(f.i2g)
    assert index.shape == f.i2g.shape + (f.f_ndim,)
    assert (f.i2g[tuple(index[..., j] for j in range(f.f_ndim))] == f.i2g).all()


def test_evaluation_at_group_elements():
    f = p4_func(3)
    assert f.ndim == 1 and f.shape == (2,) and f.f_shape == (4, 3, 3)
    g = p4_array.P4Array([[2, -1, 1], [0, 0, 0]])
    np.testing.assert_array_equal(f(g), f.v[:, [2, 0], [0, 1], [2, 1]])
    np.testing.assert_array_equal(f(f.i2g), f.v)
    # (g f)(x) = f(g^-1 x) at every grid point x
    g = C4_array.r
    np.testing.assert_array_equal((g * f)(f.i2g), f(g.inv() * f.i2g))
    with pytest.raises(ValueError, match="off the grid"):
        f(p4_array.P4Array([0, 2, 0]))
    with pytest.raises(TypeError, match="GArray"):
        f(np.zeros(3, dtype=int))


def test_call_returns_a_function_on_the_sample_points_as_the_original():
    """The original's f(g) returned a copy of f holding the sampled values in ``.v``."""
    from groupy.gfunc.gfuncarray import GFuncArray
    v = np.random.default_rng(3).standard_normal((2, 4, 3, 3))
    f = P4FuncArray(v)
    g = p4_array.P4Array([[1, 0, 1], [3, -1, 0]])
    fg = f(g)
    assert isinstance(fg, GFuncArray) and fg.i2g is g and fg.shape == (2,)
    # (r, u, v) sits at index (r, u + 1, v + 1) of the centred 3 x 3 grid
    np.testing.assert_array_equal(fg.v, v[:, [1, 3], [1, 0], [2, 1]])
    np.testing.assert_array_equal(np.asarray(fg), fg.v)

"""The original GrouPy's GArray names: conversions of raw data (int2mat, mat2int, int2hmat,
hmat2int, mat2hmat, hmat2mat), left_action_*, g_ndim, z2_composition, the identities
C4_array.e / D4_array.e, FiniteGroup(garray_type); and helpers that must not truncate floats.
Expected matrices are written out by hand from the definitions in the original's docstrings:
R(r) = [[cos r pi/2, -sin r pi/2], [sin r pi/2, cos r pi/2]], M = diag(-1, 1), p4 = T(u, v) R(r),
p4m = T(u, v) M^m R(r)."""
import numpy as np
import pytest

from groupy.garray import C4_array, D4_array, Z2_array, p4_array, p4m_array
from groupy.garray.C4_array import C4, C4Array
from groupy.garray.D4_array import D4, D4Array
from groupy.garray.finitegroup import FiniteGroup

R1 = [[0, -1], [1, 0]]
R2 = [[-1, 0], [0, -1]]
M = [[-1, 0], [0, 1]]


def test_c4_d4_int_mat_conversions():
    c = C4Array([0])
    np.testing.assert_array_equal(c.int2mat(np.array([[1], [2]])), [R1, R2])
    np.testing.assert_array_equal(c.mat2int(np.array([R1, R2])), [[1], [2]])
    hmat = c.int2hmat(np.array([1]))
    np.testing.assert_array_equal(hmat, [[0, -1, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(c.hmat2int(hmat), [1])
    np.testing.assert_array_equal(c.mat2hmat(np.array(R1)), hmat)
    np.testing.assert_array_equal(c.hmat2mat(hmat), R1)
    d = D4Array([0, 0])
    mr = np.array(M) @ np.array(R1)  # M R(1)
    np.testing.assert_array_equal(d.int2mat(np.array([1, 1])), mr)
    np.testing.assert_array_equal(d.mat2int(mr), [1, 1])
    np.testing.assert_array_equal(d.hmat2int(d.int2hmat(np.array([[1, 3], [0, 2]]))),
                                  [[1, 3], [0, 2]])


def test_plane_group_hmat_conversions():
    p = p4_array.identity()
    h = p.int2hmat(np.array([1, 2, -3]))
    np.testing.assert_array_equal(h, [[0, -1, 2], [1, 0, -3], [0, 0, 1]])
    np.testing.assert_array_equal(p.hmat2int(h), [1, 2, -3])
    q = p4m_array.identity()
    h = q.int2hmat(np.array([1, 1, 4, 5]))
    np.testing.assert_array_equal(h[:2, :2], np.array(M) @ np.array(R1))
    np.testing.assert_array_equal(h[:2, 2], [4, 5])
    np.testing.assert_array_equal(q.hmat2int(h), [1, 1, 4, 5])
    with pytest.raises(NotImplementedError, match="no 'mat'"):
        Z2_array.identity().int2mat(np.zeros(2, dtype=int))


def test_g_ndim_and_shapes():
    assert p4_array.identity((2, 3)).g_ndim == 1
    assert p4_array.identity((2, 3), "hmat").g_ndim == 2
    assert C4_array.identity(p="mat").g_ndim == 2 and C4_array.identity(p="mat").g_shape == (2, 2)


def test_left_actions_are_the_products():
    g = C4_array.rand((3,), np.random.default_rng(0))
    h = C4_array.rand((3,), np.random.default_rng(1))
    assert np.all(g.left_action_mat(h) == g * h)
    x = Z2_array.Z2Array([[1, 2], [3, -1], [0, 5]])
    # R(r) x by hand
    expected = [np.array([[1, 0], [0, 1]], int), np.array(R1), np.array(R2), -np.array(R1)]
    points = np.stack([expected[r] @ xi for r, xi in zip(g.data[:, 0], x.data)])
    np.testing.assert_array_equal(g.left_action_vec(x).data, points)
    a = p4_array.rand(-2, 3, -2, 3, (3,), np.random.default_rng(2))
    np.testing.assert_array_equal(a.left_action_hvec(x).data,
                                  np.einsum("nij,nj->ni", a.hmat()[:, :2, :2], x.data)
                                  + a.hmat()[:, :2, 2])
    assert np.all(g.left_action_hmat(a) == g * a)
    assert np.all(a.left_action_hmat(a) == a * a)
    with pytest.raises(TypeError, match="does not act on"):
        a.left_action_mat(g)


def test_z2_composition_adds():
    a, b = Z2_array.Z2Array([1, 2]), Z2_array.Z2Array([[3, -4], [0, 1]])
    np.testing.assert_array_equal(a.z2_composition(b).data, [[4, -2], [1, 3]])
    with pytest.raises(TypeError):
        a.z2_composition(C4_array.r)


def test_identity_constants():
    assert C4_array.e.data.tolist() == [0] and D4_array.e.data.tolist() == [0, 0]
    assert np.all(C4_array.e * C4 == C4) and np.all(D4_array.e * D4 == D4)


def test_finite_group_as_the_original_builds_it():
    class C2Group(FiniteGroup, C4Array):  # {e, r^2}, built the original's way
        def __init__(self):
            C4Array.__init__(self, np.array([[0], [2]]), "int")
            FiniteGroup.__init__(self, C4Array)

    g = C2Group()
    assert g.garray_type is C4Array and type(g[1]) is C4Array
    assert g == C2Group() and not (g != C2Group())  # the original: instances of a group equal
    assert C4 == C4_array.C4Group()
    # against a plain array the comparison stays elementwise: [0, 1, 2, 3] vs [0, 3, 2, 1]
    assert (C4 == C4[[0, 3, 2, 1]]).tolist() == [True, False, True, False]

    class NotAGroup(FiniteGroup, C4Array):
        def __init__(self):
            C4Array.__init__(self, np.array([[0], [1]]), "int")
            FiniteGroup.__init__(self, C4Array)

    with pytest.raises(ValueError, match="not closed"):
        NotAGroup()


@pytest.mark.parametrize("call, name", [
    (lambda: p4_array.rotation(0.9), "r"),
    (lambda: p4_array.rotation(1, center=(0.5, 0.5)), "center"),
    (lambda: p4_array.translation((0.5, 0.5)), "t"),
    (lambda: p4_array.u_range(0, 3, 0.5), "step"),
    (lambda: p4_array.v_range(0.5, 3), "start"),
    (lambda: p4_array.r_range(0, 3.0), "stop"),
    (lambda: p4m_array.rotation([1.5, 2]), "r"),
    (lambda: p4m_array.translation([[0, 0.25]]), "t"),
    (lambda: p4m_array.mirror_u(center=(0.5, 0)), "center"),
    (lambda: p4m_array.m_range(0, 1.5), "stop"),
    (lambda: p4m_array.u_range(0, 3, 0.5), "step"),
    (lambda: Z2_array.u_range(0, 3, 0.5), "step"),
    (lambda: Z2_array.v_range(-1.5, 2), "start"),
    (lambda: C4_array.rotation(0.9), "r"),
    (lambda: D4_array.rotation(np.array([1.0])), "r"),
    (lambda: p4_array.rand(0, 2.5, 0, 2), "high"),
    (lambda: p4_array.rotation(True), "r"),
])
def test_helpers_refuse_floats_instead_of_truncating(call, name):
    with pytest.raises(TypeError, match=rf"\b{name} must "):
        call()


def test_zero_step_is_refused_and_integer_inputs_still_work():
    with pytest.raises(ValueError, match="step must not be 0"):
        p4_array.u_range(0, 3, 0)
    assert p4_array.rotation(np.int32(1)) == p4_array.r
    assert np.all(p4_array.translation(np.array([[1, 2]], np.int16)).data == [[0, 1, 2]])
    assert p4_array.u_range(np.int64(0), 3).shape == (3,)

"""Group axioms, parameterisations, broadcasting and errors, for every group in every
parameterisation (the GArray / MatrixGArray machinery)."""
import numpy as np
import pytest

from groupy.garray import C4_array, D4_array, Z2_array, p4_array, p4m_array

GROUPS = {
    "Z2": (Z2_array, lambda size, rng: Z2_array.rand(-4, 5, -4, 5, size, rng)),
    "C4": (C4_array, lambda size, rng: C4_array.rand(size, rng)),
    "D4": (D4_array, lambda size, rng: D4_array.rand(size, rng)),
    "p4": (p4_array, lambda size, rng: p4_array.rand(-4, 5, -4, 5, size, rng)),
    "p4m": (p4m_array, lambda size, rng: p4m_array.rand(-4, 5, -4, 5, size, rng)),
}
CASES = [(name, p) for name, (mod, _) in GROUPS.items()
         for p in mod.identity().parameterizations]


def sample(name, p, size, seed=0):
    mod, rand = GROUPS[name]
    return rand(size, np.random.default_rng(seed)).reparameterize(p)


@pytest.mark.parametrize("name,p", CASES)
def test_closure_and_associativity(name, p):
    a, b, c = (sample(name, p, (50,), seed) for seed in (1, 2, 3))
    ab = a * b
    assert type(ab) is type(a) and ab.p == p and ab.shape == (50,)
    assert np.all((a * b) * c == a * (b * c))


@pytest.mark.parametrize("name,p", CASES)
def test_identity_and_inverse(name, p):
    mod = GROUPS[name][0]
    a = sample(name, p, (40,))
    e = mod.identity(p=p)
    assert np.all(a * e == a) and np.all(e * a == a)
    assert np.all(a * a.inv() == e) and np.all(a.inv() * a == e)
    assert np.all(a.inv().inv() == a)
    assert np.all(a ** 0 == e) and np.all(a ** -1 == a.inv())
    assert np.all(a ** 3 == a * a * a)


@pytest.mark.parametrize("name,p", CASES)
def test_reparameterize_round_trip(name, p):
    a = sample(name, "int", (3, 5))
    b = a.reparameterize(p)
    assert b.p == p and b.shape == (3, 5) and b.data.shape == (3, 5) + b.g_shape
    assert b.data.dtype == np.int64
    assert np.array_equal(b.reparameterize("int").data, a.data)
    for q in a.parameterizations:
        assert np.all(b.reparameterize(q) == a)  # == across parameterisations


@pytest.mark.parametrize("name", list(GROUPS))
def test_broadcasting(name):
    a = sample(name, "int", (3, 1), seed=4)
    b = sample(name, "int", (1, 4), seed=5)
    ab = a * b
    assert ab.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            assert ab[i, j] == a[i, 0] * b[0, j]
    assert (a == b).shape == (3, 4)


@pytest.mark.parametrize("name", list(GROUPS))
def test_inequality_and_contains(name):
    a = sample(name, "int", (20,), seed=6)
    b = sample(name, "int", (20,), seed=7)
    assert np.array_equal(a != b, ~(a == b))
    assert a[3] in a and a[2:5] in a
    assert not (a[3] in a[np.asarray(a != a[3])])


@pytest.mark.parametrize("name", list(GROUPS))
def test_shape_methods(name):
    a = sample(name, "hmat" if name != "C4" else "mat", (2, 3, 4))
    assert a.shape == (2, 3, 4) and a.ndim == 3 and a.size == 24 and len(a) == 2
    assert a.reshape(6, 4).shape == (6, 4) and a.reshape((4, 6)).shape == (4, 6)
    assert a.flatten().shape == (24,)
    assert np.all(a.flatten()[5] == a[0, 1, 1])
    assert a[1].shape == (3, 4) and a[..., 2].shape == (2, 3) and a[:, None].shape == (2, 1, 3, 4)
    assert [x.shape for x in a] == [(3, 4), (3, 4)]
    assert np.all(a[1, 2, 3] == list(a)[1][2, 3])
    scalar = a[0, 0, 0]
    with pytest.raises(TypeError, match="0-d"):
        len(scalar)
    with pytest.raises(TypeError, match="0-d"):
        iter(scalar).__next__()
    with pytest.raises(IndexError, match="too many indices"):
        a[0, 0, 0, 0]
    with pytest.raises(ValueError, match="cannot reshape"):
        a.reshape(5)


@pytest.mark.parametrize("name", list(GROUPS))
def test_power_identities(name):
    mod = GROUPS[name][0]
    e = mod.identity()
    if hasattr(mod, "r"):
        assert mod.r ** 4 == e and not (mod.r ** 2 == e) and mod.r ** -1 == mod.r ** 3
    if hasattr(mod, "m"):
        assert mod.m * mod.m == e and mod.m != e
        assert mod.m * mod.r * mod.m == mod.r.inv()
    if hasattr(mod, "u"):
        assert (mod.u ** 3).reparameterize("int").data[..., -2:].tolist() == [3, 0]
        assert mod.u * mod.v == mod.v * mod.u


def test_bad_data_errors():
    with pytest.raises(ValueError, match=r"trailing shape \(3,\)"):
        p4_array.P4Array(np.zeros((5, 2), dtype=int))
    with pytest.raises(ValueError, match=r"trailing shape \(3, 3\)"):
        p4_array.P4Array(np.zeros((5, 2, 2), dtype=int), "hmat")
    with pytest.raises(TypeError, match="integer dtype"):
        C4_array.C4Array(np.array([1.0]))
    with pytest.raises(TypeError, match="integer dtype"):
        Z2_array.Z2Array(np.array([True, False]))
    with pytest.raises(ValueError, match="unknown parameterisation"):
        D4_array.D4Array([0, 1], "quaternion")
    with pytest.raises(ValueError, match="unknown parameterisation"):
        D4_array.identity().reparameterize("quaternion")
    with pytest.raises(ValueError, match="r in 0..3"):
        C4_array.C4Array([4])
    with pytest.raises(ValueError, match="m in 0..1"):
        p4m_array.P4MArray([2, 0, 0, 0])
    with pytest.raises(ValueError, match="valid group elements"):
        C4_array.C4Array([[1, 1], [0, 1]], "mat")
    with pytest.raises(ValueError, match="valid group elements"):  # translation in a C4 hmat
        C4_array.C4Array([[1, 0, 1], [0, 1, 0], [0, 0, 1]], "hmat")
    with pytest.raises(TypeError, match="does not act on"):
        p4_array.r * C4_array.r
    with pytest.raises(TypeError):
        C4_array.r * np.ones(3)
    assert (p4_array.r == C4_array.r) is False  # different groups never compare equal


@pytest.mark.parametrize("name", ["C4", "D4", "p4", "p4m"])
def test_action_on_z2_is_the_matrix(name):
    g = sample(name, "int", (7, 1), seed=8)
    x = Z2_array.rand(-5, 6, -5, 6, (1, 9), np.random.default_rng(9))
    gx = (g * x).data
    hmat = g.reparameterize("hmat").data
    xh = np.concatenate([x.data, np.ones((1, 9, 1), dtype=np.int64)], axis=-1)
    expected = np.einsum("...ij,...j->...i", hmat, xh)[..., :2]
    assert gx.shape == (7, 9, 2) and np.array_equal(gx, expected)
    # and it is an action: (g h) x = g (h x)
    h = sample(name, "int", (7, 1), seed=10)
    assert np.all((g * h) * x == g * (h * x))


@pytest.mark.parametrize("small,big", [("C4", "p4"), ("D4", "p4m")])
def test_point_group_acts_on_plane_group_as_subgroup(small, big):
    a = sample(small, "int", (10, 1), seed=11)
    b = sample(big, "int", (1, 6), seed=12)
    # embed the point-group element as a plane-group element with zero translation
    ints = a.data
    embedded = GROUPS[big][0].identity(a.shape).reparameterize("int").data.copy()
    embedded[..., :ints.shape[-1]] = ints
    emb = type(b)(embedded)
    assert np.all(a * b == emb * b)
    assert type(a * b) is type(b)


def test_numpy_random_state_is_accepted():
    g1 = p4_array.rand(0, 3, 0, 3, size=4, rng=np.random.RandomState(0))
    g2 = p4_array.rand(0, 3, 0, 3, size=4, rng=np.random.RandomState(0))
    assert g1.shape == (4,) and np.all(g1 == g2)


# The checks of the original GrouPy test-suite, with its calling conventions (keyword bounds
# for the plane groups, FiniteGroup objects iterated after flatten(), `in` for membership).
@pytest.mark.parametrize("name", ["Z2", "p4", "p4m"])
def test_original_style_wallpaper_group_checks(name):
    mod = GROUPS[name][0]
    a, b, c = (mod.rand(minu=-1, maxu=2, minv=-1, maxv=2, size=(2, 3)) for _ in range(3))
    assert ((a * b) * c == a * (b * c)).all()
    e = mod.identity()
    assert ((e * a) == a).all() and ((a * e) == a).all()
    assert ((a * a.inv()) == e).all() and ((a.inv() * a) == e).all()
    for p1 in type(a).parameterizations:
        b1 = a.reparameterize(p1)
        assert (a == b1).all()
        for p2 in type(a).parameterizations:
            assert (a == b1.reparameterize(p2)).all()


@pytest.mark.parametrize("name,group", [("C4", C4_array.C4), ("D4", D4_array.D4)])
def test_original_style_finite_group_checks(name, group):
    mod = GROUPS[name][0]
    a, b, c = (mod.rand(size=(2, 3)) for _ in range(3))
    assert ((a * b) * c == a * (b * c)).all()
    assert ((mod.identity() * a) == a).all() and ((a * a.inv()) == mod.identity()).all()
    flat = group.flatten()
    assert flat.shape == (group.order,)
    for g in flat:
        assert g.inv() in group
        for h in flat:
            assert (g * h) in group
    assert not (p4_array.r in group)  # another group's element is never contained
    # the original point-group signature identity(p) is accepted too
    assert mod.identity("mat").p == "mat" and mod.identity("mat") == mod.identity()
    # the FiniteGroup object has the array class's methods, returning plain arrays
    assert group.identity() == mod.identity() and group.identity((2,)).shape == (2,)
    assert type(group ** 2) is type(group.inv()) is type(group.flatten()) is type(a)

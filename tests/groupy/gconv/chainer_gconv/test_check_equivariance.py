"""check_equivariance on 3-layer G-CNNs ending in orientation pooling (every intermediate map
equivariant, the pooled output invariant), on plain CNNs (not equivariant: the check can fail),
and the group action on feature maps against explicit np.rot90/np.flip."""
import numpy as np
import pytest

import chainer
import chainer.functions as F
import chainer.links as L

from groupy.gconv.chainer_gconv import (
    P4ConvP4, P4ConvZ2, P4MConvP4M, P4MConvZ2, check_equivariance, orientation_max_pooling,
    orientation_mean_pooling, transform_feature_map)

R = np.array([[0, -1], [1, 0]])
M = np.diag([-1, 1])
MATS = [np.linalg.matrix_power(M, m) @ np.linalg.matrix_power(R, r)
        for m in range(2) for r in range(4)]


def explicit_action(x, group, element):
    """np.rot90/np.flip version of the left action of element m * 4 + r on feature maps."""
    def spatial(a):
        a = np.rot90(a, element % 4, axes=(-2, -1))
        return np.flip(a, axis=-2) if element >= 4 else a
    if group == 'Z2':
        return spatial(x)
    if group == 'p4':
        return spatial(np.roll(x, element, axis=-3))
    g_inv = np.round(np.linalg.inv(MATS[element])).astype(int)
    perm = [next(i for i, a in enumerate(MATS) if (a == g_inv @ MATS[h]).all()) for h in range(8)]
    return spatial(x[..., perm, :, :])


@pytest.mark.parametrize('size', [5, 6])
@pytest.mark.parametrize('group, stabiliser, n', [
    ('Z2', 'C4', 4), ('Z2', 'D4', 8), ('p4', 'C4', 4), ('p4m', 'D4', 8)])
def test_feature_map_action_is_rot90_and_flip(group, stabiliser, n, size):
    shape = {'Z2': (2, 3), 'p4': (2, 3, 4), 'p4m': (2, 3, 8)}[group] + (size, size)
    x = np.random.RandomState(0).standard_normal(shape)
    for element in range(n):
        np.testing.assert_array_equal(transform_feature_map(x, group, element, stabiliser),
                                      explicit_action(x, group, element))


def _pads(k):
    """Symmetric pads keeping the map centre; for even k alternate to stay within one pixel."""
    return [k // 2] * 3 if k % 2 else [k // 2, k // 2 - 1, k // 2]


class GCNN(chainer.Chain):
    """Three G-convolutions with ReLUs, then orientation pooling (and optionally a global
    spatial max): ``maps`` keeps every intermediate feature map."""

    def __init__(self, lift, gconv, k, pool, global_pool=False):
        super().__init__()
        pads = _pads(k)
        with self.init_scope():
            self.l1 = lift(1, 3, ksize=k, pad=pads[0], dtype=np.float64)
            self.l2 = gconv(3, 3, ksize=k, pad=pads[1], dtype=np.float64)
            self.l3 = gconv(3, 2, ksize=k, pad=pads[2], dtype=np.float64)
        for i, link in enumerate((self.l1, self.l2, self.l3)):
            link.b.array[:] = np.random.RandomState(i).standard_normal(link.b.shape)
        self.pool, self.global_pool, self.depth = pool, global_pool, None

    def forward(self, x):
        h = x
        for i, link in enumerate((self.l1, self.l2, self.l3)):
            h = link(h) if i == 0 else link(F.relu(h))
            if self.depth == i + 1:
                return h
        h = self.pool(h)
        return F.max(h, axis=(2, 3)) if self.global_pool else h


NETS = {'p4': (P4ConvZ2, P4ConvP4, 'C4'), 'p4m': (P4MConvZ2, P4MConvP4M, 'D4')}


@pytest.mark.parametrize('size', [7, 8])
@pytest.mark.parametrize('k', [1, 2, 3, 4, 5])
@pytest.mark.parametrize('group', ['p4', 'p4m'])
def test_three_layer_gcnn(group, k, size):
    lift, gconv, stabiliser = NETS[group]
    net = GCNN(lift, gconv, k, orientation_max_pooling)
    x = np.random.RandomState(1).standard_normal((2, 1, size, size))
    for depth in (1, 2, 3):  # every intermediate map is equivariant
        net.depth = depth
        errors = check_equivariance(net, 'Z2', group, x=x)
        assert len(errors) == len(MATS[:4 if group == 'p4' else 8])
        assert max(errors.values()) < 1e-5, (depth, errors)
    net.depth = None  # the orientation-pooled output only moves its pixels ...
    assert max(check_equivariance(net, 'Z2', 'Z2', x=x, stabiliser=stabiliser).values()) < 1e-5
    net.global_pool = True  # ... and after global spatial pooling it is invariant
    errors = check_equivariance(net, 'Z2', 'invariant', x=x, stabiliser=stabiliser)
    assert max(errors.values()) < 1e-5, errors


def test_mean_pooled_gcnn_is_invariant():
    net = GCNN(P4MConvZ2, P4MConvP4M, 3, orientation_mean_pooling, global_pool=True)
    errors = check_equivariance(net, 'Z2', 'invariant', input_shape=(2, 1, 7, 7),
                                stabiliser='D4', tolerance=1e-5)
    assert errors['m=0,r=0'] == 0.0


class PlainCNN(chainer.Chain):
    def __init__(self, k):
        super().__init__()
        with self.init_scope():
            self.c1 = L.Convolution2D(1, 4, k, pad=k // 2)
            self.c2 = L.Convolution2D(4, 2, k, pad=k // 2)

    def forward(self, x):
        return self.c2(F.relu(self.c1(x)))


@pytest.mark.parametrize('k', [2, 3])
@pytest.mark.parametrize('stabiliser', ['C4', 'D4'])
def test_plain_cnn_is_not_equivariant(stabiliser, k):
    net = PlainCNN(k).to_device('@numpy')
    for p in net.params():
        p.array = p.array.astype(np.float64)
    errors = check_equivariance(net, 'Z2', 'Z2', input_shape=(2, 1, 7, 7), stabiliser=stabiliser)
    labels = list(errors)
    assert errors[labels[0]] == 0.0  # the identity
    assert min(errors[label] for label in labels[1:]) > 1e-2, errors
    with pytest.raises(AssertionError, match='not equivariant within 1e-05'):
        check_equivariance(net, 'Z2', 'Z2', input_shape=(2, 1, 7, 7), stabiliser=stabiliser,
                           tolerance=1e-5)


def test_verbose_prints_one_line_per_element(capsys):
    layer = P4ConvZ2(1, 2, ksize=3, pad=1, dtype=np.float64)
    check_equivariance(layer, 'Z2', 'C4', input_shape=(1, 1, 5, 5), verbose=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[1].strip().startswith('r=1')


@pytest.mark.parametrize('kwargs, match', [
    (dict(input_group='Z3', output_group='p4'), "input_group must be one of"),
    (dict(input_group='Z2', output_group='p5'), "output_group must be one of"),
    (dict(input_group='invariant', output_group='p4'), "input_group cannot be 'invariant'"),
    (dict(input_group='Z2', output_group='p4', stabiliser='D4'), "no mirror symmetry"),
    (dict(input_group='Z2', output_group='p4m', stabiliser='C4'), "use stabiliser='D4'"),
    (dict(input_group='Z2', output_group='p4', stabiliser='C8'), "'C4' or 'D4'"),
])
def test_bad_arguments(kwargs, match):
    layer = P4ConvZ2(1, 2, ksize=3, pad=1, dtype=np.float64)
    with pytest.raises(ValueError, match=match):
        check_equivariance(layer, input_shape=(1, 1, 5, 5), **kwargs)


def test_needs_an_input_and_square_maps():
    layer = P4ConvZ2(1, 2, ksize=3, pad=1, dtype=np.float64)
    with pytest.raises(ValueError, match='give an input batch x or its input_shape'):
        check_equivariance(layer, 'Z2', 'p4')
    with pytest.raises(ValueError, match=r'square \(\.\.\., H, H\)'):
        check_equivariance(layer, 'Z2', 'p4', input_shape=(1, 1, 5, 6))


def _label_element(label):
    """(m, r) from a check_equivariance label 'r=R' or 'm=M,r=R'."""
    import re
    match = re.fullmatch(r'(?:m=([01]),)?r=([0-3])', label)
    assert match, label
    return int(match.group(1) or 0), int(match.group(2))


def _name_element(name):
    """(m, r) from an element name 'e', 'rK', 'm' or 'm rK' (the element m^m r^r)."""
    m = 1 if name.startswith('m') else 0
    rest = name[1:].strip() if m else name
    r = 0 if rest in ('', 'e') else int(rest[1:])
    return m, r


def _by_hand(x, m, r):
    """m^m r^r on planar maps: np.rot90 by r, then, if m, a flip of the rows."""
    y = np.rot90(x, r, axes=(-2, -1))
    return np.flip(y, axis=-2) if m else y


@pytest.mark.parametrize('stabiliser,n', [('C4', 4), ('D4', 8)])
def test_each_label_names_the_element_whose_error_it_reports(stabiliser, n):
    """The labels are in the elements' order (D4: m * 4 + r): the error reported under
    'm=M,r=R' is the one of rot90 by R then M flips, measured here by hand."""
    size = 6
    weight = np.random.RandomState(5).uniform(0.5, 2.0, (size, size))  # no symmetry at all

    def net(x):
        return x * weight

    x = np.random.RandomState(6).standard_normal((2, 1, size, size))
    errors = check_equivariance(net, 'Z2', 'Z2', x=x, stabiliser=stabiliser)
    assert len(errors) == n
    seen = set()
    for label, error in errors.items():
        m, r = _label_element(label)
        assert m == 0 or stabiliser == 'D4'
        seen.add((m, r))
        g_y = _by_hand(net(x), m, r)
        expected = np.abs(net(_by_hand(x, m, r)) - g_y).max() / np.abs(g_y).max()
        assert error == pytest.approx(expected, rel=1e-9, abs=1e-15), (label, error, expected)
    assert len(seen) == n
    assert list(errors)[0] in ('r=0', 'm=0,r=0')  # the identity first, with error 0
    assert list(errors.values())[0] == 0.0


def test_equivariant_elements_name_the_centraliser_of_a_diagonal_mirror():
    """x + x transposed commutes exactly with the D4 elements that commute with the diagonal
    mirror (e, r2 and the two diagonal mirrors): the names reported are those elements,
    found here by applying each named element by hand."""
    from groupy.gconv.chainer_gconv import equivariant_elements

    def net(x):
        return x + np.swapaxes(x, -1, -2)

    x = np.random.RandomState(7).standard_normal((2, 1, 7, 7))
    kept = equivariant_elements(net, 'Z2', 'Z2', x=x, stabiliser='D4')
    assert len(kept.names) == 4 and kept.names[0] == 'e'
    probe = np.random.RandomState(8).standard_normal((5, 5))
    for index, name in zip(kept.indices, kept.names):
        m, r = _name_element(name)
        assert index == 4 * m + r
        np.testing.assert_array_equal(_by_hand(probe.T, m, r), _by_hand(probe, m, r).T)
    commuting = [(m, r) for m in range(2) for r in range(4)
                 if np.array_equal(_by_hand(probe.T, m, r), _by_hand(probe, m, r).T)]
    assert sorted(_name_element(name) for name in kept.names) == commuting

"""P4MConvZ2 and P4MConvP4M equal a plain convolution_2d with filter stacks built explicitly by
np.rot90/np.flip (planes permuted by the D4 product computed with 2x2 matrices), and are
equivariant under rotations and flips for odd and even ksize."""
import numpy as np
import pytest

import chainer.functions as F

from groupy.gconv.chainer_gconv import P4MConvP4M, P4MConvZ2, check_equivariance

KSIZES = [1, 2, 3, 4, 5]
R = np.array([[0, -1], [1, 0]])
M = np.diag([-1, 1])
# D4 element index m * 4 + r <-> matrix M^m R^r
MATS = [np.linalg.matrix_power(M, m) @ np.linalg.matrix_power(R, r)
        for m in range(2) for r in range(4)]


def d4_index(mat):
    return next(i for i, a in enumerate(MATS) if (a == mat).all())


def spatial(a, g):
    """Left action of g = m * 4 + r on the k x k grid: rotate by r, then flip rows if m."""
    a = np.rot90(a, g % 4, axes=(-2, -1))
    return np.flip(a, axis=-2) if g >= 4 else a


def p4m_filter_stack(w):
    """w (out, in, nis, k, k), nis in {1, 8} -> conv weight (out * 8, in * nis, k, k):
    (g w)(h, x) = w(g^-1 h, g^-1 x)."""
    out, n_in, nis, k, _ = w.shape
    stack = np.empty((out, 8, n_in, nis, k, k), dtype=w.dtype)
    for g in range(8):
        g_inv = np.round(np.linalg.inv(MATS[g])).astype(int)
        for h in range(nis):
            source = w[:, :, d4_index(g_inv @ MATS[h])] if nis == 8 else w[:, :, 0]
            stack[:, g, :, h] = spatial(source, g)
    return stack.reshape(out * 8, n_in * nis, k, k)


def reference(layer, x):
    n = x.shape[0]
    x = x.reshape(n, -1, x.shape[-2], x.shape[-1])
    y = F.convolution_2d(x, p4m_filter_stack(layer.W.array), np.repeat(layer.b.array, 8),
                         stride=layer.stride, pad=layer.pad).array
    return y.reshape(n, layer.out_channels, 8, y.shape[-2], y.shape[-1])


def _layer(cls, k, pad, stride=1, in_channels=2, out_channels=2, seed=0):
    layer = cls(in_channels, out_channels, ksize=k, pad=pad, stride=stride, dtype=np.float64)
    layer.b.array[:] = np.random.RandomState(seed).standard_normal(out_channels)
    return layer


@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('k', KSIZES)
@pytest.mark.parametrize('cls', [P4MConvZ2, P4MConvP4M])
def test_equals_convolution_with_rotated_and_flipped_filters(cls, k, stride):
    layer = _layer(cls, k, pad=k // 2, stride=stride)
    nis = layer.input_stabilizer_size
    x = np.random.RandomState(1).standard_normal((2, 2, nis, 6, 7))
    y = layer(x).array
    assert y.shape == reference(layer, x).shape
    np.testing.assert_allclose(y, reference(layer, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('k', KSIZES)
def test_flipping_the_image_flips_and_permutes_the_output(k):
    """Explicit np.flip check, independent of groupy.gfunc: the row mirror m = (1, 0) maps
    output plane (n, s) to plane (n + 1, -s)."""
    layer = _layer(P4MConvZ2, k, pad=k // 2)
    x = np.random.RandomState(2).standard_normal((2, 2, 8, 8))
    y = layer(x).array
    y_flip = layer(np.flip(x, axis=-2).copy()).array
    perm = [d4_index(MATS[4] @ MATS[h]) for h in range(8)]  # plane h of g y is y[g^-1 h]
    expected = np.flip(y, axis=-2)[:, :, perm]
    np.testing.assert_allclose(y_flip, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('size', [7, 8])
@pytest.mark.parametrize('k', KSIZES)
@pytest.mark.parametrize('cls, groups', [(P4MConvZ2, ('Z2', 'p4m')),
                                         (P4MConvP4M, ('p4m', 'p4m'))])
def test_equivariance(cls, groups, k, size):
    layer = _layer(cls, k, pad=k // 2)
    nis = layer.input_stabilizer_size
    errors = check_equivariance(layer, *groups, input_shape=(1, 2, nis, size, size))
    assert len(errors) == 8
    assert max(errors.values()) < 1e-5, errors

"""P4ConvZ2 and P4ConvP4 equal a plain convolution_2d with filter stacks rotated explicitly by
np.rot90 (and the orientation axis rolled), and are rotation-equivariant for odd and even ksize."""
import numpy as np
import pytest

import chainer.functions as F

from groupy.gconv.chainer_gconv import P4ConvP4, P4ConvZ2, check_equivariance

KSIZES = [1, 2, 3, 4, 5]


def p4_filter_stack(w):
    """w (out, in, nis, k, k), nis in {1, 4} -> conv weight (out * 4, in * nis, k, k):
    output plane r uses rot90(w, r) with, for p4 inputs, input plane s taken from (s - r) % 4."""
    out, n_in, nis, k, _ = w.shape
    stack = np.empty((out, 4, n_in, nis, k, k), dtype=w.dtype)
    for r in range(4):
        for s in range(nis):
            source = w[:, :, (s - r) % 4] if nis == 4 else w[:, :, 0]
            stack[:, r, :, s] = np.rot90(source, r, axes=(-2, -1))
    return stack.reshape(out * 4, n_in * nis, k, k)


def reference(layer, x):
    n = x.shape[0]
    x = x.reshape(n, -1, x.shape[-2], x.shape[-1])
    y = F.convolution_2d(x, p4_filter_stack(layer.W.array), np.repeat(layer.b.array, 4),
                         stride=layer.stride, pad=layer.pad).array
    return y.reshape(n, layer.out_channels, 4, y.shape[-2], y.shape[-1])


def _layer(cls, k, pad, stride=1, in_channels=2, out_channels=3, seed=0):
    layer = cls(in_channels, out_channels, ksize=k, pad=pad, stride=stride, dtype=np.float64)
    layer.b.array[:] = np.random.RandomState(seed).standard_normal(out_channels)
    return layer


@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('k', KSIZES)
@pytest.mark.parametrize('cls', [P4ConvZ2, P4ConvP4])
def test_equals_convolution_with_rotated_filters(cls, k, stride):
    layer = _layer(cls, k, pad=k // 2, stride=stride)
    nis = layer.input_stabilizer_size
    x = np.random.RandomState(1).standard_normal((2, 2, nis, 7, 6))
    y = layer(x).array
    assert y.shape == reference(layer, x).shape
    np.testing.assert_allclose(y, reference(layer, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('k', KSIZES)
def test_rotating_the_image_rotates_and_rolls_the_output(k):
    """Explicit np.rot90 check, independent of groupy.gfunc: y(rot x) = roll(rot y, 1)."""
    layer = _layer(P4ConvZ2, k, pad=k // 2)
    x = np.random.RandomState(2).standard_normal((2, 2, 8, 8))
    y = layer(x).array
    y_rot = layer(np.rot90(x, 1, axes=(-2, -1)).copy()).array
    expected = np.roll(np.rot90(y, 1, axes=(-2, -1)), 1, axis=2)
    np.testing.assert_allclose(y_rot, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('size', [7, 8])
@pytest.mark.parametrize('k', KSIZES)
@pytest.mark.parametrize('cls, groups', [(P4ConvZ2, ('Z2', 'p4')), (P4ConvP4, ('p4', 'p4'))])
def test_equivariance(cls, groups, k, size):
    layer = _layer(cls, k, pad=k // 2)
    nis = layer.input_stabilizer_size
    errors = check_equivariance(layer, *groups, input_shape=(2, 2, nis, size, size))
    assert list(errors) == ['r=0', 'r=1', 'r=2', 'r=3']
    assert max(errors.values()) < 1e-5, errors

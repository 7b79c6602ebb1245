"""ResBlock2D: shapes, shortcuts, gradients (float64) and equivariance of G-blocks."""
import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np
import pytest
from chainer import gradient_check
from groupy.gconv.chainer_gconv import check_equivariance

from gconv_experiments.residual_block_2d import ResBlock2D


def _x(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize('cin, cout, stride, size, expect_proj, out_size', [
    (4, 4, 1, 8, False, 8),
    (4, 6, 1, 8, True, 8),
    (4, 4, 2, 8, True, 4),
    (4, 6, 2, 7, True, 4),
])
def test_planar_shapes_and_shortcut_kind(cin, cout, stride, size, expect_proj, out_size):
    block = ResBlock2D(cin, cout, stride=stride)
    assert (block.shortcut == 'projection') == expect_proj
    assert hasattr(block, 'proj') == expect_proj
    y = block(_x((2, cin, size, size)))
    assert y.shape == (2, cout, out_size, out_size) and y.dtype == np.float32


def test_identity_shortcut_passes_input_when_residual_is_zero():
    block = ResBlock2D(3, 3)
    block.conv2.W.array[...] = 0
    x = _x((2, 3, 5, 5))
    np.testing.assert_array_equal(block(x).array, x)


def test_projection_shortcut_is_1x1_conv_of_preactivation():
    block = ResBlock2D(3, 5, stride=2)
    block.conv2.W.array[...] = 0
    x = _x((4, 3, 6, 6), seed=1)
    with chainer.using_config('train', True):
        pre = F.relu(F.batch_normalization(x, np.ones(3, np.float32), np.zeros(3, np.float32),
                                           eps=block.bn1.eps))
        expected = F.convolution_2d(pre, block.proj.W.array, stride=2).array
        np.testing.assert_allclose(block(x).array, expected, rtol=1e-5, atol=1e-5)


def test_gradients_float64():
    with chainer.using_config('dtype', np.float64):
        block = ResBlock2D(2, 3, stride=2)
    x = _x((3, 2, 5, 5), dtype=np.float64)
    gy = _x((3, 3, 3, 3), seed=5, dtype=np.float64)
    params = (block.conv1.conv.W, block.conv2.W, block.proj.W, block.bn1.gamma, block.bn1.beta)
    gradient_check.check_backward(block, x, gy, params=params, eps=1e-3, atol=1e-5, rtol=1e-4,
                                  dtype=np.float64)


def test_bad_arguments():
    with pytest.raises(ValueError, match='ksize must be odd'):
        ResBlock2D(2, 2, ksize=2)
    with pytest.raises(ValueError, match='identity shortcut needs the shape kept'):
        ResBlock2D(2, 4, shortcut='identity')
    with pytest.raises(ValueError, match='in_channels must be a positive int'):
        ResBlock2D(0, 4)
    with pytest.raises(ValueError, match="shortcut must be None, 'identity' or 'projection'"):
        ResBlock2D(2, 2, shortcut='conv')


@pytest.mark.parametrize('conv_name, in_conv_name, group_in, group_out, cin, cout, stride', [
    ('P4ConvP4', None, 'p4', 'p4', 2, 2, 1),
    ('P4ConvP4', None, 'p4', 'p4', 2, 3, 2),
    ('P4MConvP4M', None, 'p4m', 'p4m', 2, 2, 1),
    ('P4MConvP4M', None, 'p4m', 'p4m', 2, 3, 2),
    ('P4MConvP4M', 'P4MConvZ2', 'Z2', 'p4m', 3, 2, 1),
])
def test_g_block_is_equivariant_float64(conv_name, in_conv_name, group_in, group_out,
                                        cin, cout, stride):
    """Rotating/flipping the input (spatially, and permuting its stabiliser axis) rotates/flips
    the output the same way. Odd sizes keep the stride-2 grid symmetric about the centre."""
    from groupy.gconv import chainer_gconv
    conv = getattr(chainer_gconv, conv_name)
    in_conv = in_conv_name and getattr(chainer_gconv, in_conv_name)
    with chainer.using_config('dtype', np.float64):
        block = ResBlock2D(cin, cout, conv=conv, in_conv=in_conv, stride=stride,
                           dtype=np.float64)
    stab = {'Z2': (), 'p4': (4,), 'p4m': (8,)}[group_in]
    x = _x((3, cin) + stab + (7, 7), dtype=np.float64)
    with chainer.using_config('train', True):  # non-trivial BN running statistics
        y = block(x)
    nos = 8 if group_out == 'p4m' else 4
    assert y.shape == (3, cout, nos, 4 if stride == 2 else 7, 4 if stride == 2 else 7)
    errors = check_equivariance(block, group_in, group_out, x=x)
    assert max(errors.values()) < 1e-5, errors


def test_g_block_gradients_float64():
    from groupy.gconv.chainer_gconv import P4MConvP4M
    with chainer.using_config('dtype', np.float64):
        block = ResBlock2D(2, 2, conv=P4MConvP4M, stride=2, shortcut='projection',
                           dtype=np.float64)
    x = _x((2, 2, 8, 3, 3), dtype=np.float64)
    gy = _x((2, 2, 8, 2, 2), seed=3, dtype=np.float64)
    gradient_check.check_backward(block, x, gy, params=(block.conv1.conv.W, block.proj.W),
                                  eps=1e-3, atol=1e-5, rtol=1e-4, dtype=np.float64)

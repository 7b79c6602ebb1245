"""ResBlock2D as released: shapes, shortcut kind, a bias on every convolution, the linear
shortcut applied to the block input, gradients (float64) and equivariance of G-blocks."""
import chainer
import chainer.functions as F
import numpy as np
import pytest
from chainer import gradient_check
from groupy.gconv.chainer_gconv import check_equivariance

from gconv_experiments.layers.residual_block_2d import ResBlock2D


def _x(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize('cin, cout, stride, size, expect_linear, out_size', [
    (4, 4, 1, 8, False, 8),
    (4, 6, 1, 8, True, 8),
    (4, 4, 2, 8, True, 4),
    (4, 6, 2, 7, True, 4),
])
def test_planar_shapes_and_shortcut_kind(cin, cout, stride, size, expect_linear, out_size):
    block = ResBlock2D(cin, cout, stride=stride)
    assert (block.shortcut == 'linear') == expect_linear
    assert hasattr(block, 'fiber_map') == expect_linear
    y = block(_x((2, cin, size, size)))
    assert y.shape == (2, cout, out_size, out_size) and y.dtype == np.float32


def test_every_convolution_has_a_zero_initial_bias():
    block = ResBlock2D(3, 5, stride=2)
    for conv in (block.conv1.conv, block.conv2, block.fiber_map):
        assert conv.b is not None and conv.b.shape == (5,)
        np.testing.assert_array_equal(conv.b.array, 0)


def test_identity_shortcut_passes_input_when_residual_is_zero():
    block = ResBlock2D(3, 3)
    block.conv2.W.array[...] = 0
    x = _x((2, 3, 5, 5))
    np.testing.assert_array_equal(block(x).array, x)


def test_linear_shortcut_is_a_1x1_conv_of_the_block_input_not_its_preactivation():
    block = ResBlock2D(3, 5, stride=2)
    block.conv2.W.array[...] = 0
    block.conv2.b.array[...] = 0.25
    block.fiber_map.b.array[...] = np.arange(5)
    x = _x((4, 3, 6, 6), seed=1)
    # direct computation: 1x1 conv with stride 2 = channel mixing of x[:, :, ::2, ::2]
    w = block.fiber_map.W.array[:, :, 0, 0]
    expected = np.einsum('oc,nchw->nohw', w, x[:, :, ::2, ::2]) + np.arange(5)[:, None, None] + 0.25
    with chainer.using_config('train', True):
        np.testing.assert_allclose(block(x).array, expected, rtol=1e-5, atol=1e-5)
    # the pre-activation relu(bn1(x)) would give a different result
    pre = F.relu(F.batch_normalization(x, np.ones(3, np.float32), np.zeros(3, np.float32))).array
    assert np.abs(np.einsum('oc,nchw->nohw', w, pre[:, :, ::2, ::2]) + np.arange(5)[:, None, None]
                  + 0.25 - expected).max() > 0.1


def test_gradients_float64():
    with chainer.using_config('dtype', np.float64):
        block = ResBlock2D(2, 3, stride=2)
    x = _x((3, 2, 5, 5), dtype=np.float64)
    gy = _x((3, 3, 3, 3), seed=5, dtype=np.float64)
    params = (block.conv1.conv.W, block.conv1.conv.b, block.conv2.W, block.fiber_map.W,
              block.fiber_map.b, block.bn1.gamma, block.bn1.beta)
    gradient_check.check_backward(block, x, gy, params=params, eps=1e-3, atol=1e-5, rtol=1e-4,
                                  dtype=np.float64)


def test_bad_arguments():
    with pytest.raises(ValueError, match='ksize must be odd'):
        ResBlock2D(2, 2, ksize=2)
    with pytest.raises(ValueError, match='identity shortcut needs the shape kept'):
        ResBlock2D(2, 4, shortcut='identity')
    with pytest.raises(ValueError, match='in_channels must be a positive int'):
        ResBlock2D(0, 4)
    with pytest.raises(ValueError, match="shortcut must be None, 'identity' or 'linear'"):
        ResBlock2D(2, 2, shortcut='conv')


@pytest.mark.parametrize('conv_name, group, cin, cout, stride', [
    ('P4ConvP4', 'p4', 2, 2, 1),
    ('P4ConvP4', 'p4', 2, 3, 2),
    ('P4MConvP4M', 'p4m', 2, 2, 1),
    ('P4MConvP4M', 'p4m', 2, 3, 2),
])
def test_g_block_is_equivariant_float64(conv_name, group, cin, cout, stride):
    """Rotating/flipping the input (spatially, and permuting its stabiliser axis) rotates/flips
    the output the same way. Odd sizes keep the stride-2 grid symmetric about the centre."""
    from groupy.gconv import chainer_gconv
    conv = getattr(chainer_gconv, conv_name)
    with chainer.using_config('dtype', np.float64):
        block = ResBlock2D(cin, cout, conv=conv, stride=stride, dtype=np.float64)
    nos = 8 if group == 'p4m' else 4
    x = _x((3, cin, nos, 7, 7), dtype=np.float64)
    with chainer.using_config('train', True):  # non-trivial BN running statistics
        y = block(x)
    assert y.shape == (3, cout, nos, 4 if stride == 2 else 7, 4 if stride == 2 else 7)
    errors = check_equivariance(block, group, group, x=x)
    assert max(errors.values()) < 1e-5, errors


def test_g_block_gradients_float64():
    from groupy.gconv.chainer_gconv import P4MConvP4M
    with chainer.using_config('dtype', np.float64):
        block = ResBlock2D(2, 2, conv=P4MConvP4M, stride=2, shortcut='linear', dtype=np.float64)
    x = _x((2, 2, 8, 3, 3), dtype=np.float64)
    gy = _x((2, 2, 8, 2, 2), seed=3, dtype=np.float64)
    gradient_check.check_backward(block, x, gy, params=(block.conv1.conv.W, block.fiber_map.W),
                                  eps=1e-3, atol=1e-5, rtol=1e-4, dtype=np.float64)

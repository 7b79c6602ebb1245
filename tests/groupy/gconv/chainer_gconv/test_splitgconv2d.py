"""SplitGConv2D behaviour shared by the four G-conv links: parameters and their initialisation,
flat channels, filter masks, lazy in_channels, gradients (check_backward/check_double_backward),
dtypes, devices, serialisation and the errors for bad inputs."""
import re

import numpy as np
import pytest

import chainer
import chainer.functions as F
from chainer import gradient_check, initializers, optimizers

from groupy.gconv.chainer_gconv import (
    P4ConvP4, P4ConvZ2, P4MConvP4M, P4MConvZ2, SplitGConv2D, gpu_available)

CLASSES = [P4ConvZ2, P4ConvP4, P4MConvZ2, P4MConvP4M]
STAB = {P4ConvZ2: (1, 4), P4ConvP4: (4, 4), P4MConvZ2: (1, 8), P4MConvP4M: (8, 8)}


def _input(cls, n=2, c=2, size=5, dtype=np.float64, seed=0):
    nis = STAB[cls][0]
    return np.random.RandomState(seed).uniform(-1, 1, (n, c, nis, size, size)).astype(dtype)


def test_base_class_is_abstract():
    with pytest.raises(TypeError, match='abstract'):
        SplitGConv2D(2, 3)


@pytest.mark.parametrize('cls', CLASSES)
def test_parameters_and_output_shape(cls):
    nis, nos = STAB[cls]
    layer = cls(3, 5, ksize=3, stride=2, pad=1)
    assert layer.W.shape == (5, 3, nis, 3, 3) and layer.W.dtype == np.float32
    assert layer.b.shape == (5,) and (layer.b.array == 0).all()
    assert (layer.input_stabilizer_size, layer.output_stabilizer_size) == (nis, nos)
    x = _input(cls, c=3, size=9, dtype=np.float32)
    assert layer(x).shape == (2, 5, nos, 5, 5)


@pytest.mark.parametrize('cls', CLASSES)
def test_str_shows_the_configuration(cls):
    nis, nos = STAB[cls]
    layer = cls(None, 4, ksize=2, stride=(1, 2), nobias=True, flat_channels=True)
    assert str(layer) == (
        '{}(in_channels=None, out_channels=4, ksize=2, stride=(1, 2), pad=(0, 0), '
        'input_stabilizer_size={}, output_stabilizer_size={}, nobias=True, '
        'flat_channels=True)'.format(cls.__name__, nis, nos))
    chain = chainer.Sequential(cls(3, 5, pad=1))
    assert 'in_channels=3, out_channels=5, ksize=3' in str(chain)


@pytest.mark.parametrize('wscale', [1.0, 0.5])
@pytest.mark.parametrize('cls', [P4ConvZ2, P4MConvP4M])
def test_default_initialisation_std(cls, wscale):
    nis = STAB[cls][0]
    np.random.seed(0)  # the default initialiser draws from numpy's global RNG
    layer = cls(40, 60, ksize=3, wscale=wscale)
    expected = wscale * np.sqrt(1.0 / (nis * 9 * 40))
    assert abs(layer.W.array.mean()) < 0.05 * expected
    assert abs(layer.W.array.std() / expected - 1) < 0.05


def test_explicit_initialisers_and_nobias():
    w = np.arange(2 * 3 * 4 * 9, dtype=np.float64).reshape(2, 3, 4, 3, 3)
    layer = P4ConvP4(3, 2, initialW=w, initial_bias=np.array([1.0, -2.0]), dtype=np.float64)
    np.testing.assert_array_equal(layer.W.array, w)
    np.testing.assert_array_equal(layer.b.array, [1.0, -2.0])
    layer = P4ConvP4(3, 2, initialW=initializers.One(), nobias=True)
    assert layer.b is None and (layer.W.array == 1).all()
    y = layer(np.ones((1, 3, 4, 3, 3), np.float32))
    np.testing.assert_allclose(y.array, np.full((1, 2, 4, 1, 1), 3 * 4 * 9), rtol=1e-6)
    with pytest.raises(ValueError, match=r'initialW must have shape \(2, 3, 4, 3, 3\)'):
        P4ConvP4(3, 2, initialW=np.zeros((2, 3, 3, 3)))
    with pytest.raises(ValueError, match=r'initial_bias must have shape \(2,\)'):
        P4ConvP4(3, 2, initial_bias=np.zeros(3))
    with pytest.raises(ValueError, match='dtype'):
        P4ConvP4(3, 2, initialW=initializers.Normal(dtype=np.float32), dtype=np.float64)


@pytest.mark.parametrize('bad, match', [
    (dict(in_channels=0), 'in_channels must be a positive int'),
    (dict(out_channels=2.5), 'out_channels must be a positive int'),
    (dict(ksize=0), 'ksize must be a positive int'),
    (dict(stride=0), 'stride must be >= 1'),
    (dict(pad=(1, 2, 3)), 'pad must be an int or a pair'),
    (dict(dtype=np.int32), 'dtype must be float16, float32 or float64'),
    (dict(filter_mask=np.ones((2, 2))), 'filter_mask of shape'),
])
def test_bad_constructor_arguments(bad, match):
    kwargs = dict(in_channels=2, out_channels=3, ksize=3)
    kwargs.update(bad)
    with pytest.raises(ValueError, match=match):
        P4ConvP4(**kwargs)


@pytest.mark.parametrize('cls', CLASSES)
def test_lazy_in_channels_and_optimizer_set_up_before(cls):
    nis, nos = STAB[cls]
    layer = cls(None, 3, ksize=3, pad=1, dtype=np.float64)
    optimizer = optimizers.SGD(lr=0.1)
    optimizer.setup(layer)
    x = _input(cls, c=4)
    y = layer(x)
    assert layer.in_channels == 4 and layer.W.shape == (3, 4, nis, 3, 3)
    w0 = layer.W.array.copy()
    layer.cleargrads()
    F.sum(y * y).backward()
    optimizer.update()
    assert not np.allclose(layer.W.array, w0)  # the lazily created W is the optimised one


@pytest.mark.parametrize('cls', CLASSES)
def test_flat_channels_and_plain_image_input(cls):
    nis, nos = STAB[cls]
    layer = cls(2, 3, ksize=3, pad=1, dtype=np.float64)
    flat = cls(2, 3, ksize=3, pad=1, dtype=np.float64, flat_channels=True,
               initialW=layer.W.array)
    x = _input(cls)
    y = layer(x).array
    y_flat = flat(x.reshape(2, 2 * nis, 5, 5)).array
    assert y_flat.shape == (2, 3 * nos, 5, 5)
    np.testing.assert_array_equal(y_flat.reshape(y.shape), y)
    if nis == 1:  # a plain (N, C, H, W) image batch is accepted by the lifting layers
        np.testing.assert_array_equal(layer(x[:, :, 0]).array, y)


def test_filter_mask_multiplies_the_filters():
    mask = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.float64)  # invariant under D4
    masked = P4MConvP4M(2, 2, ksize=3, pad=1, filter_mask=mask, dtype=np.float64)
    plain = P4MConvP4M(2, 2, ksize=3, pad=1, initialW=masked.W.array * mask, dtype=np.float64)
    x = _input(P4MConvP4M)
    np.testing.assert_allclose(masked(x).array, plain(x).array, rtol=1e-13, atol=1e-13)
    assert masked.filter_mask.shape == masked.W.shape
    masked.cleargrads()
    F.sum(masked(x) ** 2).backward()
    assert (masked.W.grad[..., 0, 0] == 0).all()  # no gradient reaches masked-out entries


@pytest.mark.parametrize('cls', CLASSES)
def test_channel_filter_mask_of_the_original_shape(cls):
    """A mask of shape (out, in, nis) (the original GrouPy form) masks whole filter planes."""
    nis = STAB[cls][0]
    mask = np.random.RandomState(3).randint(0, 2, (3, 2, nis)).astype(np.float64)
    masked = cls(2, 3, ksize=3, pad=1, filter_mask=mask, dtype=np.float64)
    assert masked.filter_mask.shape == masked.W.shape
    plain = cls(2, 3, ksize=3, pad=1, initialW=masked.W.array * mask[..., None, None],
                dtype=np.float64)
    x = _input(cls)
    np.testing.assert_allclose(masked(x).array, plain(x).array, rtol=1e-13, atol=1e-13)
    # output channel 0 at the identity transform ignores the input planes its mask row switches
    # off (other output transforms see the filter planes permuted)
    x2 = x.copy()
    assert (mask[0] == 0).any()
    x2[:, mask[0] == 0] += 1.0
    np.testing.assert_allclose(masked(x2).array[:, 0, 0], masked(x).array[:, 0, 0], atol=1e-12)
    assert not np.allclose(plain(x2).array[:, 1:], plain(x).array[:, 1:])


CASES = [(cls, k) for cls in CLASSES for k in (2, 3)]


@pytest.mark.parametrize('cls, k', CASES)
def test_check_backward(cls, k):
    nis, nos = STAB[cls]
    layer = cls(2, 2, ksize=k, pad=k // 2, dtype=np.float64)
    layer.b.array[:] = [0.3, -0.2]
    x = _input(cls, n=1, size=4, seed=1)
    gy = np.random.RandomState(2).uniform(-1, 1, layer(x).shape)
    gradient_check.check_backward(layer, x, gy, params=(layer.W, layer.b), dtype=np.float64,
                                  atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize('cls, k', CASES)
def test_check_double_backward(cls, k):
    layer = cls(2, 2, ksize=k, pad=k // 2, dtype=np.float64)
    x = _input(cls, n=1, size=4, seed=3)
    rng = np.random.RandomState(4)
    gy = rng.uniform(-1, 1, layer(x).shape)
    ggx = rng.uniform(-1, 1, x.shape)
    ggw = rng.uniform(-1, 1, layer.W.shape)
    ggb = rng.uniform(-1, 1, layer.b.shape)

    def f(x):
        y = layer(x)
        return y * y

    gradient_check.check_double_backward(f, x, gy, ggx, params=(layer.W, layer.b),
                                         params_grad_grad=(ggw, ggb), dtype=np.float64,
                                         atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('dtype, tol', [(np.float16, 1e-2), (np.float32, 1e-5)])
@pytest.mark.parametrize('cls', CLASSES)
def test_low_precision_forward_agrees_with_float64(cls, dtype, tol):
    ref = cls(2, 3, ksize=3, pad=1, dtype=np.float64)
    ref.b.array[:] = [0.1, -0.2, 0.3]
    low = cls(2, 3, ksize=3, pad=1, dtype=dtype, initialW=ref.W.array.astype(dtype),
              initial_bias=ref.b.array.astype(dtype))
    x = _input(cls)
    y = low(x.astype(dtype))
    assert y.dtype == dtype and low.W.dtype == dtype
    y_ref = ref(x.astype(dtype).astype(np.float64)).array
    np.testing.assert_allclose(y.array.astype(np.float64), y_ref, rtol=tol,
                               atol=tol * np.abs(y_ref).max())


@pytest.mark.parametrize('cls', CLASSES)
def test_bad_input_names_the_expected_shape(cls):
    nis, nos = STAB[cls]
    layer = cls(2, 3, ksize=3, dtype=np.float64)
    expected = r'\(batch, 2, {}, height, width\)'.format(nis)
    with pytest.raises(ValueError, match=expected):
        layer(np.zeros((2, 3, nis, 5, 5)))  # channel count
    with pytest.raises(ValueError, match=expected):
        layer(np.zeros((2, 2, nis + 1, 5, 5)))  # stabiliser size
    with pytest.raises(ValueError, match=expected):
        layer(np.zeros((2, 2, 5)))  # rank
    if nis > 1:
        with pytest.raises(ValueError, match=expected):
            layer(np.zeros((2, 2 * nis, 5, 5)))  # flattened input without flat_channels
    with pytest.raises(ValueError, match='dtype of W'):
        layer(np.zeros((2, 2, nis, 5, 5), np.float32))
    with pytest.raises(ValueError, match='float16, float32 or float64'):
        layer(np.zeros((2, 2, nis, 5, 5), np.int64))
    with pytest.raises(ValueError, match='smaller than the 3x3 filter'):
        layer(np.zeros((2, 2, nis, 2, 5)))
    flat = cls(2, 3, ksize=3, dtype=np.float64, flat_channels=True)
    with pytest.raises(ValueError, match=r'\(batch, 2 \* {}, height, width\)'.format(nis)):
        flat(np.zeros((2, 2, nis, 5, 5)))


def test_serialisation_round_trip(tmp_path):
    mask = np.ones((3, 3))
    layer = P4MConvP4M(2, 3, ksize=3, filter_mask=mask, dtype=np.float64)
    chainer.serializers.save_npz(str(tmp_path / 'layer.npz'), layer)
    other = P4MConvP4M(2, 3, ksize=3, filter_mask=mask, dtype=np.float64)
    chainer.serializers.load_npz(str(tmp_path / 'layer.npz'), other)
    np.testing.assert_array_equal(other.W.array, layer.W.array)


def test_to_device_cpu():
    layer = P4ConvP4(2, 3, ksize=3, pad=1, dtype=np.float64).to_device('@numpy')
    assert layer(_input(P4ConvP4)).shape == (2, 3, 4, 5, 5)


@pytest.mark.gpu
@pytest.mark.parametrize('dtype', [np.float16, np.float32, np.float64])
@pytest.mark.parametrize('cls', CLASSES)
def test_gpu_matches_cpu(cls, dtype):
    import cupy
    assert gpu_available()
    mask = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    cpu = cls(2, 3, ksize=3, pad=1, dtype=dtype, filter_mask=mask)
    cpu.b.array[:] = [0.1, -0.2, 0.3]
    gpu = cls(2, 3, ksize=3, pad=1, dtype=dtype, filter_mask=mask, initialW=cpu.W.array,
              initial_bias=cpu.b.array).to_gpu()
    assert isinstance(gpu.filter_mask, cupy.ndarray)
    x = _input(cls, dtype=dtype)
    y_cpu, y_gpu = cpu(x), gpu(cupy.asarray(x))
    tol = {np.float16: 2e-2, np.float32: 1e-5, np.float64: 1e-12}[dtype]
    np.testing.assert_allclose(cupy.asnumpy(y_gpu.array).astype(np.float64),
                               y_cpu.array.astype(np.float64), rtol=tol, atol=tol)
    F.sum(y_cpu * y_cpu).backward()
    F.sum(y_gpu * y_gpu).backward()
    np.testing.assert_allclose(cupy.asnumpy(gpu.W.grad).astype(np.float64),
                               cpu.W.grad.astype(np.float64), rtol=tol * 10,
                               atol=tol * 10 * np.abs(cpu.W.grad).max())


@pytest.mark.gpu
@pytest.mark.parametrize('cls', CLASSES)
def test_gpu_check_backward_and_lazy_init(cls):
    import cupy
    layer = cls(None, 2, ksize=2, pad=1, dtype=np.float64).to_device('@cupy:0')
    x = cupy.asarray(_input(cls, n=1, size=4))
    y = layer(x)
    assert isinstance(layer.W.array, cupy.ndarray)
    gy = cupy.random.uniform(-1, 1, y.shape)
    gradient_check.check_backward(layer, x, gy, params=(layer.W, layer.b), dtype=np.float64,
                                  atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize('k', [2, 3])
@pytest.mark.parametrize('cls', CLASSES)
def test_translation_equivariance_with_a_margin(cls, k):
    """Shifting the input by whole pixels shifts the output (content kept away from the border,
    so zero padding never sees it)."""
    nis = STAB[cls][0]
    layer = cls(2, 2, ksize=k, pad=k // 2, dtype=np.float64)
    layer.b.array[:] = [0.5, -0.5]
    x = np.zeros((1, 2, nis, 12, 12))
    x[..., 4:8, 4:8] = np.random.RandomState(5).standard_normal((1, 2, nis, 4, 4))
    y = layer(x).array
    for shift in [(1, 0), (-2, 1), (0, -3)]:
        y_shifted = layer(np.roll(x, shift, axis=(-2, -1))).array
        np.testing.assert_allclose(y_shifted, np.roll(y, shift, axis=(-2, -1)),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('group', ['p4', 'p4m'])
def test_original_style_equivariance_of_a_two_layer_net(group):
    """The check of the original GrouPy test-suite, written with groupy.gfunc directly: transform
    the image by a random stabiliser element g, run both images through the layers, and undo g
    on the output with g^-1 acting on the output's function array."""
    from groupy.garray import C4_array, D4_array
    from groupy.gfunc import P4FuncArray, P4MFuncArray, Z2FuncArray
    lift, gconv, point_group, out_array = {
        'p4': (P4ConvZ2, P4ConvP4, C4_array, P4FuncArray),
        'p4m': (P4MConvZ2, P4MConvP4M, D4_array, P4MFuncArray)}[group]
    layers = [lift(in_channels=1, out_channels=2, ksize=3, dtype=np.float64),
              gconv(in_channels=2, out_channels=3, ksize=3, dtype=np.float64)]
    im = np.random.RandomState(7).standard_normal((1, 1, 11, 11))
    for g in point_group.rand(size=(4,), rng=np.random.RandomState(8)):
        gim = (g * Z2FuncArray(im)).v
        fmap, gfmap = im, gim
        for layer in layers:
            fmap, gfmap = layer(fmap), layer(gfmap)
        undone = (g.inv() * out_array(gfmap.array)).v
        assert undone.shape == fmap.shape == (1, 3, 8 if group == 'p4m' else 4, 7, 7)
        np.testing.assert_allclose(undone, fmap.array, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('cls', CLASSES)
@pytest.mark.parametrize('ksize', [65, 1001])
def test_a_filter_size_above_the_limit_is_refused_at_once(cls, ksize):
    """P4MConvP4M(1, 1, ksize=1001) used to take over a minute and 14 GB building its table."""
    with pytest.raises(ValueError, match=r'^{}: ksize must be at most 64 \(the filter-transform table grows '
                                         r'as ksize\*\*2\), got {}$'.format(cls.__name__, ksize)):
        cls(1, 1, ksize=ksize)
    assert cls(1, 1, ksize=64).W.shape[-2:] == (64, 64)


@pytest.mark.parametrize('ksize', [0, -3, 2.5, '3', True, None, np.float64(3)])
def test_a_filter_size_that_is_not_a_positive_int_names_the_link(ksize):
    with pytest.raises(ValueError, match=r'^P4MConvP4M: ksize must be a positive integer, got {}$'.format(
            re.escape(repr(ksize)))):
        P4MConvP4M(1, 1, ksize=ksize)
    assert P4MConvP4M(1, 1, ksize=np.int64(3)).ksize == 3

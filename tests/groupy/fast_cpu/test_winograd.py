"""The Winograd F(2x2, 3x3) path of the fast CPU convolution: the same numbers as Chainer's
convolution_2d (forward and both gradients) on odd/even/non-square maps and every padding up
to 2, exact first and second derivatives (check_backward / check_double_backward in float64)
with the algorithm forced, threads and chunks giving the same numbers, the 'auto' choice (by shape and thread count) and the configuration errors."""
import numpy as np
import pytest

import chainer
import chainer.functions as F
from chainer import gradient_check, testing

from groupy.fast_cpu import conv2d as cpu_conv2d, conv2d_kernels, winograd
from groupy.fast_cpu.conv2d import convolution_2d

# (N, C, H, W, O): even and odd output sizes, 1 channel, non-square maps
GEOMETRIES = [(2, 3, 7, 7, 4), (3, 2, 8, 6, 5), (1, 1, 3, 3, 1), (2, 4, 5, 9, 3)]


def _arrays(geometry, dtype, nobias, seed=0):
    n, c, h, w, o = geometry
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, (n, c, h, w)).astype(dtype)
    W = rng.uniform(-1, 1, (o, c, 3, 3)).astype(dtype)
    b = None if nobias else rng.uniform(-1, 1, o).astype(dtype)
    return x, W, b


def _direct(x, W, pad):
    """y[n, o, u, v] = sum_{c,i,j} W[o, c, i, j] x_pad[n, c, u + i, v + j], by its definition."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0],) * 2, (pad[1],) * 2))
    ho, wo = xp.shape[2] - 2, xp.shape[3] - 2
    y = np.zeros((x.shape[0], W.shape[0], ho, wo))
    for i in range(3):
        for j in range(3):
            y += np.einsum('oc,ncuv->nouv', W[:, :, i, j], xp[:, :, i:i + ho, j:j + wo])
    return y


@pytest.fixture
def winograd_on():
    with chainer.using_config('groupy_fast_cpu_conv_algo', 'winograd'):
        yield


@pytest.mark.parametrize('geometry', GEOMETRIES)
@pytest.mark.parametrize('pad', [(0, 0), (1, 1), (2, 1)])
def test_kernels_against_the_definition(geometry, pad):
    x, W, _ = _arrays(geometry, np.float64, nobias=True)
    y = winograd.winograd_forward(x, W, None, pad)
    np.testing.assert_allclose(y, _direct(x, W, pad), rtol=1e-12, atol=1e-12)
    gy = np.random.RandomState(1).uniform(-1, 1, y.shape)
    # <conv(x, W), gy> is bilinear: its gradients are the adjoints, checked by inner products
    dx = np.random.RandomState(2).uniform(-1, 1, x.shape)
    dW = np.random.RandomState(3).uniform(-1, 1, W.shape)
    gx = winograd.winograd_transpose(gy, W, pad, x.shape[2:])
    gW = winograd.winograd_grad_w(x, gy, pad)
    np.testing.assert_allclose((gx * dx).sum(), (_direct(dx, W, pad) * gy).sum(), rtol=1e-10)
    np.testing.assert_allclose((gW * dW).sum(), (_direct(x, dW, pad) * gy).sum(), rtol=1e-10)


@testing.parameterize(*testing.product({
    'geometry': GEOMETRIES,
    'pad': [0, 1, (2, 1)],
    'dtype': [np.float32, np.float64],
    'nobias': [False, True],
}))
class TestAgainstChainer:

    def test_forward_and_gradients_match_chainer(self):
        x, W, b = _arrays(self.geometry, self.dtype, self.nobias)
        tol = dict(rtol=1e-5, atol=1e-5) if self.dtype == np.float32 else dict(rtol=1e-12,
                                                                               atol=1e-12)
        ours = [chainer.Variable(a.copy()) for a in (x, W, b) if a is not None]
        ref = [chainer.Variable(a.copy()) for a in (x, W, b) if a is not None]
        with chainer.using_config('groupy_fast_cpu_conv_algo', 'winograd'):
            y = convolution_2d(*ours, pad=self.pad)
            y_ref = F.convolution_2d(*ref, pad=self.pad)
            gy = np.random.RandomState(1).uniform(-1, 1, y.shape).astype(self.dtype)
            y.grad, y_ref.grad = gy, gy.copy()
            y.backward()
            y_ref.backward()
        assert y.creator.fast_path
        np.testing.assert_allclose(y.array, y_ref.array, **tol)
        for v, v_ref in zip(ours, ref):
            np.testing.assert_allclose(v.grad, v_ref.grad, **tol)


@testing.parameterize(*testing.product({
    'geometry': [(2, 2, 5, 6, 3), (2, 3, 6, 5, 2)],
    'pad': [0, (1, 2)],
    'nobias': [False, True],
}))
class TestGradients:

    def _args(self):
        x, W, b = _arrays(self.geometry, np.float64, self.nobias)
        return tuple(a for a in (x, W, b) if a is not None)

    def _fn(self, *inputs):
        return convolution_2d(*inputs, pad=self.pad)

    def test_check_backward(self, winograd_on):
        args = self._args()
        gy = np.random.RandomState(2).uniform(-1, 1, self._fn(*args).shape)
        gradient_check.check_backward(self._fn, args, gy, dtype=np.float64,
                                      rtol=1e-6, atol=1e-6)

    def test_check_double_backward(self, winograd_on):
        args = self._args()
        rng = np.random.RandomState(3)
        gy = rng.uniform(-1, 1, self._fn(*args).shape)
        ggs = tuple(rng.uniform(-1, 1, a.shape) for a in args)
        gradient_check.check_double_backward(self._fn, args, gy, ggs, dtype=np.float64,
                                             rtol=1e-6, atol=1e-6)


def test_threads_and_chunks_give_the_same_numbers(monkeypatch, winograd_on):
    monkeypatch.setattr(winograd, '_CHUNK_BYTES', 256)
    monkeypatch.setattr(winograd, '_MIN_PARALLEL_MACS', 0)
    x, W, b = _arrays((7, 3, 9, 8, 4), np.float64, nobias=False)
    ref = F.convolution_2d(x, W, b, pad=1)
    gy = np.random.RandomState(4).uniform(-1, 1, ref.shape)
    xr, Wr, br = (chainer.Variable(a.copy()) for a in (x, W, b))
    yr = F.convolution_2d(xr, Wr, br, pad=1)
    yr.grad = gy
    yr.backward()
    previous = cpu_conv2d.get_num_threads()
    try:
        results = []
        for n_threads in (1, 2, 3):
            cpu_conv2d.set_num_threads(n_threads)
            xv, Wv, bv = (chainer.Variable(a.copy()) for a in (x, W, b))
            y = convolution_2d(xv, Wv, bv, pad=1)
            y.grad = gy
            y.backward()
            np.testing.assert_allclose(y.array, ref.array, rtol=1e-12, atol=1e-12)
            for v, v_ref in ((xv, xr), (Wv, Wr), (bv, br)):
                np.testing.assert_allclose(v.grad, v_ref.grad, rtol=1e-12, atol=1e-12)
            results.append((y.array, xv.grad, Wv.grad))
        # the same thread count twice gives the same bits (fixed summation order)
        cpu_conv2d.set_num_threads(3)
        xv, Wv = chainer.Variable(x.copy()), chainer.Variable(W.copy())
        y = convolution_2d(xv, Wv, b, pad=1)
        y.grad = gy
        y.backward()
        for a, a_prev in zip((y.array, xv.grad, Wv.grad), results[-1]):
            np.testing.assert_array_equal(a, a_prev)
    finally:
        cpu_conv2d.set_num_threads(previous)


@pytest.mark.parametrize('threads', [1, 2])
def test_auto_takes_winograd_only_for_wide_stride1_3x3_layers_on_large_maps(threads):
    previous = cpu_conv2d.get_num_threads()
    cpu_conv2d.set_num_threads(threads)  # the same rule on any number of threads
    try:
        wide = conv2d_kernels._WINOGRAD_MIN_CHANNELS
        big = (32, 32)
        assert conv2d_kernels.use_winograd(wide, wide, 3, 3, (1, 1), big)
        assert not conv2d_kernels.use_winograd(wide - 1, wide, 3, 3, (1, 1), big)
        assert not conv2d_kernels.use_winograd(wide, wide - 1, 3, 3, (1, 1), big)
        assert not conv2d_kernels.use_winograd(wide, wide, 3, 3, (1, 1), (16, 16))
        assert conv2d_kernels.use_winograd(2 * wide, 2 * wide, 3, 3, (1, 1), (16, 16))
        assert not conv2d_kernels.use_winograd(2 * wide, 2 * wide, 3, 3, (1, 1), (16, 15))
        assert not conv2d_kernels.use_winograd(4 * wide, 4 * wide, 3, 3, (1, 1), (8, 8))
        assert not conv2d_kernels.use_winograd(wide, wide, 3, 3, (2, 2), big)
        assert not conv2d_kernels.use_winograd(wide, wide, 1, 1, (1, 1), big)
        with chainer.using_config('groupy_fast_cpu_conv_algo', 'winograd'):
            assert conv2d_kernels.use_winograd(1, 1, 3, 3, (1, 1), (1, 1))
            assert not conv2d_kernels.use_winograd(1, 1, 3, 3, (2, 1), (1, 1))
        with chainer.using_config('groupy_fast_cpu_conv_algo', 'im2col'):
            assert not conv2d_kernels.use_winograd(wide, wide, 3, 3, (1, 1), big)
    finally:
        cpu_conv2d.set_num_threads(previous)


def test_unknown_algorithm_and_bad_shapes_raise_clear_errors():
    x, W, _ = _arrays(GEOMETRIES[0], np.float32, nobias=True)
    with chainer.using_config('groupy_fast_cpu_conv_algo', 'fft'):
        with pytest.raises(ValueError, match="GROUPY_FAST_CPU_CONV_ALGO.*'fft'"):
            convolution_2d(x, W)
    with pytest.raises(ValueError, match='does not fit'):
        winograd.winograd_forward(x[:, :, :1, :1], W, None, (0, 0))
    with pytest.raises(ValueError, match='pad'):
        winograd.winograd_transpose(np.zeros((2, 4, 11, 11), np.float32), W, (3, 3), (7, 7))
    with pytest.raises(ValueError, match='gy has shape'):
        winograd.winograd_grad_w(x, np.zeros((2, 4, 4, 4), np.float32), (0, 0))

"""The direct (numba) stride-1 convolution kernels against the im2col + GEMM NumPy kernels of
groupy.fast_cpu.conv2d_kernels: forward, input and weight gradients, float32 and float64, odd
shapes (batch 1, non-square maps, channel counts 3, 7, 40, kernels other than 3x3, padding),
several threads and chunks, and clear errors for bad shapes."""
import numpy as np
import pytest

import chainer
import chainer.functions as F
from chainer import gradient_check

from groupy import fast_cpu
from groupy.fast_cpu import conv2d_kernels, numba_direct_conv as dc
from groupy.fast_cpu.conv2d import convolution_2d

# (n, c, h, w, o, kh, kw, pad): the 3-wide kernel with 4k output channels takes the blocked
# path, the others (o % 4, other widths) the tap-by-tap path
SHAPES = [(1, 3, 5, 7, 8, 3, 3, (0, 0)), (2, 7, 9, 6, 5, 3, 3, (1, 2)),
          (3, 40, 12, 10, 40, 3, 3, (0, 0)), (2, 4, 8, 8, 7, 3, 3, (2, 2)),
          (1, 5, 6, 9, 4, 1, 1, (0, 0)), (2, 3, 7, 8, 6, 2, 3, (1, 0)),
          (1, 6, 11, 7, 12, 5, 5, (2, 1)), (2, 3, 3, 3, 4, 3, 3, (0, 0))]
IDS = ['{}x{}x{}x{}-o{}-k{}x{}-p{}{}'.format(*s[:7], *s[7]) for s in SHAPES]


@pytest.fixture(autouse=True)
def im2col_reference():
    """conv2d_kernels' own functions run im2col + GEMM here (by default they may dispatch to
    the direct kernels themselves)."""
    with chainer.using_config('groupy_fast_cpu_conv_algo', 'im2col'):
        yield


def _arrays(shape, dtype, seed=0):
    n, c, h, w, o, kh, kw, pad = shape
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, (n, c, h, w)).astype(dtype)
    W = rng.uniform(-1, 1, (o, c, kh, kw)).astype(dtype)
    b = rng.uniform(-1, 1, o).astype(dtype)
    ho, wo = h + 2 * pad[0] - kh + 1, w + 2 * pad[1] - kw + 1
    gy = rng.uniform(-1, 1, (n, o, ho, wo)).astype(dtype)
    return x, W, b, gy, pad


def _assert_close(ours, ref):
    """float32: within 1e-5 of max |ref| (another summation order); float64: 1e-12."""
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    tol = 1e-5 if ref.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(ours, ref, rtol=0, atol=tol * np.abs(ref).max())


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('shape', SHAPES, ids=IDS)
def test_forward_matches_im2col_gemm(shape, dtype):
    x, W, b, _, pad = _arrays(shape, dtype)
    for bias in (b, None):
        _assert_close(dc.conv2d_forward(x, W, bias, pad),
                      conv2d_kernels.conv2d_forward(x, W, bias, (1, 1), pad))


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('shape', SHAPES, ids=IDS)
def test_input_gradient_matches_im2col_gemm(shape, dtype):
    x, W, _, gy, pad = _arrays(shape, dtype)
    _assert_close(dc.conv2d_transpose(gy, W, pad, x.shape[2:]),
                  conv2d_kernels.conv2d_transpose(gy, W, (1, 1), pad, x.shape[2:]))


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('shape', SHAPES, ids=IDS)
def test_weight_gradient_matches_im2col_gemm(shape, dtype):
    x, W, _, gy, pad = _arrays(shape, dtype)
    _assert_close(dc.conv2d_grad_w(x, gy, pad, W.shape[2:]),
                  conv2d_kernels.conv2d_grad_w(x, gy, (1, 1), pad, W.shape[2:]))


@pytest.fixture
def threads_and_chunks(monkeypatch):
    """Weight-gradient chunks of 3 images (then a shorter one) and the threaded path even for
    small problems."""
    monkeypatch.setattr(dc, '_CHUNK_BYTES', 30000)  # 3 images a chunk, then 1
    monkeypatch.setattr(dc, '_MIN_PARALLEL_MACS', 0)
    previous = fast_cpu.get_num_threads()
    yield
    fast_cpu.set_num_threads(previous)


def test_threads_and_chunks_give_the_same_numbers(threads_and_chunks):
    x, W, b, gy, pad = _arrays((7, 3, 9, 8, 8, 3, 3, (1, 1)), np.float64)
    ref_y = conv2d_kernels.conv2d_forward(x, W, b, (1, 1), pad)
    ref_gw = conv2d_kernels.conv2d_grad_w(x, gy, (1, 1), pad, (3, 3))
    for n_threads in (1, 2, 3):
        fast_cpu.set_num_threads(n_threads)
        _assert_close(dc.conv2d_forward(x, W, b, pad), ref_y)
        _assert_close(dc.conv2d_grad_w(x, gy, pad, (3, 3)), ref_gw)


def test_bad_shapes_raise_clear_errors():
    x = np.zeros((2, 3, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r'conv2d_forward: expected x \(N, C, H, W\)'):
        dc.conv2d_forward(x, np.zeros((4, 5, 3, 3), np.float32), None)
    with pytest.raises(ValueError, match='conv2d_forward: the kernel 5x5 does not fit'):
        dc.conv2d_forward(x, np.zeros((4, 3, 5, 5), np.float32), None)
    with pytest.raises(ValueError, match=r'conv2d_transpose: pad \(3, 0\) must be below'):
        dc.conv2d_transpose(np.zeros((2, 4, 8, 6), np.float32),
                            np.zeros((4, 3, 3, 3), np.float32), (3, 0), (4, 4))
    with pytest.raises(ValueError, match='conv2d_transpose: gy of spatial size'):
        dc.conv2d_transpose(np.zeros((2, 4, 3, 3), np.float32),
                            np.zeros((4, 3, 3, 3), np.float32), (0, 0), (4, 4))
    with pytest.raises(ValueError, match=r'conv2d_grad_w: gy has shape \(2, 4, 3, 3\)'):
        dc.conv2d_grad_w(x, np.zeros((2, 4, 3, 3), np.float32), (0, 0), (3, 3))


@pytest.mark.parametrize('shape', SHAPES, ids=IDS)
def test_the_direct_algorithm_through_chainer_matches_chainers_convolution(shape):
    """convolution_2d with the algorithm 'direct' and the compiled kernels on: values and all
    gradients as F.convolution_2d, and exact first and second derivatives (float64)."""
    x, W, b, gy, pad = _arrays(shape, np.float64)
    with chainer.using_config('groupy_fast_cpu_conv_algo', 'direct'), \
            chainer.using_config('groupy_fast_cpu_numba', True):
        assert conv2d_kernels.direct_kernels(x, x.shape[1], W.shape[0], W.shape[3], (1, 1)) is dc
        ours = [chainer.Variable(a.copy()) for a in (x, W, b)]
        y = convolution_2d(*ours, pad=pad)
        y.grad = gy
        y.backward()
        f = lambda *a: convolution_2d(*a, pad=pad)  # noqa: E731
        rng = np.random.RandomState(5)
        gradient_check.check_double_backward(f, (x, W, b), gy,
                                             tuple(rng.uniform(-1, 1, a.shape) for a in (x, W, b)),
                                             dtype=np.float64, rtol=1e-6, atol=1e-6)
    ref = [chainer.Variable(a.copy()) for a in (x, W, b)]
    y_ref = F.convolution_2d(*ref, pad=pad)
    y_ref.grad = gy
    y_ref.backward()
    _assert_close(y.array, y_ref.array)
    for v, v_ref in zip(ours, ref):
        _assert_close(v.grad, v_ref.grad)


@pytest.mark.parametrize('c, o, kw, stride, grad_w, algo, numba, direct', [
    (40, 40, 3, (1, 1), False, 'auto', True, True),     # P4CNN's layers
    (1, 40, 3, (1, 1), False, 'auto', True, True),      # its lifting layer
    (96, 88, 3, (1, 1), False, 'auto', True, True),     # P4MResNet44's first stage
    (128, 96, 3, (1, 1), False, 'auto', True, False),   # wider: im2col + GEMM
    (96, 96, 3, (1, 1), True, 'auto', True, False),     # weight gradient: at most 64
    (64, 64, 3, (1, 1), True, 'auto', True, True),
    (40, 40, 4, (1, 1), False, 'auto', True, False),    # other widths: GEMM
    (40, 40, 3, (2, 2), False, 'auto', True, False),    # stride 2
    (40, 40, 3, (1, 1), False, 'auto', False, False),   # compiled kernels off
    (40, 40, 3, (1, 1), False, 'im2col', True, False),
    (40, 40, 3, (1, 1), False, 'winograd', True, False),
    (192, 192, 5, (1, 1), True, 'direct', True, True),
    (40, 40, 3, (2, 1), False, 'direct', True, False)])
def test_which_layers_take_the_direct_kernels(c, o, kw, stride, grad_w, algo, numba, direct):
    x = np.zeros((2, c, 8, 8), np.float32)
    with chainer.using_config('groupy_fast_cpu_conv_algo', algo), \
            chainer.using_config('groupy_fast_cpu_numba', numba):
        got = conv2d_kernels.direct_kernels(x, c, o, kw, stride, grad_w=grad_w)
    assert got is (dc if direct else None)


def test_the_models_convolutions_take_the_direct_kernels_by_default():
    """A P4CNN-like layer through convolution_2d: with 'auto' and the compiled kernels on, its
    forward pass and both gradients give the direct kernels' numbers exactly."""
    x, W, b, gy, pad = _arrays((3, 40, 12, 10, 40, 3, 3, (0, 0)), np.float32)
    with chainer.using_config('groupy_fast_cpu_conv_algo', 'auto'), \
            chainer.using_config('groupy_fast_cpu_numba', True):
        xv, Wv = chainer.Variable(x), chainer.Variable(W)
        y = convolution_2d(xv, Wv, b)
        y.grad = gy
        y.backward()
    np.testing.assert_array_equal(y.array, dc.conv2d_forward(x, W, b, pad))
    np.testing.assert_array_equal(xv.grad, dc.conv2d_transpose(gy, W, pad, x.shape[2:]))
    np.testing.assert_array_equal(Wv.grad, dc.conv2d_grad_w(x, gy, pad, W.shape[2:]))

"""The fast CPU convolution: same numbers as chainer.functions.convolution_2d (forward and
gradients), exact first and second derivatives (check_backward / check_double_backward in
float64), the same result on 1 or several threads and in chunks, the fallbacks and the errors."""
import numpy as np
import pytest

import chainer
import chainer.functions as F
from chainer import gradient_check, testing

from groupy.fast_cpu import conv2d as cpu_conv2d, conv2d_kernels
from groupy.fast_cpu.conv2d import convolution_2d

# (N, C, H, W, O, kh, kw): odd/even/non-square kernels, 1 channel, non-square maps
GEOMETRIES = [
    (2, 3, 7, 7, 4, 3, 3),
    (3, 2, 8, 6, 5, 2, 2),
    (2, 1, 9, 7, 3, 4, 3),
    (1, 4, 5, 5, 2, 5, 5),
    (3, 5, 6, 6, 6, 1, 1),
]


def _arrays(geometry, dtype, nobias, seed=0):
    n, c, h, w, o, kh, kw = geometry
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, (n, c, h, w)).astype(dtype)
    W = rng.uniform(-1, 1, (o, c, kh, kw)).astype(dtype)
    b = None if nobias else rng.uniform(-1, 1, o).astype(dtype)
    return x, W, b


def _fits(geometry, pad):
    _, _, h, w, _, kh, kw = geometry
    ph, pw = (pad, pad) if np.isscalar(pad) else pad
    return h + 2 * ph >= kh and w + 2 * pw >= kw


@testing.parameterize(*testing.product({
    'geometry': GEOMETRIES,
    'stride': [1, 2, (1, 3)],
    'pad': [0, 1, (2, 1)],
    'dtype': [np.float32, np.float64],
    'nobias': [False, True],
}))
class TestAgainstChainer:

    def test_forward_and_gradients_match_chainer(self):
        if not _fits(self.geometry, self.pad):
            pytest.skip('kernel larger than the padded input')
        x, W, b = _arrays(self.geometry, self.dtype, self.nobias)
        tol = dict(rtol=1e-5, atol=1e-5) if self.dtype == np.float32 else dict(rtol=1e-12,
                                                                               atol=1e-12)
        ours = [chainer.Variable(a.copy()) for a in (x, W, b) if a is not None]
        ref = [chainer.Variable(a.copy()) for a in (x, W, b) if a is not None]
        y = convolution_2d(*ours, stride=self.stride, pad=self.pad)
        y_ref = F.convolution_2d(*ref, stride=self.stride, pad=self.pad)
        assert y.creator.fast_path
        assert y.shape == y_ref.shape and y.dtype == y_ref.dtype
        np.testing.assert_allclose(y.array, y_ref.array, **tol)
        gy = np.random.RandomState(1).uniform(-1, 1, y.shape).astype(self.dtype)
        y.grad, y_ref.grad = gy, gy.copy()
        y.backward()
        y_ref.backward()
        for v, v_ref in zip(ours, ref):
            np.testing.assert_allclose(v.grad, v_ref.grad, **tol)


@testing.parameterize(*testing.product({
    'geometry': [(2, 2, 5, 6, 3, 3, 3), (2, 3, 6, 5, 2, 2, 3)],
    'stride': [1, 2],
    'pad': [0, (1, 2)],
    'nobias': [False, True],
}))
class TestGradients:

    def _args(self):
        x, W, b = _arrays(self.geometry, np.float64, self.nobias)
        return tuple(a for a in (x, W, b) if a is not None)

    def _fn(self, *inputs):
        return convolution_2d(*inputs, stride=self.stride, pad=self.pad)

    def test_check_backward(self):
        args = self._args()
        y = self._fn(*args)
        gy = np.random.RandomState(2).uniform(-1, 1, y.shape)
        gradient_check.check_backward(self._fn, args, gy, dtype=np.float64,
                                      rtol=1e-6, atol=1e-6)

    def test_check_double_backward(self):
        args = self._args()
        y = self._fn(*args)
        rng = np.random.RandomState(3)
        gy = rng.uniform(-1, 1, y.shape)
        ggs = tuple(rng.uniform(-1, 1, a.shape) for a in args)
        gradient_check.check_double_backward(self._fn, args, gy, ggs, dtype=np.float64,
                                             rtol=1e-6, atol=1e-6)


@pytest.fixture
def threads_and_chunks(monkeypatch):
    """Force tiny chunks and the threaded path even for small problems."""
    monkeypatch.setattr(conv2d_kernels, '_CHUNK_BYTES', 256)
    monkeypatch.setattr(conv2d_kernels, '_MIN_PARALLEL_MACS', 0)
    previous = cpu_conv2d.get_num_threads()
    yield
    cpu_conv2d.set_num_threads(previous)


@pytest.mark.parametrize('stride,pad', [(1, 0), (2, 1)])
def test_threads_and_chunks_give_the_same_numbers(threads_and_chunks, stride, pad):
    x, W, b = _arrays((7, 3, 9, 8, 4, 3, 3), np.float64, nobias=False)
    ref = F.convolution_2d(x, W, b, stride=stride, pad=pad)
    gy = np.random.RandomState(4).uniform(-1, 1, ref.shape)
    xr, Wr, br = (chainer.Variable(a.copy()) for a in (x, W, b))
    yr = F.convolution_2d(xr, Wr, br, stride=stride, pad=pad)
    yr.grad = gy
    yr.backward()
    for n_threads in (1, 2, 3):
        cpu_conv2d.set_num_threads(n_threads)
        xv, Wv, bv = (chainer.Variable(a.copy()) for a in (x, W, b))
        y = convolution_2d(xv, Wv, bv, stride=stride, pad=pad)
        y.grad = gy
        y.backward()
        np.testing.assert_allclose(y.array, ref.array, rtol=1e-12, atol=1e-12)
        for v, v_ref in ((xv, xr), (Wv, Wr), (bv, br)):
            np.testing.assert_allclose(v.grad, v_ref.grad, rtol=1e-12, atol=1e-12)


def test_float16_mixed_dtypes_and_disabled_switch_fall_back_to_chainer():
    x, W, b = _arrays(GEOMETRIES[0], np.float16, nobias=False)
    y = convolution_2d(x, W, b, pad=1)
    assert not y.creator.fast_path and y.dtype == np.float16
    np.testing.assert_array_equal(y.array, F.convolution_2d(x, W, b, pad=1).array)
    x, W, _ = _arrays(GEOMETRIES[0], np.float64, nobias=True)
    y = convolution_2d(x, W.astype(np.float32))
    assert not y.creator.fast_path and y.dtype == np.float64
    x, W, b = _arrays(GEOMETRIES[0], np.float32, nobias=False)
    with chainer.using_config('groupy_fast_cpu_conv', False):
        y = convolution_2d(x, W, b, stride=2)
    assert not y.creator.fast_path
    np.testing.assert_array_equal(y.array, F.convolution_2d(x, W, b, stride=2).array)


@pytest.mark.gpu
def test_cupy_arrays_fall_back_to_chainer():
    import cupy
    x, W, b = (cupy.asarray(a) for a in _arrays(GEOMETRIES[0], np.float32, nobias=False))
    y = convolution_2d(x, W, b, pad=1)
    assert isinstance(y.array, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(y.array),
                               cupy.asnumpy(F.convolution_2d(x, W, b, pad=1).array), rtol=1e-5)


@pytest.mark.parametrize('kwargs', [dict(cover_all=True, stride=2), dict(dilate=2),
                                    dict(groups=3, pad=1)])
def test_other_options_are_chainers_convolution(kwargs):
    x, _, b = _arrays((2, 6, 7, 7, 6, 3, 3), np.float64, nobias=False)
    W = np.random.RandomState(6).uniform(-1, 1, (6, 6 // kwargs.get('groups', 1), 3, 3))
    y = convolution_2d(x, W, b, **kwargs)
    assert not y.creator.fast_path
    np.testing.assert_array_equal(y.array, F.convolution_2d(x, W, b, **kwargs).array)
    gradient_check.check_double_backward(
        lambda *a: convolution_2d(*a, **kwargs), (x, W, b), np.ones(y.shape),
        tuple(np.ones(a.shape) for a in (x, W, b)), dtype=np.float64, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('kwargs,match', [
    (dict(groups=2), 'same C / groups'),
    (dict(groups=0), 'groups must be a positive int'),
    (dict(dilate=0), 'dilate must be >= 1'),
    (dict(stride=0), 'stride must be >= 1'),
    (dict(pad=-1), 'pad must be >= 0'),
    (dict(pad=(1, 2, 3)), 'pad must be an int or a pair'),
    (dict(stride=1.5), 'stride must be an int or a pair'),
])
def test_unsupported_options_raise_value_error(kwargs, match):
    x, W, _ = _arrays(GEOMETRIES[0], np.float32, nobias=True)
    with pytest.raises(ValueError, match=match):
        convolution_2d(x, W, **kwargs)


def test_bad_shapes_raise_clear_errors():
    x, W, _ = _arrays(GEOMETRIES[0], np.float32, nobias=True)
    with pytest.raises(ValueError, match=r'W of shape \(O, C, kh, kw\) with the same C'):
        convolution_2d(x, W[:, :2])
    with pytest.raises(ValueError, match='does not fit in the padded input'):
        convolution_2d(x[:, :, :2, :2], W)
    with pytest.raises(TypeError, match='unexpected keyword'):
        convolution_2d(x, W, outsize=3)
    with pytest.raises(ValueError, match=r'expected b of shape \(4,\)'):
        convolution_2d(x, W, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match='positive integer'):
        cpu_conv2d.set_num_threads(0)


@pytest.mark.parametrize('kwargs', [dict(ksize=3), dict(ksize=2, stride=2, pad=1, nobias=True)])
def test_link_equals_chainer_link(kwargs):
    x = np.random.RandomState(5).uniform(-1, 1, (2, 3, 7, 6)).astype(np.float32)
    ours = cpu_conv2d.Convolution2D(None, 4, **kwargs)  # lazy in_channels, as chainer's
    ref = chainer.links.Convolution2D(3, 4, initialW=np.zeros((4, 3) + (kwargs['ksize'],) * 2),
                                      **{k: v for k, v in kwargs.items() if k != 'ksize'},
                                      ksize=kwargs['ksize'])
    y = ours(x)
    assert y.creator.fast_path
    ref.W.array[...] = ours.W.array
    if ours.b is not None:
        ours.b.array[...] = np.arange(4)
        ref.b.array[...] = ours.b.array
        y = ours(x)
    y_ref = ref(x)
    np.testing.assert_allclose(y.array, y_ref.array, rtol=1e-5, atol=1e-5)
    y.grad = y_ref.grad = np.ones_like(y.array)
    y.backward()
    y_ref.backward()
    np.testing.assert_allclose(ours.W.grad, ref.W.grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('kwargs', [dict(dilate=2), dict(groups=2)])
def test_link_with_dilate_or_groups_is_chainers_link(kwargs):
    x = np.random.RandomState(7).uniform(-1, 1, (2, 4, 7, 7)).astype(np.float32)
    ours = cpu_conv2d.Convolution2D(4, 6, 3, **kwargs)
    ref = chainer.links.Convolution2D(4, 6, 3, initialW=ours.W.array.copy(), **kwargs)
    y = ours(x)
    assert not y.creator.fast_path
    np.testing.assert_array_equal(y.array, ref(x).array)


@pytest.mark.skipif(not hasattr(__import__('os'), 'fork'), reason='needs os.fork')
def test_threaded_path_works_in_a_forked_child(threads_and_chunks):
    import os
    cpu_conv2d.set_num_threads(2)
    x, W, b = _arrays((4, 2, 6, 6, 3, 3, 3), np.float64, nobias=False)
    expected = convolution_2d(x, W, b).array  # starts the worker pool in this process
    pid = os.fork()
    if pid == 0:  # child: must not wait forever on the parent's (absent) threads
        ok = np.allclose(convolution_2d(x, W, b).array, expected)
        os._exit(0 if ok else 1)
    import signal
    import time
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail('convolution_2d hung in a forked child (stale worker pool)')
        time.sleep(0.05)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_scratch_of_a_wide_output_layer_stays_within_the_chunk_budget():
    """A lifting layer (3 input channels, many outputs): its output matrix, not its thin patch
    matrix, sets the chunk, so no scratch buffer of the forward pass or the gradients outgrows
    the chunk budget (one whole-batch chunk would take 32 MiB here, on one thread)."""
    from groupy.fast_cpu import threads
    previous = cpu_conv2d.get_num_threads()
    cpu_conv2d.set_num_threads(1)
    store = threads._scratch.__dict__
    store.clear()
    try:
        rng = np.random.RandomState(0)
        x = rng.uniform(-1, 1, (32, 3, 32, 32)).astype(np.float32)
        W = rng.uniform(-1, 1, (256, 3, 3, 3)).astype(np.float32)
        y = conv2d_kernels.conv2d_forward(x, W, None, (1, 1), (1, 1))
        conv2d_kernels.conv2d_grad_w(x, y, (1, 1), (1, 1), (3, 3))
        conv2d_kernels.conv2d_transpose(y, W, (1, 1), (1, 1), (32, 32))
        sizes = {name: buf.nbytes for (name, _), buf in store.items()}
        assert sizes and max(sizes.values()) <= conv2d_kernels._CHUNK_BYTES, sizes
    finally:
        store.clear()
        cpu_conv2d.set_num_threads(previous)

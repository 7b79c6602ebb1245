"""The compiled (numba) kernels of groupy.fast_cpu against Chainer's own functions and against
the NumPy passes they replace, on odd shapes (batch 1, non-square maps, channel counts such as
7, G = 1, 4, 8): values, gradients and double gradients (float64), the fused BN + ReLU nodes
(training and test mode), the strided convolution's col2im, results independent of the thread
count, numba's thread count following groupy's, and the switch back to the NumPy passes."""
import numba
import numpy as np
import pytest

import chainer
import chainer.functions as F
import chainer.links as L
from chainer import gradient_check

from groupy import fast_cpu
from groupy.fast_cpu import numba_kernels, numba_pool_kernels
from groupy.fast_cpu.batchnorm_fixed import (
    FixedBatchNormalization, fixed_batch_normalization, fixed_batch_normalization_relu)
from groupy.fast_cpu.batchnorm_relu import (
    BatchNormalizationReLUFunction, batch_normalization_relu)
from groupy.fast_cpu.switch import compiled_kernels

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}
# (N, C, G, H, W) and planar (N, C, H, W) maps of the models' kinds, with awkward sizes
G_SHAPES = [(1, 7, 4, 5, 3), (3, 5, 8, 4, 6), (2, 3, 1, 7, 7), (4, 2, 4, 9, 11)]
PLANAR = [(1, 7, 5, 3), (3, 5, 4, 6), (5, 3, 2, 2)]


@pytest.fixture(params=[True, False], ids=['numba', 'numpy'])
def numba_on(request):
    with chainer.using_config('groupy_fast_cpu_numba', request.param):
        yield request.param


@pytest.fixture(params=[1, 2], ids=['1thread', '2threads'])
def threads(request):
    before = fast_cpu.get_num_threads()
    fast_cpu.set_num_threads(request.param)
    yield request.param
    fast_cpu.set_num_threads(before)


def _bn_inputs(shape, dtype, seed=0):
    rng = np.random.RandomState(seed)
    x = (rng.standard_normal(shape) * 2 + 0.7).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, shape[1]).astype(dtype)
    beta = rng.uniform(-0.5, 0.5, shape[1]).astype(dtype)
    return x, gamma, beta


def _grads(fn, arrays, gy):
    vs = [chainer.Variable(a.copy()) for a in arrays]
    y = fn(*vs)
    y.grad = gy.copy()
    y.backward()
    return [y.array] + [v.grad for v in vs]


def _assert_close(ours, ref, dtype):
    for a, b in zip(ours, ref):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, **TOL[dtype])


@pytest.fixture
def kernels_switched_on():
    """The compiled kernels switched on (whatever GROUPY_FAST_CPU_NUMBA says)."""
    with chainer.using_config('groupy_fast_cpu_numba', True):
        yield


@pytest.mark.usefixtures('kernels_switched_on')
def test_kernels_apply_only_where_switched_on():
    a32 = np.zeros((2, 3), np.float32)
    assert compiled_kernels('numba_kernels', a32) is numba_kernels
    assert compiled_kernels('numba_pool_kernels', a32.astype(np.float64)) is numba_pool_kernels
    assert compiled_kernels('numba_kernels', a32.astype(np.float16)) is None
    with chainer.using_config('groupy_fast_cpu_numba', False):
        assert compiled_kernels('numba_kernels', a32) is None
    with chainer.using_config('groupy_fast_cpu_conv', False):
        assert compiled_kernels('numba_kernels', a32) is None


@pytest.mark.parametrize('shape', G_SHAPES + PLANAR + [(6, 4)])
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_batch_norm_relu_equals_chainer(shape, dtype, numba_on, threads):
    x, gamma, beta = _bn_inputs(shape, dtype)
    gy = np.random.RandomState(1).standard_normal(shape).astype(dtype)
    ref = _grads(lambda *v: F.relu(F.batch_normalization(*v)), (x, gamma, beta), gy)
    for fn in (batch_normalization_relu,
               lambda *v: fast_cpu.relu(fast_cpu.batch_normalization(*v))):
        _assert_close(_grads(fn, (x, gamma, beta), gy), ref, dtype)
    assert isinstance(batch_normalization_relu(x, gamma, beta).creator,
                      BatchNormalizationReLUFunction)


@pytest.mark.parametrize('shape', [(1, 3, 4, 3, 2), (3, 2, 1, 3, 5), (2, 3, 5, 3)])
@pytest.mark.parametrize('fused', [True, False])
def test_batch_norm_relu_double_backward(shape, fused, numba_on):
    x, gamma, beta = _bn_inputs(shape, np.float64)
    rng = np.random.RandomState(2)
    gy, ggx = rng.standard_normal(shape), rng.standard_normal(shape)
    ggamma, gbeta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])

    def fn(*v):
        if fused:
            return batch_normalization_relu(*v)
        return fast_cpu.relu(fast_cpu.batch_normalization(*v))

    gradient_check.check_backward(fn, (x, gamma, beta), gy, dtype=np.float64,
                                  atol=1e-6, rtol=1e-5)
    gradient_check.check_double_backward(fn, (x, gamma, beta), gy, (ggx, ggamma, gbeta),
                                         dtype=np.float64, atol=1e-5, rtol=1e-4)


def test_batch_norm_relu_running_averages_and_link():
    x, gamma, beta = _bn_inputs((4, 3, 4, 5, 5), np.float32)
    links = [fast_cpu.BatchNormalization(3, decay=0.7) for _ in range(2)]
    for link in links:
        link.gamma.array[:], link.beta.array[:] = gamma, beta
    fused, plain = links[0].forward_relu(x), fast_cpu.relu(links[1](x))
    assert isinstance(fused.creator, BatchNormalizationReLUFunction)
    np.testing.assert_allclose(fused.array, plain.array, **TOL[np.float32])
    np.testing.assert_allclose(links[0].avg_mean, links[1].avg_mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(links[0].avg_var, links[1].avg_var, rtol=1e-6, atol=1e-6)
    with chainer.using_config('train', False):  # test mode: the running averages
        np.testing.assert_allclose(links[0].forward_relu(x).array,
                                   fast_cpu.relu(links[1](x)).array, rtol=1e-6, atol=1e-6)


def test_batch_norm_relu_falls_back_for_float16():
    x, gamma, beta = _bn_inputs((2, 3, 4, 4), np.float16)
    z = batch_normalization_relu(x, gamma, beta)
    assert not isinstance(z.creator, BatchNormalizationReLUFunction)
    ref = F.relu(F.batch_normalization(x, gamma, beta))
    np.testing.assert_allclose(z.array, ref.array, rtol=1e-2, atol=1e-2)


def test_bn_statistics_with_a_large_offset():
    x, gamma, beta = _bn_inputs((8, 3, 4, 6, 6), np.float64)
    x += 1e4  # shifted sums: no cancellation
    mean, var = numba_kernels.bn_forward_stats(x)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2, 3, 4)), rtol=1e-14)
    np.testing.assert_allclose(var, x.var(axis=(0, 2, 3, 4)), rtol=1e-9)


@pytest.mark.parametrize('shape', [(2, 3, 4, 6), (1, 5, 6, 2), (3, 2, 8, 10)])
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_max_pooling_equals_chainer(shape, dtype, numba_on, threads):
    rng = np.random.RandomState(0)
    x = rng.randint(-3, 4, shape).astype(dtype)  # ties
    gy = rng.standard_normal((shape[0], shape[1], shape[2] // 2, shape[3] // 2)).astype(dtype)
    ours = _grads(lambda v: fast_cpu.max_pooling_2d(v, 2), (x,), gy)
    ref = _grads(lambda v: F.max_pooling_2d(v, 2), (x,), gy)
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('shape', [(1, 3, 4, 6), (2, 2, 6, 2)])
def test_max_pooling_double_backward(shape, numba_on):
    rng = np.random.RandomState(0)
    x = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64)  # no ties
    gy = rng.standard_normal((shape[0], shape[1], shape[2] // 2, shape[3] // 2))
    ggx = rng.standard_normal(shape)
    fn = lambda v: fast_cpu.max_pooling_2d(v, 2)  # noqa: E731
    gradient_check.check_backward(fn, x, gy, dtype=np.float64)
    gradient_check.check_double_backward(fn, x, gy, ggx, dtype=np.float64)


@pytest.mark.parametrize('shape', G_SHAPES + [(2, 3, 4, 5)])
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_orientation_max_equals_chainer(shape, dtype, numba_on, threads):
    rng = np.random.RandomState(0)
    x = rng.randint(-2, 3, shape).astype(dtype)  # ties: every tied maximum gets gy
    gy = rng.standard_normal(shape[:2] + shape[3:]).astype(dtype)
    ours = _grads(fast_cpu.orientation_max, (x,), gy)
    ref = _grads(lambda v: F.max(v, axis=2), (x,), gy)
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('shape', [(1, 3, 4, 3, 2), (2, 2, 8, 3, 3), (2, 3, 1, 2, 5)])
def test_orientation_max_double_backward(shape, numba_on):
    rng = np.random.RandomState(0)
    x = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64)
    gy = rng.standard_normal(shape[:2] + shape[3:])
    ggx = rng.standard_normal(shape)
    gradient_check.check_backward(fast_cpu.orientation_max, x, gy, dtype=np.float64)
    gradient_check.check_double_backward(fast_cpu.orientation_max, x, gy, ggx,
                                         dtype=np.float64)


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_relu_equals_chainer(dtype, numba_on, threads):
    rng = np.random.RandomState(0)
    x = rng.standard_normal((3, 5, 4, 7, 3)).astype(dtype)
    x.flat[::4] = 0
    gy = rng.standard_normal(x.shape).astype(dtype)
    for a, b in zip(_grads(fast_cpu.relu, (x,), gy), _grads(F.relu, (x,), gy)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.usefixtures('kernels_switched_on')
def test_results_do_not_depend_on_the_thread_count():
    x, gamma, beta = _bn_inputs((5, 7, 4, 9, 9), np.float32)
    gy = np.random.RandomState(3).standard_normal(x.shape).astype(np.float32)
    before = fast_cpu.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            fast_cpu.set_num_threads(n)
            results.append(_grads(batch_normalization_relu, (x, gamma, beta), gy)
                           + _grads(fast_cpu.orientation_max, (x,), gy[:, :, 0]))
            assert numba.get_num_threads() == min(n, numba.config.NUMBA_NUM_THREADS)
    finally:
        fast_cpu.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_threading_layer_needs_no_extra_library():
    fast_cpu.relu(np.ones((2, 3), np.float32))  # a kernel has run: the layer is chosen
    assert numba.threading_layer() in ('workqueue', 'omp')


@pytest.mark.parametrize('stride,pad', [((2, 2), (1, 1)), ((2, 3), (0, 2)), ((1, 1), (1, 0))])
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_convolution_col2im(stride, pad, dtype, threads):
    """The input gradient of strided convolutions (and of stride-1 ones mapping few channels to
    many), whose col2im is compiled: the NumPy scatter-adds' sums exactly, Chainer's closely."""
    rng = np.random.RandomState(0)
    x = rng.standard_normal((3, 2, 9, 7)).astype(dtype)
    W = rng.standard_normal((7, 2, 3, 3)).astype(dtype)
    gy = rng.standard_normal(F.convolution_2d(x, W, stride=stride, pad=pad).shape).astype(dtype)
    results = []
    for on in (True, False):  # im2col + GEMM both times (not the direct kernels)
        with chainer.using_config('groupy_fast_cpu_numba', on), \
                chainer.using_config('groupy_fast_cpu_conv_algo', 'im2col'):
            results.append(_grads(lambda v, w: fast_cpu.convolution_2d(v, w, stride=stride,
                                                                       pad=pad), (x, W), gy))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    ref = _grads(lambda v, w: F.convolution_2d(v, w, stride=stride, pad=pad), (x, W), gy)
    _assert_close(results[0], ref, dtype)


def test_convolution_double_backward_with_col2im():
    rng = np.random.RandomState(0)
    x, W = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 3, 2))
    fn = lambda v, w: fast_cpu.convolution_2d(v, w, stride=2, pad=1)  # noqa: E731
    gy = rng.standard_normal(fn(x, W).shape)
    ggx, ggw = rng.standard_normal(x.shape), rng.standard_normal(W.shape)
    gradient_check.check_double_backward(fn, (x, W), gy, (ggx, ggw), dtype=np.float64)


def _fixed_inputs(shape, dtype, seed=0):
    rng = np.random.RandomState(seed)
    x, gamma, beta = _bn_inputs(shape, dtype, seed)
    mean = rng.standard_normal(shape[1]).astype(dtype)
    var = rng.uniform(0.5, 2, shape[1]).astype(dtype)
    return x, gamma, beta, mean, var


@pytest.mark.parametrize('shape', G_SHAPES + PLANAR + [(6, 4)])
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_fixed_batch_norm_equals_chainer(shape, dtype, numba_on):
    inputs = _fixed_inputs(shape, dtype)
    gy = np.random.RandomState(1).standard_normal(shape).astype(dtype)
    y = fixed_batch_normalization(*inputs)
    assert y.creator.fast_path == numba_on
    for fn, ref_fn in ((fixed_batch_normalization, F.fixed_batch_normalization),
                       (fixed_batch_normalization_relu,
                        lambda *v: F.relu(F.fixed_batch_normalization(*v)))):
        ours, ref = _grads(fn, inputs, gy), _grads(ref_fn, inputs, gy)
        np.testing.assert_array_equal(ours[0], ref[0])  # the same operations in order
        _assert_close(ours[1:], ref[1:], dtype)


@pytest.mark.parametrize('fn', [fixed_batch_normalization, fixed_batch_normalization_relu])
def test_fixed_batch_norm_double_backward(fn):
    inputs = _fixed_inputs((2, 3, 4, 3, 2), np.float64)
    rng = np.random.RandomState(2)
    gy = rng.standard_normal(inputs[0].shape)
    ggs = tuple(rng.standard_normal(a.shape) for a in inputs)
    gradient_check.check_backward(fn, inputs, gy, dtype=np.float64, atol=1e-6, rtol=1e-5)
    gradient_check.check_double_backward(fn, inputs, gy, ggs, dtype=np.float64,
                                         atol=1e-5, rtol=1e-4)


@pytest.mark.usefixtures('kernels_switched_on')
def test_fixed_batch_norm_falls_back_for_float16_and_the_link_uses_it():
    inputs = _fixed_inputs((2, 3, 4, 4), np.float16)
    for fn in (fixed_batch_normalization, fixed_batch_normalization_relu):
        assert not getattr(fn(*inputs).creator, 'fast_path', False)
    link = fast_cpu.BatchNormalization(3)
    x = _fixed_inputs((2, 3, 4, 5, 5), np.float32)[0]
    with chainer.using_config('train', False):
        y = link(x)
        assert isinstance(y.creator, FixedBatchNormalization) and y.creator.fast_path
        np.testing.assert_array_equal(y.array, L.BatchNormalization(3)(x).array)
        z = link.forward_relu(x)
        assert z.creator.relu
        np.testing.assert_array_equal(z.array, F.relu(y).array)


@pytest.mark.parametrize('value,expected', [('0', False), ('no', False), ('1', True), (None, True)])
def test_environment_switch(value, expected):
    import os
    import subprocess
    import sys
    code = ('import groupy.fast_cpu, chainer, numpy, sys; '
            'from groupy.fast_cpu.switch import compiled_kernels; '
            'print(compiled_kernels("numba_kernels", numpy.zeros(1)) is not None, '
            '"numba" in sys.modules)')
    env = {k: v for k, v in os.environ.items() if k != 'GROUPY_FAST_CPU_NUMBA'}
    if value is not None:
        env['GROUPY_FAST_CPU_NUMBA'] = value
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [str(expected), str(expected)]  # numba is imported only when used


def _with_non_finite(shape, dtype, seed):
    """Random x of ``shape`` with a NaN, an inf and a -inf in other channels (channel 3 on, if
    any, finite) and each NaN at another tap of its 2x2 window."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    x[0, 0, ..., 0, 1] = np.nan
    x[-1, 1 % shape[1], ..., 1, 0] = np.inf
    x[0, 2 % shape[1], ..., 1, 1] = -np.inf
    return x


def _on_both_paths(f):
    outs = []
    for on in (True, False):
        with chainer.using_config('groupy_fast_cpu_numba', on):
            outs.append(f())
    return outs


@pytest.mark.parametrize('shape', [(2, 4, 4, 6, 4), (3, 5, 4, 6)])
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_non_finite_values_propagate_as_on_the_numpy_passes(shape, dtype):
    """NaN and inf reach the outputs of BN + ReLU (training and test mode), ReLU, max pooling
    and the orientation max at the same places as on the NumPy passes / Chainer's functions
    (finite values to float rounding): a kernel that dropped a NaN would let a run train on it
    unnoticed."""
    x = _with_non_finite(shape, dtype, 7)
    c = shape[1]
    gamma, beta = np.linspace(0.5, 1.5, c).astype(dtype), np.linspace(-0.2, 0.2, c).astype(dtype)
    mean, var = np.zeros(c, dtype), np.ones(c, dtype)
    checks = {
        'bn_relu': lambda: batch_normalization_relu(x, gamma, beta).array,
        'fixed_bn_relu': lambda: fixed_batch_normalization_relu(x, gamma, beta, mean, var).array,
        'relu': lambda: fast_cpu.relu(x).array,
    }
    planar = x if x.ndim == 4 else x.reshape(shape[0], -1, *shape[3:])
    checks['max_pool'] = lambda: fast_cpu.max_pooling_2d(planar, 2, 2).array
    if x.ndim == 5:
        checks['orientation_max'] = lambda: fast_cpu.orientation_max(x).array
    for name, f in checks.items():
        with chainer.using_config('train', name != 'fixed_bn_relu'):
            ours, numpy_passes = _on_both_paths(f)
        assert np.isnan(ours).any(), name
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(numpy_passes), err_msg=name)
        np.testing.assert_array_equal(np.isinf(ours) * np.sign(ours),
                                      np.isinf(numpy_passes) * np.sign(numpy_passes), err_msg=name)
        np.testing.assert_allclose(np.nan_to_num(ours), np.nan_to_num(numpy_passes),
                                   err_msg=name, **TOL[dtype])

"""The fast CPU batch normalisation: Chainer's outputs, gradients and running averages (to float
tolerance), exact first and second derivatives in float64 (of the function and of its gradient
node), the input not kept for the backward pass, the link's modes (training, finetune, test) as
chainer.links.BatchNormalization, and the fallbacks to Chainer."""
import gc
import weakref

import numpy as np
import pytest

import chainer
import chainer.functions as F
import chainer.links as L
from chainer import gradient_check, testing
from chainer.functions.normalization import batch_normalization as chainer_bn

from groupy.fast_cpu import batchnorm as cpu_bn
from groupy.fast_cpu.batchnorm import (
    BatchNormalization, batch_normalization)

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


def _inputs(shape, dtype, seed=0):
    rng = np.random.RandomState(seed)
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, shape[1]).astype(dtype)
    beta = rng.uniform(-1, 1, shape[1]).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, gy


def _fast(y):
    return getattr(y.creator, 'fast_path', False)


def _run(fn, x, gamma, beta, gy):
    xs = [chainer.Variable(a.copy()) for a in (x, gamma, beta)]
    mean, var = np.zeros(gamma.shape, gamma.dtype), np.ones(gamma.shape, gamma.dtype)
    y = fn(*xs, running_mean=mean, running_var=var, decay=0.8)
    y.grad = gy
    y.backward()
    return y, [y.array] + [v.grad for v in xs] + [mean, var]


@testing.parameterize(*testing.product({
    'shape': [(4, 3), (3, 4, 5), (2, 3, 4, 5), (2, 3, 4, 3, 3)],
    'dtype': [np.float32, np.float64],
}))
class TestBatchNormalization:

    def test_equals_chainer(self):
        x, gamma, beta, gy = _inputs(self.shape, self.dtype)
        y, ours = _run(batch_normalization, x, gamma, beta, gy)
        assert _fast(y)
        _, ref = _run(F.batch_normalization, x, gamma, beta, gy)
        for a, b in zip(ours, ref):
            assert a.dtype == b.dtype
            np.testing.assert_allclose(a, b, **TOL[self.dtype])

    def test_backward_and_double_backward(self):
        x, gamma, beta, gy = _inputs(self.shape, np.float64)
        rng = np.random.RandomState(5)
        ggs = (rng.standard_normal(x.shape), rng.standard_normal(gamma.shape),
               rng.standard_normal(beta.shape))
        gradient_check.check_backward(batch_normalization, (x, gamma, beta), gy,
                                      dtype=np.float64, rtol=1e-6, atol=1e-6)
        gradient_check.check_double_backward(batch_normalization, (x, gamma, beta), gy, ggs,
                                             dtype=np.float64, rtol=1e-6, atol=1e-6)

    def test_gradient_node_backward_and_double_backward(self):
        """The gradient node on arbitrary inputs (its outputs are polynomials in them), so its
        own backward, written with Chainer functions, is checked numerically to second order."""
        x, gamma, _, gy = _inputs(self.shape, np.float64)
        rng = np.random.RandomState(6)
        inv_std = rng.uniform(0.5, 2, gamma.shape)
        c = gamma.shape
        g_out = (rng.standard_normal(x.shape), rng.standard_normal(c), rng.standard_normal(c))
        gg_in = (rng.standard_normal(x.shape), rng.standard_normal(c), rng.standard_normal(c),
                 rng.standard_normal(x.shape))

        def grad_node(*inputs):
            return cpu_bn.BatchNormalizationGradCPU().apply(inputs)

        inputs = (x, inv_std, gamma, gy)
        gradient_check.check_backward(grad_node, inputs, g_out, dtype=np.float64,
                                      rtol=1e-6, atol=1e-6)
        gradient_check.check_double_backward(grad_node, inputs, g_out, gg_in,
                                             dtype=np.float64, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('case', ['float16', 'non-contiguous', 'switch off', 'other axis',
                                  'mixed dtypes'])
def test_falls_back_to_chainer(case):
    x, gamma, beta, gy = _inputs((2, 3, 4, 5), np.float32)
    axis = None
    if case == 'float16':
        x, gamma, beta, gy = (a.astype(np.float16) for a in (x, gamma, beta, gy))
    elif case == 'non-contiguous':
        x = np.asfortranarray(x)
    elif case == 'other axis':
        axis = (0, 1)
        gamma, beta = np.ones((4, 5), np.float32), np.zeros((4, 5), np.float32)
    elif case == 'mixed dtypes':
        gamma, beta = gamma.astype(np.float64), beta.astype(np.float64)
    with chainer.using_config('groupy_fast_cpu_conv', case != 'switch off'):
        y = batch_normalization(x, gamma, beta, axis=axis)
    assert not _fast(y)
    np.testing.assert_array_equal(y.array, F.batch_normalization(x, gamma, beta, axis=axis).array)


def test_input_is_not_kept_for_the_backward_pass():
    """Only x_hat stays alive for the backward pass: the input array is freed once the caller
    drops it, and the gradients are still Chainer's."""
    x, gamma, beta, gy = _inputs((4, 3, 5, 5), np.float64)
    x_array = x.copy()
    alive = weakref.ref(x_array)
    xv, gv, bv = chainer.Variable(x_array), chainer.Variable(gamma), chainer.Variable(beta)
    y = batch_normalization(xv * 1., gv, bv)  # the product is only referenced by the BN node
    del x_array
    gc.collect()
    assert alive() is not None  # xv still holds it
    product = weakref.ref(y.creator.inputs[0])
    gc.collect()
    assert product() is not None and product().data is None
    y.grad = gy
    y.backward()
    ref = [chainer.Variable(a) for a in (x, gamma, beta)]
    y_ref = F.batch_normalization(*ref)
    y_ref.grad = gy
    y_ref.backward()
    for ours, theirs in zip((xv, gv, bv), ref):
        np.testing.assert_allclose(ours.grad, theirs.grad, **TOL[np.float64])


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_outside_training_chainers_node_gives_the_same_values(dtype):
    """Test mode: Chainer's BatchNormalization node (as groupy.export expects) with the same
    passes: outputs and gradients equal to the training-mode node's, bit for bit."""
    x, gamma, beta, gy = _inputs((4, 3, 2, 5, 5), dtype)
    y_train, train = _run(batch_normalization, x, gamma, beta, gy)
    with chainer.using_config('train', False):
        y_test, test = _run(batch_normalization, x, gamma, beta, gy)
    assert _fast(y_train) and isinstance(y_test.creator, chainer_bn.BatchNormalization)
    assert isinstance(y_test.creator._impl, cpu_bn._FastCPUImpl)
    for a, b in zip(train, test):
        np.testing.assert_array_equal(a, b)
    with chainer.using_config('train', False):
        gradient_check.check_backward(batch_normalization, (x.astype(np.float64),
                                      gamma.astype(np.float64), beta.astype(np.float64)),
                                      gy.astype(np.float64), dtype=np.float64, rtol=1e-6,
                                      atol=1e-6)


def test_explicit_default_axis_takes_the_fast_path():
    x, gamma, beta, _ = _inputs((2, 3, 4, 5), np.float32)
    y = batch_normalization(x, gamma, beta, axis=(0, 2, 3))
    assert _fast(y)


def _pair(channels=3, seed=0):
    rng = np.random.RandomState(seed)
    gamma = rng.uniform(0.5, 1.5, channels).astype(np.float32)
    beta = rng.uniform(-1, 1, channels).astype(np.float32)
    ours, ref = BatchNormalization(channels, decay=0.7), L.BatchNormalization(channels, decay=0.7)
    for link in (ours, ref):
        link.gamma.array[:] = gamma
        link.beta.array[:] = beta
    return ours, ref


def test_link_is_a_chainer_batch_normalization_with_the_same_state():
    ours, ref = _pair()
    assert isinstance(ours, L.BatchNormalization)
    assert sorted(n for n, _ in ours.namedparams()) == sorted(n for n, _ in ref.namedparams())
    assert sorted(ours._persistent) == sorted(ref._persistent)


@pytest.mark.parametrize('finetune', [False, True])
def test_link_modes_equal_chainer(finetune):
    ours, ref = _pair()
    rng = np.random.RandomState(1)
    for _ in range(3):  # training steps update the running averages (finetune: N counts them)
        x = (rng.standard_normal((4, 3, 2, 5, 5)) * 3 + 1).astype(np.float32)
        np.testing.assert_allclose(ours(x, finetune=finetune).array,
                                   ref(x, finetune=finetune).array, rtol=2e-5, atol=2e-5)
    assert ours.N == ref.N
    np.testing.assert_allclose(ours.avg_mean, ref.avg_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.avg_var, ref.avg_var, rtol=1e-5, atol=1e-6)
    with chainer.using_config('train', False):  # Chainer's test mode on (close) averages
        np.testing.assert_allclose(ours(x).array, ref(x).array, rtol=1e-5, atol=1e-5)
    with chainer.using_config('in_recomputing', True):  # no update in a recomputed pass
        before = ours.avg_mean.copy(), ours.N
        ours(x, finetune=finetune)
        np.testing.assert_array_equal(ours.avg_mean, before[0])
        assert ours.N == before[1]


def test_link_infers_its_size_lazily():
    link = BatchNormalization(axis=(0, 2, 3))
    x = np.random.RandomState(2).standard_normal((3, 4, 5, 5)).astype(np.float32)
    y = link(x)
    assert link.avg_mean.shape == (4,)
    np.testing.assert_allclose(y.array.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    assert _fast(link(x))


def test_bad_input():
    with pytest.raises(chainer.utils.type_check.InvalidType):
        batch_normalization(np.zeros((2, 3, 4), np.float32), np.ones(4, np.float32),
                            np.zeros(4, np.float32))
    assert chainer_bn.BatchNormalization  # the node we plug into still exists


@pytest.mark.parametrize('threads', [1, 2, 3])
def test_batch_split_over_threads_equals_chainer(monkeypatch, threads):
    from groupy.fast_cpu import batchnorm_kernels, conv2d as cpu_conv2d
    monkeypatch.setattr(batchnorm_kernels, '_MIN_PARALLEL_SIZE', 0)
    before = cpu_conv2d.get_num_threads()
    cpu_conv2d.set_num_threads(threads)
    try:
        x, gamma, beta, gy = _inputs((5, 3, 2, 4, 4), np.float64)
        _, ours = _run(batch_normalization, x, gamma, beta, gy)
    finally:
        cpu_conv2d.set_num_threads(before)
    _, ref = _run(F.batch_normalization, x, gamma, beta, gy)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, **TOL[np.float64])


@pytest.mark.parametrize('offset', [1e3, -3e3])
def test_single_pass_statistics_keep_precision_for_a_large_mean(offset):
    """The one-pass shifted statistics give numpy's float64 mean/variance of float32 data far
    from zero (no cancellation), and the output Chainer's to float32 tolerance."""
    rng = np.random.RandomState(7)
    x = (offset + rng.standard_normal((6, 3, 5, 4))).astype(np.float32)
    x[:, 1] = (offset + 0.05 * rng.standard_normal((6, 5, 4))).astype(np.float32)
    gamma, beta = np.ones(3, np.float32), np.zeros(3, np.float32)
    mean, var = np.zeros(3, np.float32), np.zeros(3, np.float32)
    y = batch_normalization(x, gamma, beta, eps=0., running_mean=mean, running_var=var,
                            decay=0.)
    x64 = x.astype(np.float64)
    m = x64[:, 0].size
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2, 3)), rtol=1e-7)
    np.testing.assert_allclose(var, x64.var(axis=(0, 2, 3)) * m / (m - 1), rtol=1e-4)
    y_ref = F.batch_normalization(x, gamma, beta, eps=0.)
    np.testing.assert_allclose(y.array, y_ref.array, rtol=0, atol=5e-3)
    np.testing.assert_allclose(y.array.var(axis=(0, 2, 3)), 1, rtol=1e-3)

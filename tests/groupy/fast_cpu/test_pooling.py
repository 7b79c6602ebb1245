"""The fast CPU 2x2 max pooling: the values, the tie-breaking and the gradients of
chainer.functions.max_pooling_2d, exact first and second derivatives in float64, and the
fallback to Chainer for everything it does not handle."""
import numpy as np
import pytest

import chainer
import chainer.functions as F
from chainer import gradient_check, testing

from chainer.functions.pooling import max_pooling_nd

from groupy.fast_cpu import conv2d as cpu_conv2d, pooling as cpu_pooling
from groupy.fast_cpu.pooling import MaxPoolingND, max_pooling_2d


def _input(shape, dtype, ties, seed=0):
    rng = np.random.RandomState(seed)
    if ties:  # few distinct values: many windows hold their maximum twice or more
        return rng.randint(-2, 3, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@testing.parameterize(*testing.product({
    'shape': [(2, 3, 4, 6), (1, 1, 2, 2), (3, 2, 8, 4)],
    'dtype': [np.float32, np.float64],
    'ties': [False, True],
    'threads': [1, 2],
}))
class TestFastPath:

    @pytest.fixture(autouse=True)
    def _threads(self, monkeypatch):
        """Slices of the batch on `threads` worker threads, even for these small arrays."""
        monkeypatch.setattr(cpu_pooling, '_MIN_PARALLEL_SIZE', 0)
        before = cpu_conv2d.get_num_threads()
        cpu_conv2d.set_num_threads(self.threads)
        yield
        cpu_conv2d.set_num_threads(before)

    def test_forward_and_gradient_equal_chainer(self):
        x = _input(self.shape, self.dtype, self.ties)
        gy = _input(self.shape[:2] + (self.shape[2] // 2, self.shape[3] // 2), self.dtype,
                    False, seed=1)
        ours, ref = chainer.Variable(x.copy()), chainer.Variable(x.copy())
        y = max_pooling_2d(ours, 2, 2)
        y_ref = F.max_pooling_2d(ref, 2, 2)
        assert isinstance(y.creator, max_pooling_nd.MaxPoolingND) and y.creator.fast_path
        assert y.dtype == self.dtype
        np.testing.assert_array_equal(y.array, y_ref.array)
        y.grad, y_ref.grad = gy, gy.copy()
        y.backward()
        y_ref.backward()
        # same tie-breaking: the gradient goes to the same tap of each window
        np.testing.assert_array_equal(ours.grad, ref.grad)

    def test_backward_and_double_backward(self):
        x = _input(self.shape, np.float64, False)
        out_shape = self.shape[:2] + (self.shape[2] // 2, self.shape[3] // 2)
        rng = np.random.RandomState(2)
        gy = rng.uniform(-1, 1, out_shape)
        ggx = rng.uniform(-1, 1, self.shape)
        f = lambda v: max_pooling_2d(v, 2)  # noqa: E731
        gradient_check.check_backward(f, x, gy, dtype=np.float64, atol=1e-7, rtol=1e-6)
        gradient_check.check_double_backward(f, x, gy, ggx, dtype=np.float64,
                                             atol=1e-7, rtol=1e-6)


def test_second_order_gradient_equals_chainer():
    x = _input((2, 3, 4, 4), np.float64, True)
    rng = np.random.RandomState(3)
    gy, ggx = rng.standard_normal((2, 3, 2, 2)), rng.standard_normal((2, 3, 4, 4))
    results = []
    for pool in (max_pooling_2d, F.max_pooling_2d):
        v = chainer.Variable(x.copy())
        gy_var = chainer.Variable(gy)
        y = pool(v, 2, 2)
        gx, = chainer.grad([y], [v], grad_outputs=[gy_var], enable_double_backprop=True)
        ggy, = chainer.grad([gx], [gy_var], grad_outputs=[chainer.Variable(ggx)])
        results.append((gx.array, ggy.array))
    for ours, ref in zip(*results):
        np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize('args', [
    dict(ksize=3, stride=2, pad=1), dict(ksize=2, stride=1), dict(ksize=2, stride=2, pad=1),
    dict(ksize=(2, 3), stride=2)])
def test_other_configurations_fall_back_to_chainer(args):
    x = _input((2, 3, 6, 6), np.float32, True)
    y = max_pooling_2d(x, **args)
    assert not y.creator.fast_path
    np.testing.assert_array_equal(y.array, F.max_pooling_2d(x, **args).array)


@pytest.mark.parametrize('shape', [(2, 3, 5, 6), (2, 3, 6, 7)])
@pytest.mark.parametrize('cover_all', [True, False])
def test_odd_sizes_fall_back_to_chainer(shape, cover_all):
    x = _input(shape, np.float32, False)
    y = max_pooling_2d(x, 2, cover_all=cover_all)
    assert not y.creator.fast_path
    np.testing.assert_array_equal(
        y.array, F.max_pooling_2d(x, 2, cover_all=cover_all).array)


def test_switch_and_dtypes_fall_back_to_chainer():
    x = _input((2, 3, 4, 4), np.float32, False)
    assert max_pooling_2d(x, 2).creator.fast_path
    assert max_pooling_2d(x, (2, 2), (2, 2), (0, 0)).creator.fast_path
    with chainer.using_config('groupy_fast_cpu_conv', False):
        y = max_pooling_2d(x, 2)
    assert not y.creator.fast_path
    np.testing.assert_array_equal(y.array, F.max_pooling_2d(x, 2).array)
    y16 = max_pooling_2d(x.astype(np.float16), 2)
    assert not y16.creator.fast_path
    np.testing.assert_array_equal(y16.array, F.max_pooling_2d(x.astype(np.float16), 2).array)


def test_return_indices_is_chainers():
    x = _input((2, 3, 4, 4), np.float32, False)
    y, indexes = max_pooling_2d(x, 2, return_indices=True)
    y_ref, indexes_ref = F.max_pooling_2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(y.array, y_ref.array)
    np.testing.assert_array_equal(indexes, indexes_ref)


def test_bad_input():
    with pytest.raises(ValueError, match=r'max_pooling_2d: expected x of shape \(N, C, H, W\)'):
        max_pooling_2d(np.zeros((3, 4, 4), np.float32), 2)
    with pytest.raises(chainer.utils.type_check.InvalidType):
        MaxPoolingND(2, 2).apply((np.zeros((3, 4, 4), np.float32),))

"""The threaded CPU ReLU: chainer.functions.relu's values and gradients (exactly, on one or
several threads), exact first and second derivatives in float64, and the fallbacks."""
import numpy as np
import pytest

import chainer
import chainer.functions as F
from chainer import gradient_check, testing

from groupy.fast_cpu import conv2d as cpu_conv2d, activation as cpu_relu
from groupy.fast_cpu.activation import ReLU, ReLUGrad, relu


def _away_from_zero(shape, dtype, seed=0):
    x = np.random.RandomState(seed).uniform(-1, 1, shape)
    x[np.abs(x) < 0.05] = 0.5  # keep the numerical gradient away from the kink
    return x.astype(dtype)


@testing.parameterize(*testing.product({
    'shape': [(5,), (3, 4), (4, 3, 2, 5, 5)],
    'dtype': [np.float32, np.float64],
    'threads': [1, 2],
}))
class TestReLU:

    @pytest.fixture(autouse=True)
    def _threads(self, monkeypatch):
        monkeypatch.setattr(cpu_relu, '_MIN_PARALLEL_SIZE', 0)
        before = cpu_conv2d.get_num_threads()
        cpu_conv2d.set_num_threads(self.threads)
        yield
        cpu_conv2d.set_num_threads(before)

    def test_equals_chainer(self):
        x = _away_from_zero(self.shape, self.dtype)
        x.flat[::3] = 0  # zeros: no gradient, as in Chainer
        gy = _away_from_zero(self.shape, self.dtype, seed=1)
        results = []
        for fn in (relu, F.relu):
            v = chainer.Variable(x.copy())
            y = fn(v)
            y.grad = gy.copy()
            y.backward()
            results.append((y, v.grad))
        (y, gx), (y_ref, gx_ref) = results
        assert isinstance(y.creator, ReLU) and y.dtype == self.dtype
        np.testing.assert_array_equal(y.array, y_ref.array)
        np.testing.assert_array_equal(gx, gx_ref)

    def test_backward_and_double_backward(self):
        x = _away_from_zero(self.shape, np.float64)
        gy = _away_from_zero(self.shape, np.float64, seed=1)
        ggx = _away_from_zero(self.shape, np.float64, seed=2)
        gradient_check.check_backward(relu, x, gy, dtype=np.float64)
        gradient_check.check_double_backward(relu, x, gy, ggx, dtype=np.float64)


def test_gradient_node_is_threaded_one():
    y = relu(chainer.Variable(np.ones((2, 3), np.float32)))
    assert isinstance(y.creator, ReLU)
    gx, = chainer.grad([y], [y.creator.inputs[0].get_variable()], enable_double_backprop=True)
    assert isinstance(gx.creator, ReLUGrad)


@pytest.mark.parametrize('case', ['float16', 'switch off'])
def test_falls_back_to_chainer(case):
    x = _away_from_zero((3, 4), np.float16 if case == 'float16' else np.float32)
    with chainer.using_config('groupy_fast_cpu_conv', case != 'switch off'):
        y = relu(x)
    np.testing.assert_array_equal(y.array, F.relu(x).array)

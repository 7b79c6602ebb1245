"""The fast CPU orientation max (max over axis 2): F.max(x, axis=2)'s outputs and gradients bit
for bit (ties, signed zeros and NaN included), on 1 and 2 threads; exact first and second
derivatives away from ties; the fallbacks to Chainer."""
import numpy as np
import pytest

import chainer
import chainer.functions as F
from chainer import gradient_check, testing
from chainer.functions.math import minmax

from groupy.fast_cpu import conv2d as cpu_conv2d
from groupy.fast_cpu import orientation_pooling as om
from groupy.fast_cpu.orientation_pooling import orientation_max


def _bits(a):
    a = np.ascontiguousarray(a)
    return a.view({4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def _forward_backward(fn, x, gy):
    xv = chainer.Variable(x.copy())
    y = fn(xv)
    y.grad = gy.copy()
    y.backward()
    return y, y.array, xv.grad


def _distinct(shape, dtype, seed):
    """Values at least 0.1 apart along every axis-2 fibre (no ties, also under the numerical
    gradient's perturbations)."""
    rng = np.random.RandomState(seed)
    ranks = np.argsort(rng.uniform(size=shape), axis=2).astype(np.float64)
    return (ranks * 0.1 + rng.uniform(-2, 2, shape[:2] + (1,) + shape[3:])).astype(dtype)


@testing.parameterize(*testing.product({
    'shape': [(2, 3, 4, 5, 5), (3, 2, 8, 4, 6), (4, 3, 4), (2, 3, 4, 7)],
    'dtype': [np.float32, np.float64],
    'threads': [1, 2],
}))
class TestOrientationMax:

    @pytest.fixture(autouse=True)
    def _threads(self, monkeypatch):
        monkeypatch.setattr(om, '_MIN_PARALLEL_SIZE', 0)
        before = cpu_conv2d.get_num_threads()
        cpu_conv2d.set_num_threads(self.threads)
        yield
        cpu_conv2d.set_num_threads(before)

    def test_equals_f_max_bit_for_bit_with_ties(self):
        rng = np.random.RandomState(0)
        x = rng.randint(-2, 3, self.shape).astype(self.dtype)  # many ties
        x[x == 0] = np.where(rng.uniform(size=(x == 0).sum()) < 0.5, -0., 0.)  # signed zeros
        x.reshape(-1)[::17] = np.nan
        gy = rng.standard_normal(self.shape[:2] + self.shape[3:]).astype(self.dtype)
        y, ours, gx = _forward_backward(orientation_max, x, gy)
        assert y.creator.fast_path
        _, ref, gx_ref = _forward_backward(lambda v: F.max(v, axis=2), x, gy)
        np.testing.assert_array_equal(_bits(ours), _bits(ref))
        np.testing.assert_array_equal(_bits(gx), _bits(gx_ref))
        # a tie gives every tied maximum the whole gradient (by hand, on one fibre)
        fibre = np.isfinite(x).all(axis=2) & ((x == x.max(axis=2, keepdims=True)).sum(axis=2) > 1)
        n, c = np.argwhere(fibre.reshape(fibre.shape[0], fibre.shape[1], -1).any(axis=2))[0]
        flat_x = x[n, c].reshape(x.shape[2], -1)
        col = np.argwhere(fibre[n, c].reshape(-1))[0, 0]
        winners = flat_x[:, col] == flat_x[:, col].max()
        np.testing.assert_array_equal(gx[n, c].reshape(x.shape[2], -1)[:, col],
                                      np.where(winners, gy[n, c].reshape(-1)[col], 0))

    def test_backward_and_double_backward(self):
        x = _distinct(self.shape, np.float64, 1)
        rng = np.random.RandomState(2)
        gy = rng.standard_normal(self.shape[:2] + self.shape[3:])
        ggx = rng.standard_normal(self.shape)
        gradient_check.check_backward(orientation_max, x, gy, dtype=np.float64,
                                      rtol=1e-6, atol=1e-6)
        gradient_check.check_double_backward(orientation_max, x, gy, ggx, dtype=np.float64,
                                             rtol=1e-6, atol=1e-6)

    def test_scatter_and_gather_are_adjoint(self):
        rng = np.random.RandomState(3)
        x = rng.randint(0, 3, self.shape).astype(self.dtype)
        y = x.max(axis=2)
        gy = rng.standard_normal(y.shape).astype(self.dtype)
        ggx = rng.standard_normal(x.shape).astype(self.dtype)
        scattered = om.OrientationMaxScatterCPU(x, y).apply((gy,))[0].array
        gathered = om.OrientationMaxGatherCPU(x, y).apply((ggx,))[0].array
        np.testing.assert_allclose((scattered * ggx).sum(), (gy * gathered).sum(), rtol=1e-5)


@pytest.mark.parametrize('case', ['float16', 'switch off'])
def test_falls_back_to_chainer(case):
    x = np.random.RandomState(4).standard_normal((2, 3, 4, 5)).astype(
        np.float16 if case == 'float16' else np.float32)
    with chainer.using_config('groupy_fast_cpu_conv', case != 'switch off'):
        y = orientation_max(x)
    assert isinstance(y.creator, minmax.Max)
    np.testing.assert_array_equal(y.array, x.max(axis=2))


def test_bad_input():
    with pytest.raises(chainer.utils.type_check.InvalidType):
        om.OrientationMaxScatterCPU(np.zeros((2, 3, 4, 5), np.float32),
                                    np.zeros((2, 3, 5), np.float32)).apply(
            (np.zeros((2, 3, 4), np.float32),))

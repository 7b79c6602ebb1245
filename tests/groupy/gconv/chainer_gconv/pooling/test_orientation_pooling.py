"""Orientation (stabiliser) pooling: max/mean over the G axis, differentiable, and turning
p4/p4m-equivariant maps into maps that only move their pixels."""
import numpy as np
import pytest

from chainer import gradient_check

from groupy.gconv.chainer_gconv import transform_feature_map
from groupy.gconv.chainer_gconv.pooling import orientation_max_pooling, orientation_mean_pooling

POOLS = [(orientation_max_pooling, np.max), (orientation_mean_pooling, np.mean)]


@pytest.mark.parametrize('dtype', [np.float16, np.float32, np.float64])
@pytest.mark.parametrize('pool, reduce', POOLS)
def test_values(pool, reduce, dtype):
    x = np.random.RandomState(0).standard_normal((2, 3, 8, 5, 4)).astype(dtype)
    y = pool(x)
    assert y.shape == (2, 3, 5, 4) and y.dtype == dtype
    np.testing.assert_allclose(y.array, reduce(x, axis=2), rtol=1e-3 if dtype == np.float16
                               else 1e-6)


@pytest.mark.parametrize('pool, reduce', POOLS)
def test_check_backward(pool, reduce):
    x = np.random.RandomState(1).permutation(2 * 2 * 4 * 3 * 3).reshape(2, 2, 4, 3, 3) * 0.1
    gy = np.random.RandomState(2).uniform(-1, 1, (2, 2, 3, 3))
    gradient_check.check_backward(pool, x, gy, dtype=np.float64, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize('group, g, stabiliser', [('p4', 4, 'C4'), ('p4m', 8, 'D4')])
@pytest.mark.parametrize('pool, reduce', POOLS)
def test_pooled_map_only_moves_its_pixels(pool, reduce, group, g, stabiliser):
    x = np.random.RandomState(3).standard_normal((1, 2, g, 5, 5))
    y = pool(x).array
    for element in range(g):
        gx = transform_feature_map(x, group, element, stabiliser)
        np.testing.assert_allclose(pool(gx).array,
                                   transform_feature_map(y, 'Z2', element, stabiliser),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('pool, reduce', POOLS)
def test_bad_input(pool, reduce):
    with pytest.raises(ValueError, match=r'expected a feature map .*\(batch, channels, G, '
                                         r'height, width\), got shape \(2, 4, 5, 5\)'):
        pool(np.zeros((2, 4, 5, 5)))

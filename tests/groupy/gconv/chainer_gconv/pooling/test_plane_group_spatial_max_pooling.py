"""plane_group_spatial_max_pooling pools each stabiliser plane spatially, is differentiable and
commutes with rotating/flipping maps whose pooling windows tile them symmetrically."""
import numpy as np
import pytest

import chainer.functions as F
from chainer import gradient_check

from groupy.gconv.chainer_gconv import transform_feature_map
from groupy.gconv.chainer_gconv.pooling import plane_group_spatial_max_pooling


@pytest.mark.parametrize('ksize, stride, pad, cover_all', [
    (2, None, 0, True), (3, 2, 1, True), (3, 2, 1, False), (2, 1, 0, True)])
@pytest.mark.parametrize('g', [4, 8])
def test_equals_max_pooling_of_each_plane(g, ksize, stride, pad, cover_all):
    x = np.random.RandomState(0).standard_normal((2, 3, g, 7, 6))
    y = plane_group_spatial_max_pooling(x, ksize, stride=stride, pad=pad, cover_all=cover_all)
    assert y.shape[:3] == (2, 3, g)
    for s in range(g):
        expected = F.max_pooling_2d(x[:, :, s], ksize, stride=stride, pad=pad,
                                    cover_all=cover_all).array
        np.testing.assert_array_equal(y.array[:, :, s], expected)


def test_check_backward():
    x = np.random.RandomState(1).permutation(2 * 2 * 4 * 4 * 4).reshape(2, 2, 4, 4, 4) * 0.1
    gy = np.random.RandomState(2).uniform(-1, 1, (2, 2, 4, 2, 2))
    gradient_check.check_backward(lambda x: plane_group_spatial_max_pooling(x, 2), x, gy,
                                  dtype=np.float64, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize('group, g, stabiliser', [('p4', 4, 'C4'), ('p4m', 8, 'D4')])
def test_commutes_with_the_stabiliser(group, g, stabiliser):
    x = np.random.RandomState(3).standard_normal((1, 2, g, 8, 8))
    y = plane_group_spatial_max_pooling(x, 2).array
    for element in range(g):
        gx = transform_feature_map(x, group, element, stabiliser)
        np.testing.assert_array_equal(
            plane_group_spatial_max_pooling(gx, 2).array,
            transform_feature_map(y, group, element, stabiliser))


def test_bad_input():
    with pytest.raises(ValueError, match=r'\(batch, channels, G, height, width\).*\(2, 3, 4, 4\)'):
        plane_group_spatial_max_pooling(np.zeros((2, 3, 4, 4)), 2)
    with pytest.raises(ValueError, match='float16, float32 or float64'):
        plane_group_spatial_max_pooling(np.zeros((2, 3, 4, 4, 4), np.int32), 2)

"""Orientation pooling over a mask of stabiliser planes: the max/mean of the selected planes
only, given as booleans, indices or a partial link's kept elements; without a mask (or with
every plane selected) bit-identical to the plain call; gradients; clear errors."""
import numpy
import pytest

import chainer
from chainer import gradient_check

from groupy.gconv.chainer_gconv import orientation_max_pooling, orientation_mean_pooling
from groupy.gconv.chainer_gconv.partial import PartialP4MConvP4M
from groupy.gconv.chainer_gconv.pooling.orientation_pooling import plane_indices


def fmap(g=8, dtype=numpy.float32, seed=0):
    return numpy.random.RandomState(seed).randn(2, 3, g, 5, 5).astype(dtype)


@pytest.mark.parametrize('pool,reduce', [(orientation_max_pooling, numpy.max),
                                         (orientation_mean_pooling, numpy.mean)])
def test_masked_pooling_takes_the_selected_planes_only(pool, reduce):
    x = fmap()
    x[:, :, 1] += 100.0  # a dropped plane that would dominate the max and the mean
    link = PartialP4MConvP4M(1, 1, initial_gate_logit=[-1, 1, -1, 2, -1, -1, 3])
    kept = link.kept_elements()
    assert kept.indices == (0, 2, 4, 7)
    mask = numpy.zeros(8, bool)
    mask[list(kept.indices)] = True
    want = reduce(x[:, :, list(kept.indices)], axis=2)
    for m in (mask, list(mask), kept, kept.indices, list(kept.indices), numpy.array([7, 0, 4, 2])):
        y = pool(x, mask=m)
        assert y.shape == (2, 3, 5, 5)
        numpy.testing.assert_allclose(y.array, want, rtol=1e-6)
    assert pool(x).array.min() > 10  # without the mask the dropped plane counts


@pytest.mark.parametrize('pool', [orientation_max_pooling, orientation_mean_pooling])
def test_no_mask_and_full_mask_are_bit_identical_to_the_plain_call(pool):
    x = fmap(4)
    plain = pool(x).array
    for mask in (None, numpy.ones(4, bool), [0, 1, 2, 3]):
        assert pool(x, mask=mask).array.tobytes() == plain.tobytes()


@pytest.mark.parametrize('pool', [orientation_max_pooling, orientation_mean_pooling])
def test_masked_pooling_gradient(pool):
    x = fmap(4, numpy.float64)
    gy = numpy.random.RandomState(1).randn(2, 3, 5, 5)
    gradient_check.check_backward(lambda v: pool(v, mask=[0, 2]), x, gy, dtype=numpy.float64)
    xv = chainer.Variable(x)
    pool(xv, mask=[0, 2]).grad = None
    y = pool(xv, mask=[0, 2])
    y.grad = gy
    y.backward()
    numpy.testing.assert_array_equal(xv.grad[:, :, [1, 3]], 0)


@pytest.mark.parametrize('mask,match', [
    (numpy.ones(3, bool), r'a boolean mask must have one entry per plane \(4,\)'),
    ([0, 4], r'plane indices must be in 0\.\.3'),
    (numpy.zeros(4, bool), 'selects no plane'),
    ([], 'selects no plane'),
    ([0.5, 1.0], 'expected a boolean mask of length 4 or a sequence of plane indices'),
    ('e', 'expected a boolean mask'),
])
def test_bad_masks_are_named(mask, match):
    with pytest.raises(ValueError, match='orientation_max_pooling: mask: ' + match):
        orientation_max_pooling(fmap(4), mask=mask)


def test_plane_indices():
    assert plane_indices([True, False, True, False], 4) == [0, 2]
    assert plane_indices((3, 1, 3), 4) == [1, 3]
    assert plane_indices([0, 1, 2, 3], 4) is None

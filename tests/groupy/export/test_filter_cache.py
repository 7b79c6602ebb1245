"""SplitGConv2D's transformed-filter cache: used only in pure inference, never stale."""
import numpy
import pytest

import chainer
from chainer import optimizers, serializers

from groupy.gconv.chainer_gconv import P4ConvP4, P4MConvZ2


def infer(link, x):
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        return link(x).array


def fresh_copy(link):
    """The same layer built anew from the current parameters (no cache)."""
    other = type(link)(link.in_channels, link.out_channels, ksize=link.ksize,
                       initialW=link.W.array.copy(),
                       initial_bias=None if link.b is None else link.b.array.copy())
    other.cache_filters = False
    return other


@pytest.fixture
def layer_and_input():
    rng = numpy.random.RandomState(0)
    link = P4ConvP4(2, 3, ksize=3, initial_bias=rng.normal(size=3).astype('f'))
    x = rng.standard_normal((2, 2, 4, 7, 7)).astype('f')
    return link, x


def test_reused_in_inference_and_equal_to_uncached(layer_and_input):
    link, x = layer_and_input
    y1 = infer(link, x)
    bank = link._filter_cache[1][0]
    y2 = infer(link, x)
    assert link._filter_cache[1][0] is bank  # not rebuilt
    numpy.testing.assert_array_equal(y1, y2)
    numpy.testing.assert_array_equal(y1, infer(fresh_copy(link), x))


def test_not_used_in_training_or_with_backprop(layer_and_input):
    link, x = layer_and_input
    infer(link, x)
    with chainer.using_config('train', False):
        y = link(x)  # backprop enabled: the filters must stay in the graph
    y.grad = numpy.ones_like(y.array)
    link.cleargrads()
    y.backward()
    assert link.W.grad is not None and numpy.abs(link.W.grad).sum() > 0
    assert link._filter_cache is None


def test_optimizer_update_is_seen(layer_and_input):
    link, x = layer_and_input
    before = infer(link, x)
    opt = optimizers.SGD(lr=0.1)
    opt.setup(link)
    loss = chainer.functions.sum(link(x) ** 2)
    link.cleargrads()
    loss.backward()
    opt.update()  # updates W and b in place
    after = infer(link, x)
    assert numpy.abs(after - before).max() > 1e-3
    numpy.testing.assert_allclose(after, infer(fresh_copy(link), x), rtol=1e-6, atol=1e-6)


def test_in_place_edit_and_load_are_seen(layer_and_input, tmp_path):
    link, x = layer_and_input
    infer(link, x)
    link.W.array[0, 0, 0, 0, 0] += 1.0
    numpy.testing.assert_allclose(infer(link, x), infer(fresh_copy(link), x), atol=1e-6)
    other = P4ConvP4(2, 3, ksize=3, initial_bias=numpy.ones(3, 'f'))
    path = str(tmp_path / 'layer.h5')
    serializers.save_hdf5(path, other)
    serializers.load_hdf5(path, link)
    numpy.testing.assert_array_equal(infer(link, x), infer(fresh_copy(other), x))


def test_filter_mask_change_is_seen():
    rng = numpy.random.RandomState(1)
    mask = numpy.ones((3, 1, 1), 'f')
    link = P4MConvZ2(1, 3, ksize=3, filter_mask=mask)
    x = rng.standard_normal((1, 1, 6, 6)).astype('f')
    y = infer(link, x)
    link.filter_mask[1] = 0  # drop output channel 1
    y2 = infer(link, x)
    numpy.testing.assert_array_equal(y2[:, 1], 0 * y2[:, 1])
    numpy.testing.assert_array_equal(y2[:, 0], y[:, 0])


def test_switched_off(layer_and_input):
    link, x = layer_and_input
    link.cache_filters = False
    infer(link, x)
    assert link.__dict__.get('_filter_cache') is None

"""collapse(): the plain network computes the G-CNN's test-mode function (every experiment
model, random and rotated inputs, with and without BN folding), on users' networks too, and
names unsupported layers."""
import numpy
import pytest

import chainer
import chainer.functions as F
import chainer.links as L

from groupy.export import UnsupportedLayerError, collapse
from groupy.export.collapsed_net import CollapsedNet
from groupy.gconv.chainer_gconv import (P4ConvP4, P4ConvZ2, P4MConvP4M, P4MConvZ2,
                                        orientation_mean_pooling,
                                        plane_group_spatial_max_pooling)
from groupy.fast_cpu import BatchNormalization, relu


def run(f, x):
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        return f(x).array


def assert_same_function(model, net, x):
    reference = run(model.logits, x)
    got = run(net, x)
    assert got.shape == reference.shape
    scale = float(numpy.abs(reference).max())
    assert scale > 0
    assert float(numpy.abs(got - reference).max()) <= 1e-5 * scale


@pytest.mark.parametrize('fold_bn', [False, True])
def test_experiment_models(small_model, experiment_model, fold_bn):
    model, x = small_model(*experiment_model)
    net = collapse(model, fold_bn=fold_bn, x=x)
    assert isinstance(net, CollapsedNet)
    kinds = {type(s) for s in net.steps}
    # no G-convolution survives: only planar links and parameterless steps
    assert not any(isinstance(s, (P4ConvZ2, P4ConvP4, P4MConvZ2, P4MConvP4M)) for s in net.steps)
    assert_same_function(model, net, x)
    assert_same_function(model, net, numpy.ascontiguousarray(numpy.rot90(x, 1, axes=(2, 3))))
    assert_same_function(model, net, numpy.ascontiguousarray(x[:, :, ::-1]))
    # another batch size works too
    assert_same_function(model, net, x[:1])
    if fold_bn:
        unfolded = collapse(model, x=x)
        n_bn = sum(isinstance(s, L.BatchNormalization) for s in unfolded.steps)
        n_bn_folded = sum(isinstance(s, L.BatchNormalization) for s in net.steps)
        assert n_bn_folded < n_bn or n_bn == 0
    assert kinds


class UserNet(chainer.Chain):
    """A p4m network written differently from the experiment models: 5-D G-feature maps,
    spatial pooling between blocks, orientation mean pooling, a flatten and a linear layer."""

    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.c1 = P4MConvZ2(2, 3, ksize=3, pad=1)
            self.bn1 = BatchNormalization(3)
            self.c2 = P4MConvP4M(3, 4, ksize=3)
            self.c3 = P4MConvP4M(4, 4, ksize=2, stride=2, flat_channels=False)
            self.fc = L.Linear(None, 5)

    def forward(self, x):
        h = relu(self.bn1(self.c1(x)))
        h = plane_group_spatial_max_pooling(h, 2, 2)
        h = F.leaky_relu(self.c2(h), 0.1) + 1 * self.c2(h)
        h = orientation_mean_pooling(F.tanh(self.c3(h)))
        return self.fc(h)  # Linear flattens (N, 4, H, W)


def test_user_network_with_fold(random_bn):
    model = UserNet()
    x = numpy.random.RandomState(0).standard_normal((3, 2, 10, 10)).astype(numpy.float32)
    run(model, x)  # initialise the Linear layer
    random_bn(model)
    for fold in (False, True):
        net = collapse(model, fold_bn=fold, x=x)
        reference, got = run(model, x), run(net, x)
        assert numpy.abs(got - reference).max() <= 1e-5 * numpy.abs(reference).max()


def test_fold_removes_the_bn_after_a_conv_only():
    model = UserNet()
    x = numpy.zeros((1, 2, 10, 10), numpy.float32)
    run(model, x)
    before = collapse(model, x=x)
    after = collapse(model, fold_bn=True, x=x)
    count = lambda net: sum(isinstance(s, L.BatchNormalization) for s in net.steps)  # noqa
    assert (count(before), count(after)) == (1, 0)
    # bn1 normalises 3 feature maps of 8 planes: 24 planar channels
    bn = next(s for s in before.steps if isinstance(s, L.BatchNormalization))
    assert bn.avg_mean.shape == (24,)


def test_default_input_shape_is_inferred():
    model = chainer.Sequential(P4ConvZ2(3, 2, ksize=3), P4ConvP4(2, 2, ksize=3))
    net = collapse(model)
    x = numpy.random.RandomState(1).standard_normal((2, 3, 9, 9)).astype(numpy.float32)
    numpy.testing.assert_allclose(run(net, x), run(model, x), rtol=0, atol=1e-6)
    assert run(net, x).shape == (2, 2, 4, 5, 5)  # 5-D G-feature maps come back as such


class Unsupported(chainer.Chain):
    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.conv = P4ConvZ2(1, 2, ksize=3)
            self.head = chainer.Sequential(lambda h: F.sin(h))

    def forward(self, x):
        return self.head(self.conv(x))


def test_unsupported_layer_is_named():
    x = numpy.zeros((1, 1, 8, 8), numpy.float32)
    with pytest.raises(UnsupportedLayerError, match=r'/head.*Sin'):
        collapse(Unsupported(), x=x)


def test_rejects_non_links():
    with pytest.raises(TypeError, match='chainer.Link'):
        collapse(lambda x: x)


def test_float64_model_stays_float64():
    model = chainer.Sequential(P4ConvZ2(1, 2, ksize=3, dtype=numpy.float64),
                               lambda h: orientation_mean_pooling(h))
    x = numpy.random.RandomState(2).standard_normal((2, 1, 7, 7))
    net = collapse(model, x=x)
    assert all(p.dtype == numpy.float64 for p in net.params())
    numpy.testing.assert_allclose(run(net, x), run(model, x), rtol=0, atol=1e-12)


class Deep(chainer.Chain):
    """A lifting layer and 1500 elementwise functions: deeper than Python's recursion limit."""

    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.conv = P4ConvZ2(1, 2, ksize=3)

    def forward(self, x):
        h = self.conv(x)
        for _ in range(750):
            h = relu(h) * 1.0
        return orientation_mean_pooling(h)


def test_deep_network():
    model = Deep()
    x = numpy.random.RandomState(3).standard_normal((2, 1, 6, 6)).astype(numpy.float32)
    net = collapse(model, x=x)
    assert len(net.steps) == 1 + 1500 + 1
    numpy.testing.assert_array_equal(run(net, x), run(model, x))
    from groupy.gconv.chainer_gconv import exactness
    assert exactness(model, (1, 1, 6, 6), 'p4').exact

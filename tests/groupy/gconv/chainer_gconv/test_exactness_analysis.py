"""exactness(): the layer-by-layer analysis agrees with check_equivariance on the experiment
models and on small networks whose expected behaviour follows from the window geometry by
hand ((H + 2p - k) a multiple of the stride)."""
import inspect

import numpy
import pytest

import chainer

from groupy.gconv.chainer_gconv import (P4ConvP4, P4ConvZ2, P4MConvP4M, P4MConvZ2,
                                        check_equivariance)
from groupy.gconv.chainer_gconv.exactness_analysis import exactness
from groupy.fast_cpu import Convolution2D

SMALL = {'channels': 3, 'widths': (4, 6), 'num_blocks': 1, 'nc32': 2, 'nc16': 3, 'nc8': 4}


def experiment_model(package, name):
    from gconv_experiments.training.models import load_model_class
    cls = load_model_class(name, 'gconv_experiments.{}.models'.format(package))
    params = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in SMALL.items() if k in params})


def numeric_error(net, x, input_group, output_group, group):
    errors = check_equivariance(net, input_group, output_group, x=x,
                                stabiliser='C4' if group == 'p4' else 'D4')
    return max(errors.values())


# (package, model, input size, group, exact?)
CASES = [
    ('MNIST_ROT', 'P4CNN', 28, 'p4', True),
    ('MNIST_ROT', 'P4CNN', 29, 'p4', False),   # 2x2 pooling on an odd (25x25) map
    ('MNIST_ROT', 'P4CNN', 28, 'p4m', False),  # p4 filters are not flipped
    ('MNIST_ROT', 'P4CNN_RP', 30, 'p4', True),
    ('MNIST_ROT', 'P4MCNN', 28, 'p4m', True),
    ('MNIST_ROT', 'Z2CNN', 28, 'p4', False),   # planar filters
    ('CIFAR10', 'P4AllCNNC', 32, 'p4', False),  # stride 2 on 32x32
    ('CIFAR10', 'P4AllCNNC', 33, 'p4', True),
    ('CIFAR10', 'P4AllCNNC', 31, 'p4', False),  # fine at the first stride 2, not the second
    ('CIFAR10', 'P4MAllCNNC', 33, 'p4m', True),
    ('CIFAR10', 'P4MAllCNNC', 32, 'p4m', False),
]


@pytest.mark.parametrize('package,name,size,group,expected', CASES)
def test_agrees_with_check_equivariance(package, name, size, group, expected):
    model = experiment_model(package, name)
    channels = 1 if package == 'MNIST_ROT' else 3
    report = exactness(model, (1, channels, size, size), group)
    assert report.exact is expected
    assert report.output_kind == 'invariant'
    x = numpy.random.RandomState(0).standard_normal((2, channels, size, size)).astype('f')
    error = numeric_error(model.logits, x, 'Z2', 'invariant', group)
    if expected:
        assert report.first_lost is None and report.suggested_sizes == []
        assert error < 1e-4
    else:
        assert error > 1e-3
        assert report.first_lost is not None and report.first_lost.reason
        text = str(report)
        assert report.first_lost.name in text and 'NOT exactly' in text


def test_names_the_stride_layer_and_proposes_sizes():
    model = experiment_model('CIFAR10', 'P4AllCNNC')
    r32 = exactness(model, (1, 3, 32, 32), 'p4')
    r31 = exactness(model, (1, 3, 31, 31), 'p4')
    # 32 + 2 - 3 = 31 is odd at the first stride-2 layer; 31 -> 16 at the second
    assert 'stride-2' in r32.first_lost.reason and '32x32' in r32.first_lost.reason
    assert 'stride-2' in r31.first_lost.reason and '16x16' in r31.first_lost.reason
    assert r32.layers.index(r32.first_lost) < r31.layers.index(r31.first_lost)
    # exact sizes need H = 1 (mod 4): 29, 33
    assert r32.suggested_sizes == [33, 29]
    assert r31.suggested_sizes == [29, 33]


def test_filter_reason_has_no_size_fix():
    model = experiment_model('MNIST_ROT', 'P4CNN')
    report = exactness(model, (1, 1, 28, 28), 'p4m')
    assert 'not flipped' in report.first_lost.reason
    assert report.suggested_sizes == []
    assert report.layers.index(report.first_lost) == 0 or \
        report.layers[0].kind != 'conv'


def test_mnist_pooling_sizes():
    report = exactness(experiment_model('MNIST_ROT', 'P4CNN'), (1, 1, 29, 29), 'p4')
    assert report.first_lost.kind == 'max_pool'
    assert report.suggested_sizes == [28, 30]


class Chain2(chainer.Chain):
    """Z2 -> p4 (3x3) -> p4 with the given kernel, stride and pad: output p4 maps."""

    def __init__(self, ksize, stride, pad, first=P4ConvZ2, second=P4ConvP4):
        super().__init__()
        with self.init_scope():
            self.a = first(1, 2, ksize=3, pad=1)
            self.b = second(2, 2, ksize=ksize, stride=stride, pad=pad)

    def forward(self, x):
        return self.b(self.a(x))


@pytest.mark.parametrize('ksize,stride,pad,size,expected', [
    (3, 2, 1, 5, True),    # 5 + 2 - 3 = 4, even
    (3, 2, 1, 6, False),   # 5, odd
    (2, 2, 0, 6, True),    # even kernel: 6 - 2 = 4
    (2, 2, 0, 7, False),   # 5
    (3, 3, 0, 9, True),    # 6 = 2 * 3
    (3, 3, 0, 10, False),  # 7
    (4, 1, 1, 7, True),    # stride 1 always fits
])
def test_window_geometry(ksize, stride, pad, size, expected):
    net = Chain2(ksize, stride, pad)
    report = exactness(net, (1, 1, size, size), 'p4')
    assert report.exact is expected
    assert report.output_kind == 'p4'
    x = numpy.random.RandomState(1).standard_normal((1, 1, size, size)).astype('f')
    error = numeric_error(net, x, 'Z2', 'p4', 'p4')
    assert (error < 1e-5) is expected
    if not expected:
        assert report.first_lost.name.startswith('/b')
        for s in report.suggested_sizes:  # the proposed sizes work
            assert exactness(net, (1, 1, s, s), 'p4').exact
            assert abs(s - size) <= 3


def test_asymmetric_padding_is_lost():
    net = Chain2(3, 1, (1, 0))
    report = exactness(net, (1, 1, 7, 7), 'p4')
    assert not report.exact and 'two axes' in report.first_lost.reason
    assert report.suggested_sizes == []


def test_p4m_layers_under_p4_and_p4m():
    net = Chain2(3, 2, 1, P4MConvZ2, P4MConvP4M)
    for group in ('p4', 'p4m'):
        report = exactness(net, (1, 1, 9, 9), group)
        assert report.exact and report.output_kind == 'p4m'
    x = numpy.random.RandomState(2).standard_normal((1, 1, 9, 9)).astype('f')
    assert numeric_error(net, x, 'Z2', 'p4m', 'p4m') < 1e-5


def test_planar_convolution_with_invariant_filters():
    # 5x5: the C4 orbits of (0, 1) and (0, 3) differ, so C4-symmetric is not D4-symmetric
    w = numpy.random.RandomState(3).standard_normal((2, 1, 5, 5)).astype('f')
    sym4 = sum(numpy.rot90(w, r, axes=(2, 3)) for r in range(4))
    net = chainer.Sequential(Convolution2D(1, 2, 5, initialW=sym4))
    assert exactness(net, (1, 1, 9, 9), 'p4').exact
    assert not exactness(net, (1, 1, 9, 9), 'p4m').exact  # not flip-invariant
    sym8 = sym4 + sym4[:, :, ::-1]
    assert exactness(chainer.Sequential(Convolution2D(1, 2, 5, initialW=sym8)),
                     (1, 1, 9, 9), 'p4m').exact
    x = numpy.random.RandomState(4).standard_normal((1, 1, 9, 9)).astype('f')
    assert numeric_error(net, x, 'Z2', 'Z2', 'p4') < 1e-5
    assert numeric_error(net, x, 'Z2', 'Z2', 'p4m') > 1e-3


def test_bad_arguments():
    net = Chain2(3, 1, 1)
    with pytest.raises(ValueError, match="'p4' or 'p4m'"):
        exactness(net, (1, 1, 7, 7), 'C8')
    with pytest.raises(ValueError, match='square'):
        exactness(net, (1, 1, 7, 9), 'p4')


@pytest.mark.parametrize('name,size', [('P4MResNet', 33), ('P4MResNet', 32), ('ResNet', 33)])
def test_resnets_agree(name, size):
    """Whatever the ResNets' heads do (the release's p4m head is not invariant), the analysis
    and the numerical check agree."""
    model = experiment_model('CIFAR10', name)
    report = exactness(model, (1, 3, size, size), 'p4m')
    x = numpy.random.RandomState(5).standard_normal((2, 3, size, size)).astype('f')
    error = numeric_error(model.logits, x, 'Z2', 'invariant', 'p4m')
    assert error < 1e-4 or error > 1e-3
    assert report.exact is (error < 1e-4)


class Head(chainer.Chain):
    """p4 features -> orientation max -> global mean or flatten -> linear."""

    def __init__(self, flatten):
        super().__init__()
        self.flatten = flatten
        with self.init_scope():
            self.conv = P4ConvZ2(1, 2, ksize=3)
            self.fc = chainer.links.Linear(None, 3)

    def forward(self, x):
        from groupy.gconv.chainer_gconv import orientation_max_pooling
        h = orientation_max_pooling(self.conv(x))
        if not self.flatten:
            h = chainer.functions.mean(h, axis=(2, 3))
        return self.fc(h)


@pytest.mark.parametrize('flatten', [False, True])
def test_linear_heads(flatten):
    net = Head(flatten)
    x = numpy.random.RandomState(6).standard_normal((2, 1, 7, 7)).astype('f')
    with chainer.using_config('train', False):
        net(x)  # initialise the linear layer
    report = exactness(net, (1, 1, 7, 7), 'p4')
    assert report.exact is not flatten
    if flatten:
        assert 'flattens 5x5 maps' in report.first_lost.reason
    error = numeric_error(net, x, 'Z2', 'invariant', 'p4')
    assert (error < 1e-5) is not flatten


def _d4_invariant_filters(out_channels, in_channels, k, seed):
    w = numpy.random.RandomState(seed).standard_normal((out_channels, in_channels, k, k))
    sym = sum(numpy.rot90(w, r, axes=(2, 3)) for r in range(4))
    return (sym + sym[:, :, ::-1]).astype('f')


@pytest.mark.parametrize('ksize,dilate,stride,size,expected', [
    # dilation d spreads a k-tap filter over d * (k - 1) + 1 pixels: the window that must fit
    # the stride grid. k = 3, d = 2 spans 5 pixels: 8 - 5 = 3 is a multiple of 3 (exact), while
    # an undilated 3x3 window would leave 8 - 3 = 5 (not exact), and the other way round on 9.
    (3, 2, 3, 8, True),
    (3, 2, 3, 9, False),
    # k = 2, d = 2 spans 3 pixels: 7 - 3 = 4 is even (exact); 7 - 2 = 5 would not be
    (2, 2, 2, 7, True),
    (2, 2, 2, 8, False),
    (2, 3, 2, 8, True),    # spans 4 pixels: 8 - 4 = 4
])
def test_dilated_convolution_window_spans_the_dilated_taps(ksize, dilate, stride, size,
                                                          expected):
    """A dilated convolution is analysed with its dilated window, not as if undilated."""
    net = chainer.Sequential(chainer.links.Convolution2D(
        1, 2, ksize, stride=stride, dilate=dilate,
        initialW=_d4_invariant_filters(2, 1, ksize, 7)))
    span = dilate * (ksize - 1) + 1
    report = exactness(net, (1, 1, size, size), 'p4m')
    conv = next(l for l in report.layers if l.kind == 'conv')
    assert conv.in_size == size and conv.out_size == (size - span) // stride + 1
    assert report.exact is expected
    x = numpy.random.RandomState(8).standard_normal((2, 1, size, size)).astype('f')
    error = numeric_error(net, x, 'Z2', 'Z2', 'p4m')
    assert (error < 1e-5) is expected, error
    if not expected:
        assert 'stride-{}'.format(stride) in report.first_lost.reason
        for s in report.suggested_sizes:  # (s - span) a multiple of the stride
            assert (s - span) % stride == 0


@pytest.mark.parametrize('dilate', [(1, 2), (2, 1)])
def test_dilation_differing_between_the_axes_is_lost(dilate):
    """Dilations, like kernels, strides and pads, must be equal along both axes: a 3x3 filter
    dilated along one axis only covers a 3x5 (or 5x3) window, which a quarter turn does not
    map onto itself, whatever the map size."""
    net = chainer.Sequential(chainer.links.Convolution2D(
        1, 2, 3, dilate=dilate, initialW=_d4_invariant_filters(2, 1, 3, 9)))
    report = exactness(net, (1, 1, 9, 9), 'p4')
    assert not report.exact and 'two axes' in report.first_lost.reason
    assert report.suggested_sizes == []
    with chainer.using_config('train', False):  # the output is not even square
        y = net(numpy.zeros((1, 1, 9, 9), 'f'))
    assert y.shape[2] != y.shape[3]


class _OwnLifting(chainer.Link):
    """A Z2 -> p4 convolution written with transform_filter and F.convolution_2d, with one bias
    per output channel *and plane* (out * 4 values), as a user might write it."""

    def __init__(self, bias):
        super().__init__()
        from groupy.gconv.make_gconv_indices import make_c4_z2_indices
        self.inds = make_c4_z2_indices(3)
        self.bias = numpy.asarray(bias, 'f')
        with self.init_scope():
            self.W = chainer.Parameter(
                numpy.random.RandomState(11).standard_normal((2, 1, 1, 3, 3)).astype('f'))

    def forward(self, x):
        from groupy.gconv.chainer_gconv.transform_filter import transform_filter
        tw = chainer.functions.reshape(transform_filter(self.W, self.inds), (8, 1, 3, 3))
        y = chainer.functions.convolution_2d(x, tw, self.bias)
        return chainer.functions.reshape(y, (x.shape[0], 2, 4) + y.shape[2:])


@pytest.mark.parametrize('per_plane', [False, True])
def test_bias_must_be_shared_over_the_stabiliser_planes(per_plane):
    """A bias differing between the 4 planes of one output channel breaks equivariance."""
    bias = numpy.random.RandomState(12).standard_normal(8) if per_plane else \
        numpy.repeat([0.5, -1.0], 4)
    net = _OwnLifting(bias)
    report = exactness(net, (1, 1, 7, 7), 'p4')
    assert report.exact is not per_plane
    if per_plane:
        assert 'bias differs between the stabiliser planes' in report.first_lost.reason
    x = numpy.random.RandomState(13).standard_normal((2, 1, 7, 7)).astype('f')
    error = numeric_error(net, x, 'Z2', 'p4', 'p4')
    assert (error < 1e-5) is not per_plane, error

"""CIFAR10 models as released: layer lists, initialisation, the final ResNet BN's batch
statistics, parameter counts of the paper's configurations (exact release counts), and
invariance of the p4/p4m All-CNN-C logits to rotations (and flips) of the input."""
import math

import chainer
import numpy as np
import pytest
from groupy.gconv.chainer_gconv import check_equivariance

from gconv_experiments import training
from gconv_experiments.CIFAR10 import param_counts

MODELS = 'gconv_experiments.CIFAR10.models'
# small widths keep the CPU time down
SMALL = {
    'AllCNNC': {'widths': (6, 8)},
    'P4AllCNNC': {'widths': (3, 4)},
    'P4MAllCNNC': {'widths': (2, 3)},
    'ResNet': {'num_blocks': 2, 'nc32': 3, 'nc16': 4, 'nc8': 5},
    'P4MResNet': {'num_blocks': 2, 'nc32': 2, 'nc16': 3, 'nc8': 4},
}


def _model(name, **extra):
    cls = training.load_model_class(name, MODELS)
    assert cls.__name__ == name
    return cls(**dict(SMALL[name], **extra))


def _images(n, size=32, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 3, size, size)).astype(np.float32)


def test_every_model_file_is_listed():
    assert training.available_models(MODELS) == sorted(SMALL)


@pytest.mark.parametrize('name', sorted(SMALL))
def test_forward_backward_batch_of_2(name):
    np.random.seed(0)
    model = _model(name)
    x = _images(2)
    t = np.array([3, 7], dtype=np.int32)
    with chainer.using_config('train', True):
        loss, acc = model(x, t)
    assert loss.shape == () and loss.dtype == np.float32 and np.isfinite(loss.array)
    assert 0 <= float(acc.array) <= 1
    model.cleargrads()
    loss.backward()
    for path, p in model.namedparams():
        assert p.grad is not None and p.grad.shape == p.shape, path
        assert np.all(np.isfinite(p.grad)), path
    assert sum(float(np.abs(p.grad).sum()) for p in model.params()) > 0
    with chainer.using_config('train', False):
        assert model.logits(x).shape == (2, 10)


# Parameter counts of the release's models, worked out by hand from its layer lists
# (AllCNNC.py, P4AllCNNC.py, P4MAllCNNC.py, ResNet.py, P4MResNet.py of ca88c58); the two p4m
# ResNets are also the figures stated for the release. Paper: Table 2 (rounded).
EXPECTED = {
    'All-CNN-C Z2': (1_372_254, 1.37), 'All-CNN-C p4': (1_371_006, 1.37),
    'All-CNN-C p4m': (1_219_678, 1.22), 'ResNet44 Z2': (2_639_434, 2.64),
    'ResNet44 p4m': (2_622_878, 2.62), 'ResNet26 Z2': (7_236_046, 7.24),
    'ResNet26 p4m': (7_173_110, 7.17),
}


@pytest.mark.parametrize('label, name, kwargs, n, release, paper', param_counts.table(),
                         ids=[row[0] for row in param_counts.CONFIGURATIONS])
def test_parameter_counts_equal_the_release_exactly(label, name, kwargs, n, release, paper):
    exact, millions = EXPECTED[label]
    assert n == exact, f'{label}: {n:,} parameters, the release has {exact:,}'
    assert release == exact, f'{label}: param_counts formula gives {release:,}'
    assert round(n / 1e6, 2) == millions and paper == millions * 1e6


def test_param_counts_prints_every_configuration(capsys):
    assert param_counts.main() == 0
    out = capsys.readouterr().out
    for label, (exact, millions) in EXPECTED.items():
        line = next(l for l in out.splitlines() if l.startswith(label))
        assert line.count(f'{exact:,}') == 2 and f'{millions:.2f}M' in line, line


@pytest.mark.parametrize('name, g, std', [('AllCNNC', 1, 0.05), ('P4AllCNNC', 4, 0.035),
                                          ('P4MAllCNNC', 8, 0.035)])
def test_allcnnc_layers_and_init_as_released(name, g, std):
    np.random.seed(2)
    cls = training.load_model_class(name, MODELS)
    m = cls()
    w1, w2 = {1: (96, 192), 4: (48, 96), 8: (32, 64)}[g]
    gi = () if g == 1 else (g,)
    expected = [((w1, 3) + ((1,) if g > 1 else ()) + (3, 3), 1)] + [
        ((o, i) + gi + (k, k), p) for o, i, k, p in
        [(w1, w1, 3, 1), (w1, w1, 3, 1), (w2, w1, 3, 1), (w2, w2, 3, 1), (w2, w2, 3, 1),
         (w2, w2, 3, 1), (w2, w2, 1, 0), (10, w2, 1, 0)]]
    layers = [getattr(m, f'l{i}') for i in range(1, 10)]
    assert [(l.conv.W.shape, tuple(l.conv.pad)[0]) for l in layers] == expected
    assert [tuple(l.conv.stride)[0] for l in layers] == [1, 1, 2, 1, 1, 2, 1, 1, 1]
    for layer in layers:  # every layer, l9 included: bias, BN and ReLU
        assert layer.bn is not None and layer.act is not None and layer.conv.b is not None
        np.testing.assert_array_equal(layer.conv.b.array, 0)
        w = layer.conv.W.array
        assert abs(w.std() / std - 1) < 5 / math.sqrt(2 * w.size), (layer, w.std())


def test_allcnnc_logits_are_a_mean_of_relu_outputs():
    """BN + ReLU on l9 before the global mean: every logit is >= 0 (an affine l9 would not be)."""
    np.random.seed(3)
    m = _model('AllCNNC')
    with chainer.using_config('train', True):
        y = m.logits(_images(8)).array
    assert y.min() >= 0 and (y > 0).mean() > 0.5


@pytest.mark.parametrize('name, planar_init, planar_std, g_std', [
    ('ResNet', 'he', lambda fan: math.sqrt(2 / fan), None),
    ('ResNet', 'chainer_v1.9', lambda fan: 2 ** 0.25 / math.sqrt(fan), None),
    ('P4MResNet', 'he', lambda fan: math.sqrt(2 / fan), lambda fan: math.sqrt(2 / fan)),
])
def test_resnet_init_and_biases_as_released(name, planar_init, planar_std, g_std):
    np.random.seed(4)
    m = _model(name, nc32=8, nc16=8, nc8=8, planar_init=planar_init)
    convs = [link for link in m.links() if hasattr(link, 'W')]
    assert len(convs) == 1 + 3 * 2 * 2 + 2 + 1  # first, 2 per block, 2 shortcuts, top
    for conv in convs:
        assert conv.b is not None
        np.testing.assert_array_equal(conv.b.array, 0)
        w = conv.W.array
        fan = int(np.prod(w.shape[1:]))
        planar = w.ndim == 4
        std = planar_std(fan) if planar else g_std(fan)
        if w.size >= 500:
            assert abs(w.std() / std - 1) < 5 / math.sqrt(2 * w.size), (conv, w.std(), std)
    if name == 'P4MResNet':  # the release's head: 1x1 conv over nc8 x 8 channels
        assert m.top.W.shape == (10, 8 * 8, 1, 1)


@pytest.mark.parametrize('name', ['ResNet', 'P4MResNet'])
def test_final_bn_uses_the_evaluation_batch_statistics_by_default(name):
    np.random.seed(5)
    x = _images(6, seed=5)
    for flag in (True, False):
        m = _model(name, final_bn_batch_stats=flag)
        with chainer.using_config('train', True):
            for seed in range(3):  # population statistics away from their initial values
                m.logits(_images(8, seed=10 + seed))
        mean_before = m.bn_out.avg_mean.copy()
        with chainer.using_config('train', False), chainer.no_backprop_mode():
            whole = m.logits(x).array
            halves = np.concatenate([m.logits(x[:3]).array, m.logits(x[3:]).array])
        if flag:
            assert np.abs(whole - halves).max() > 1e-3  # depends on the other images
            np.testing.assert_array_equal(m.bn_out.avg_mean, mean_before)
        else:
            np.testing.assert_allclose(whole, halves, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('kwargs, match', [
    ({'num_blocks': 0}, 'num_blocks must be an integer >= 1, got 0'),
    ({'nc32': 10.5}, 'nc32 must be an integer >= 1, got 10.5'),
    ({'final_bn_batch_stats': 'yes'}, 'final_bn_batch_stats must be True or False'),
    ({'planar_init': 'xavier'}, "planar_init must be one of 'he', 'chainer_v1.9'"),
])
def test_resnet_net_kwargs_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _model('ResNet', **kwargs)


@pytest.mark.parametrize('kwargs, match', [
    ({'widths': (3,)}, 'widths must be 2 integers'), ({'widths': (3, 'x')}, 'widths must be'),
    ({'init_std': 0}, 'init_std must be a number > 0'), ({'dropout': 0.5}, 'dropout must be True'),
])
def test_allcnnc_net_kwargs_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        training.load_model_class('AllCNNC', MODELS)(**kwargs)


@pytest.mark.parametrize('name, size, stabiliser', [
    ('P4AllCNNC', 9, 'C4'), ('P4AllCNNC', 33, 'C4'), ('P4MAllCNNC', 9, 'D4'),
    ('AllCNNC', 9, None), ('P4MResNet', 9, None),
])
def test_logits_invariant_to_rotations_and_flips(name, size, stabiliser):
    """Odd sizes keep every stride-2 grid symmetric, so the G-All-CNN-Cs are exactly invariant
    (in float32, to 1e-4); the planar model is not, nor is the release's P4MResNet, whose
    final 1x1 convolution weighs each stabiliser channel separately."""
    np.random.seed(1)
    extra = {'AllCNNC': {'init_std': 0.5}, 'P4MResNet': {'final_bn_batch_stats': False}}
    model = _model(name, **extra.get(name, {}))
    rng = np.random.default_rng(1)
    with chainer.using_config('train', True):  # move the BN statistics away from 0/1
        model.logits(rng.standard_normal((4, 3, size, size)).astype(np.float32))
    x = rng.standard_normal((2, 3, size, size)).astype(np.float32)
    errors = check_equivariance(model.logits, 'Z2', 'invariant', x=x,
                                stabiliser=stabiliser or 'D4')
    errors.pop('r=0' if stabiliser == 'C4' else 'm=0,r=0')  # the identity
    if stabiliser is None:
        assert min(errors.values()) > 1e-3, errors
    else:
        assert max(errors.values()) < 1e-4, errors


class _LinkRecorder(chainer.LinkHook):
    """The inputs and output of the last forward call of every link."""
    name = 'link_recorder'

    def __init__(self):
        self.inputs, self.outputs = {}, {}

    def forward_postprocess(self, args):
        if args.forward_name == 'forward':
            self.inputs[id(args.link)] = [getattr(a, 'array', a) for a in args.args]
            self.outputs[id(args.link)] = getattr(args.out, 'array', args.out)


def _recorded_logits(model, x, train):
    rec = _LinkRecorder()
    with chainer.using_config('train', train), chainer.no_backprop_mode(), rec:
        y = model.logits(x).array
    return y, (lambda link: rec.inputs[id(link)][0]), (lambda link: rec.outputs[id(link)])


def _check_dropout(before, after, ratio):
    """`after` is `before` with a fraction `ratio` of its entries zeroed (binomial, 5 sigma)
    and the others scaled by 1 / (1 - ratio)."""
    live = before != 0
    dropped = float((after[live] == 0).mean())
    n = int(live.sum())
    assert abs(dropped - ratio) < 5 * math.sqrt(ratio * (1 - ratio) / n), (dropped, ratio, n)
    kept = live & (after != 0)
    np.testing.assert_allclose(after[kept], before[kept] / (1 - ratio), rtol=1e-5)


@pytest.mark.parametrize('name', ['AllCNNC', 'P4AllCNNC'])
def test_allcnnc_dropout_ratios_and_places_as_released(name):
    """Dropout 0.2 on the input image, 0.5 after l3 and after l6, in training only."""
    np.random.seed(6)
    m = _model(name)
    x = _images(8, seed=6)
    _, inp, out = _recorded_logits(m, x, train=True)
    _check_dropout(x, inp(m.l1), 0.2)
    _check_dropout(out(m.l3), inp(m.l4), 0.5)
    _check_dropout(out(m.l6), inp(m.l7), 0.5)
    for a, b in ((m.l1, m.l2), (m.l2, m.l3), (m.l4, m.l5), (m.l5, m.l6), (m.l7, m.l8),
                 (m.l8, m.l9)):
        np.testing.assert_array_equal(out(a), inp(b))  # no dropout elsewhere
    _, inp, out = _recorded_logits(m, x, train=False)
    np.testing.assert_array_equal(inp(m.l1), x)
    np.testing.assert_array_equal(inp(m.l4), out(m.l3))
    np.testing.assert_array_equal(inp(m.l7), out(m.l6))


@pytest.mark.parametrize('name', ['AllCNNC', 'P4AllCNNC', 'P4MAllCNNC'])
def test_allcnnc_logits_are_the_mean_of_l9_over_plane_and_stabiliser(name):
    np.random.seed(7)
    m = _model(name)
    # training mode: batch statistics give l9 outputs of order 1
    y, _, out = _recorded_logits(m, _images(3, seed=7), train=True)
    h = out(m.l9).astype(np.float64)
    expected = h.reshape(h.shape[0], h.shape[1], -1).sum(axis=2) / np.prod(h.shape[2:])
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(expected - h.reshape(h.shape[:2] + (-1,)).max(axis=2)).max() > 0.1


@pytest.mark.parametrize('batch_stats', [True, False])
@pytest.mark.parametrize('name', ['ResNet', 'P4MResNet'])
def test_resnet_head_is_bn_relu_global_average_then_1x1_conv(name, batch_stats):
    """The head: BN (with this batch's statistics by default, else the population's), ReLU,
    the *average* over the plane (p4m: of every stabiliser channel separately), the 1x1
    convolution; worked out by hand from the last block's output."""
    np.random.seed(8)
    m = _model(name, final_bn_batch_stats=batch_stats)
    rng = np.random.default_rng(8)
    bn = m.bn_out
    c = bn.gamma.shape[0]
    bn.gamma.array[:] = rng.uniform(0.5, 2.0, c)
    bn.beta.array[:] = rng.uniform(-0.5, 0.5, c)
    bn.avg_mean[:] = rng.uniform(-0.5, 0.5, c)
    bn.avg_var[:] = rng.uniform(0.5, 2.0, c)
    y, inp, out = _recorded_logits(m, _images(4, seed=8), train=False)
    h = out(m.blocks[-1]).astype(np.float64)  # (N, C, [G,] 8, 8)
    axes = (0,) + tuple(range(2, h.ndim))
    shape = (1, c) + (1,) * (h.ndim - 2)
    mean = h.mean(axis=axes) if batch_stats else bn.avg_mean
    var = h.var(axis=axes) if batch_stats else bn.avg_var
    z = (h - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + bn.eps)
    z = np.maximum(bn.gamma.array.reshape(shape) * z + bn.beta.array.reshape(shape), 0)
    pooled = z.reshape(z.shape[0], -1, z.shape[-2] * z.shape[-1]).mean(axis=2)  # (N, C*G)
    np.testing.assert_allclose(inp(m.top)[:, :, 0, 0], pooled, rtol=1e-4, atol=1e-5)
    assert np.abs(pooled - z.reshape(pooled.shape + (-1,)).max(axis=2)).max() > 1e-2
    w, b = m.top.W.array[:, :, 0, 0].astype(np.float64), m.top.b.array
    np.testing.assert_allclose(y, pooled @ w.T + b, rtol=1e-4, atol=1e-5)

"""collapse() and ONNX export of a trained partial G-CNN: dropped planes become zero filters,
the pooling over the kept planes a plane selection, the function and the remaining
equivariance are those of the network in test mode."""
import numpy
import pytest

import chainer

from groupy.export import collapse
from groupy.export.collapsed_net import TakePlanes
from groupy.gconv.chainer_gconv.trace import UnsupportedLayerError, trace
from groupy.fast_cpu import Convolution2D
from groupy.gconv.chainer_gconv import equivariant_elements
from groupy.gconv.chainer_gconv.partial import partial_links, predicted_equivariance
from groupy.gconv.chainer_gconv.partial_training import anneal_temperature, set_gate_learning_rate

# gates (r1, r2, r3) per partial layer of PartialP4CNN (l2..l6, top): kept sets {e, r2} or C4
GATES = {'l2': (-1, 1, -1), 'l3': (1, 1, 1), 'l4': (-2, 3, -1), 'l5': (1, 1, 1),
         'l6': (-1, 2, -3), 'top': (-1, 1, -1)}


def run(f, x):
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        return f(x).array


@pytest.fixture
def trained(random_bn):
    """A PartialP4CNN after a few training steps, gates then set to GATES, random BN stats."""
    from gconv_experiments.MNIST_ROT.models.PartialP4CNN import PartialP4CNN
    numpy.random.seed(0)
    model = PartialP4CNN(channels=3, n_classes=3)
    optimizer = chainer.optimizers.Adam(alpha=1e-2)
    optimizer.setup(model)
    set_gate_learning_rate(model)
    rng = numpy.random.RandomState(0)
    for step in range(3):
        anneal_temperature(model, step / 3)
        x = rng.rand(4, 1, 28, 28).astype(numpy.float32)
        with chainer.using_config('train', True):
            loss, _ = model(x, rng.randint(0, 3, 4).astype(numpy.int32))
        model.cleargrads()
        loss.backward()
        optimizer.update()
    for name, gates in GATES.items():
        link = model.top if name == 'top' else getattr(model, name).conv
        link.gate_logits.array[:] = gates
    random_bn(model)
    x = numpy.random.RandomState(1).standard_normal((2, 1, 28, 28)).astype(numpy.float32)
    return model, x


@pytest.mark.parametrize('fold_bn', [False, True])
def test_collapsed_partial_net_is_the_same_function(trained, fold_bn):
    model, x = trained
    net = collapse(model, fold_bn=fold_bn, x=x)
    reference = run(model.logits, x)
    for batch in (x, numpy.ascontiguousarray(numpy.rot90(x, 1, axes=(2, 3))), x[:1]):
        want = run(model.logits, batch)
        numpy.testing.assert_allclose(run(net, batch), want, atol=1e-5 * numpy.abs(reference).max())
    takes = [s for s in net.steps if isinstance(s, TakePlanes)]
    assert len(takes) == 1 and takes[0].indices == [0, 2]  # the top layer's kept planes


def test_dropped_planes_are_zero_filters(trained):
    model, x = trained
    net = collapse(model, x=x)
    convs = [s for s in net.steps if isinstance(s, Convolution2D)]
    links = [model.l1.conv] + partial_links(model)
    assert len(convs) == len(links) == 7
    for conv, link in zip(convs[1:], links[1:]):
        kept = numpy.zeros(4, bool)
        kept[list(link.kept_elements().indices)] = True
        W = conv.W.array.reshape(link.out_channels, 4, -1)
        b = conv.b.array.reshape(link.out_channels, 4)
        assert (W[:, ~kept] == 0).all() and (b[:, ~kept] == 0).all()
        assert (numpy.abs(W[:, kept]).max(axis=2) > 0).all()


def test_collapsed_partial_net_keeps_exactly_the_predicted_equivariance(trained):
    model, x = trained
    net = collapse(model, x=x)
    assert predicted_equivariance(model).names == ('e', 'r2')
    measured_model = equivariant_elements(model.logits, 'Z2', 'invariant', x=x)
    measured_net = equivariant_elements(net, 'Z2', 'invariant', x=x)
    assert measured_model == measured_net == predicted_equivariance(model)


def test_onnx_export_of_a_trained_partial_net(trained, tmp_path):
    pytest.importorskip('onnx')
    pytest.importorskip('onnxruntime')
    pytest.importorskip('onnx_chainer')
    from groupy.export import export_onnx
    from groupy.export.onnx import run_onnxruntime
    model, x = trained
    net = collapse(model, fold_bn=True, x=x)
    path = str(tmp_path / 'partial.onnx')
    reference = run(model.logits, x)
    diff = export_onnx(net, x, path)
    assert diff <= 1e-4 * max(1.0, numpy.abs(reference).max())
    numpy.testing.assert_allclose(run_onnxruntime(path, x)[0], reference, atol=1e-4)


def test_other_indexing_is_still_unsupported():
    class Net(chainer.Chain):
        def __init__(self):
            super().__init__()
            with self.init_scope():
                self.fc = chainer.links.Linear(4, 2)

        def forward(self, x):
            return self.fc(x[:, 1:])

    with pytest.raises(UnsupportedLayerError, match=r'only as x\[:, :, planes\]'):
        trace(Net(), numpy.zeros((2, 5), numpy.float32))

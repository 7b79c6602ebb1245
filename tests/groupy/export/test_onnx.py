"""ONNX export of collapsed networks, evaluated in onnxruntime."""
import numpy
import pytest

import chainer

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')
pytest.importorskip('onnx_chainer')
import onnx  # noqa: E402

from groupy.export import collapse, export_onnx  # noqa: E402
from groupy.export.onnx import run_onnxruntime  # noqa: E402


def logits(model, x):
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        return model.logits(x).array


@pytest.mark.parametrize('package,name,kwargs,shape', [
    ('gconv_experiments.MNIST_ROT.models', 'P4CNN', {}, (2, 1, 28, 28)),
    ('gconv_experiments.CIFAR10.models', 'P4MAllCNNC', {}, (2, 3, 32, 32)),
])
def test_onnxruntime_matches(random_bn, tmp_path, package, name, kwargs, shape):
    from gconv_experiments.training.models import load_model_class
    model = random_bn(load_model_class(name, package)(**kwargs))
    x = numpy.random.RandomState(0).standard_normal(shape).astype(numpy.float32)
    path = str(tmp_path / 'model.onnx')
    net = collapse(model, fold_bn=True, x=x)
    diff = export_onnx(net, x, path)
    reference = logits(model, x)
    got = run_onnxruntime(path, x)[0]
    assert got.shape == reference.shape
    assert numpy.abs(got - reference).max() <= 1e-4 * max(1.0, numpy.abs(reference).max())
    assert diff <= 1e-4 * max(1.0, numpy.abs(reference).max())
    proto = onnx.load(path)
    assert [i.name for i in proto.graph.input] == ['x']  # weights are initializers only
    assert len(proto.graph.initializer) > 0
    ops = {n.op_type for n in proto.graph.node}
    assert 'Conv' in ops and 'BatchNormalization' not in ops  # folded


class _DriftingNet(chainer.Chain):
    """A convolution whose Chainer output, after its first call (the one traced into the
    file), moves by ``drift``: the file and Chainer then differ by exactly ``drift``."""

    def __init__(self, drift):
        super().__init__()
        with self.init_scope():
            self.conv = chainer.links.Convolution2D(1, 2, 3)
        self.drift, self.calls = drift, 0

    def forward(self, x):
        self.calls += 1
        y = self.conv(x)
        return y if self.calls == 1 else y + self.drift


def test_reported_difference_is_the_max_absolute_difference(tmp_path):
    """export_onnx reports the largest |onnxruntime - Chainer| entry, not a mean of them."""
    import onnxruntime
    x = numpy.random.RandomState(3).standard_normal((2, 1, 6, 6)).astype(numpy.float32)
    drift = numpy.zeros((2, 2, 4, 4), numpy.float32)
    drift[1, 0, 2, 3] = 0.75  # one entry of 64; the file is 0.75 below Chainer there
    drift[0, 1, 0, 0] = -0.25  # and 0.25 above here: the signed max would be 0.25
    net = _DriftingNet(drift)
    path = str(tmp_path / 'net.onnx')
    diff = export_onnx(net, x, path)
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    from_file = session.run(None, {session.get_inputs()[0].name: x})[0]
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        in_chainer = net(x).array
    independent = numpy.abs(from_file.astype(numpy.float64) - in_chainer).max()
    assert independent == pytest.approx(0.75, abs=1e-5)  # the file holds the undrifted net
    assert diff == pytest.approx(independent, rel=1e-6)
    assert export_onnx(net, x, path, check=False) is None


@pytest.mark.parametrize('opset', [1, 6, 12])
def test_an_opset_onnx_chainer_does_not_convert_to_is_refused_before_writing(tmp_path, opset):
    """Opset 1 used to give a file onnxruntime cannot run (Relu(1)), left behind at `path`."""
    from groupy.gconv.chainer_gconv import P4ConvZ2
    from groupy.export.onnx import supported_opsets
    assert supported_opsets() == range(7, 12)
    net = collapse(P4ConvZ2(1, 2, ksize=3), input_shape=(1, 1, 5, 5))
    path = tmp_path / 'net.onnx'
    with pytest.raises(ValueError, match=r'opset_version must be one of the opsets onnx-chainer converts to, '
                                         r'7 to 11, got {}'.format(opset)):
        export_onnx(net, numpy.ones((1, 1, 5, 5), numpy.float32), str(path), opset_version=opset)
    assert not path.exists()

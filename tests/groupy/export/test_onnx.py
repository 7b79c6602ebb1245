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

"""ONNX export of collapsed networks, evaluated in onnxruntime; the command line."""
import numpy
import pytest

import chainer

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')
pytest.importorskip('onnx_chainer')
import onnx  # noqa: E402

from groupy.export import collapse, export_onnx  # noqa: E402
from groupy.export.__main__ import main  # noqa: E402
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


def test_command_line(tmp_path, capsys):
    from gconv_experiments.MNIST_ROT.models.P4CNN import P4CNN
    weights, out = str(tmp_path / 'w.h5'), str(tmp_path / 'p4cnn.onnx')
    model = P4CNN(channels=3)
    chainer.serializers.save_hdf5(weights, model)
    assert main(['P4CNN', weights, '--out', out, '--net_kwargs', "{'channels': 3}",
                 '--input-shape', '3,1,28,28', '--no-fold-bn']) == 0
    line = capsys.readouterr().out
    assert 'max |onnxruntime - P4CNN (test mode)|' in line
    assert float(line.rsplit('=', 1)[1]) < 1e-4
    x = numpy.random.RandomState(5).standard_normal((3, 1, 28, 28)).astype('f')
    numpy.testing.assert_allclose(run_onnxruntime(out, x)[0], logits(model, x), atol=1e-4)


def test_command_line_errors(tmp_path, capsys):
    assert main(['NoSuchModel', 'w.h5', '--out', str(tmp_path / 'a.onnx')]) == 2
    assert 'no experiment model' in capsys.readouterr().err
    assert main(['P4CNN', str(tmp_path / 'missing.h5'), '--out', str(tmp_path / 'a.onnx')]) == 2
    assert 'missing.h5' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(['P4CNN', 'w.h5', '--out', 'a.onnx', '--input-shape', '1,1'])


def test_command_line_default_shape_and_model_file(tmp_path, capsys):
    """A model .py path, the default input shape (1, 3, 32, 32 for 3-channel models)."""
    import inspect
    import gconv_experiments.CIFAR10.models.P4AllCNNC as module
    params = inspect.signature(module.P4AllCNNC).parameters
    kwargs = {'widths': (3, 4)} if 'widths' in params else {}
    model = module.P4AllCNNC(**kwargs)
    weights, out = str(tmp_path / 'w.h5'), str(tmp_path / 'a.onnx')
    chainer.serializers.save_hdf5(weights, model)
    assert main([module.__file__, weights, '--out', out, '--net_kwargs', repr(kwargs)]) == 0
    assert 'input 1x3x32x32' in capsys.readouterr().out
    x = numpy.random.RandomState(6).standard_normal((1, 3, 32, 32)).astype('f')
    numpy.testing.assert_allclose(run_onnxruntime(out, x)[0], logits(model, x), atol=1e-4)

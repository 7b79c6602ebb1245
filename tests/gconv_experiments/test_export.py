"""python -m gconv_experiments.export: a trained experiment model as an ONNX file, checked in
onnxruntime against the Chainer model."""
import numpy
import pytest

import chainer

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')
pytest.importorskip('onnx_chainer')

from gconv_experiments.export import main  # noqa: E402
from groupy.export.onnx import run_onnxruntime  # noqa: E402


def logits(model, x):
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        return model.logits(x).array


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


def test_runs_as_a_module():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, '-m', 'gconv_experiments.export', '--help'],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith('usage: python -m gconv_experiments.export')
    assert 'MODEL_FILE' in out and '--fold-bn' in out

"""python -m gconv_experiments.export: a trained experiment model as an ONNX file, checked in
onnxruntime against the Chainer model; bad input is one line and writes nothing."""
import os
import re

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


@pytest.fixture(scope='module')
def p4cnn_weights(tmp_path_factory):
    from gconv_experiments.MNIST_ROT.models.P4CNN import P4CNN
    weights = str(tmp_path_factory.mktemp('weights') / 'w.h5')
    chainer.serializers.save_hdf5(weights, P4CNN(channels=3))
    return weights


@pytest.mark.parametrize('extra, message', [
    (['--input-shape', '1,3,28,28'], r"--input-shape 1,3,28,28: P4CNN does not take a batch of this shape "
                                     r"\(P4ConvZ2: expected input of shape .*got \(1, 3, 28, 28\)\); "
                                     r"expected N,C,H,W such as 1,1,28,28$"),
    (['--input-shape', '1,1,4,4'], r"--input-shape 1,1,4,4: P4CNN does not take a batch of this shape "
                                   r"\(P4ConvP4: input maps of size 2x2 are smaller than the 3x3 filter.*\); "
                                   r"expected N,C,H,W such as 1,1,28,28$"),
    (['--input-shape', '2,1,4,28,28'], r"--input-shape 2,1,4,28,28: P4CNN does not take a batch of this shape "
                                       r"\(.*\); expected N,C,H,W such as 1,1,28,28$"),
    (['--opset', '1'], r"--opset 1: expected an ONNX opset onnx-chainer converts to, 7 to 11$"),
    (['--opset', '12'], r"--opset 12: expected an ONNX opset onnx-chainer converts to, 7 to 11$"),
])
def test_bad_input_shape_and_opset_are_one_line_and_write_nothing(tmp_path, capsys, p4cnn_weights, extra, message):
    out = tmp_path / 'p4cnn.onnx'
    status = main(['P4CNN', p4cnn_weights, '--out', str(out), '--net_kwargs', "{'channels': 3}"] + extra)
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('python -m gconv_experiments.export: error: '), err
    assert re.search(message, lines[0]), lines[0]
    assert os.listdir(tmp_path) == []  # no file, no temporary


def test_a_missing_or_wrong_out_folder_is_one_line(tmp_path, capsys, p4cnn_weights):
    base = ['P4CNN', p4cnn_weights, '--net_kwargs', "{'channels': 3}"]
    missing = tmp_path / 'no_such_folder' / 'p4cnn.onnx'
    assert main(base + ['--out', str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ('python -m gconv_experiments.export: error: --out {}: no folder {} (expected the path '
                           'of a file in an existing folder; create the folder first)'.format(missing, missing.parent))
    assert main(base + ['--out', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ('python -m gconv_experiments.export: error: --out {}: is a folder; expected the path '
                           'of the ONNX file to write'.format(tmp_path))
    assert os.listdir(tmp_path) == []


def test_a_refused_export_leaves_an_earlier_file_as_it_was(tmp_path, capsys, p4cnn_weights):
    out = tmp_path / 'p4cnn.onnx'
    base = ['P4CNN', p4cnn_weights, '--out', str(out), '--net_kwargs', "{'channels': 3}"]
    assert main(base) == 0
    before = out.read_bytes()
    assert main(base + ['--opset', '1']) == 2 and main(base + ['--input-shape', '1,3,28,28']) == 2
    assert out.read_bytes() == before and os.listdir(tmp_path) == ['p4cnn.onnx']
    capsys.readouterr()
    assert main(base + ['--opset', '7']) == 0  # a good export replaces it, no temporary left
    assert out.read_bytes() != before and os.listdir(tmp_path) == ['p4cnn.onnx']

"""python -m gconv_experiments.export MODEL_FILE WEIGHTS.h5 --out model.onnx [--net_kwargs ...]
[--input-shape 1,1,28,28] [--fold-bn | --no-fold-bn] [--opset N]

Builds the model class of MODEL_FILE (a models/<Name>.py file defining the Chain ``Name``, as
``--modelfn`` of the training scripts, or a bare name of the experiment models), loads the
weights of a training snapshot (or any Chainer HDF5 file of the model), collapses it into a
plain CNN (:func:`groupy.export.collapse`), writes it as ONNX and checks the file in
onnxruntime against the Chainer model on a random batch, printing the largest difference.

The file appears at --out only once it has passed that check (it is written beside it and
renamed). Bad input (a model that does not take --input-shape, a missing --out folder, an
--opset onnx-chainer does not convert to) is one line ``... error: <flag>: ...`` and exit
status 2.
"""
import argparse
import os
import sys

import numpy

import chainer
from chainer.utils.type_check import InvalidType

from gconv_experiments.atomic_file import atomic_path
from gconv_experiments.command_errors import run_command
from groupy.export import UnsupportedLayerError, collapse, export_onnx
from groupy.export.collapse import guess_input_shape
from groupy.export.onnx import run_onnxruntime, supported_opsets

__all__ = ['build_parser', 'load_model', 'main']

PROG = 'python -m gconv_experiments.export'
_MODEL_PACKAGES = ('gconv_experiments.MNIST_ROT.models', 'gconv_experiments.CIFAR10.models')


def _shape(text):
    try:
        shape = tuple(int(v) for v in text.split(','))
    except ValueError:
        shape = ()
    if len(shape) not in (4, 5) or min(shape) < 1:
        raise argparse.ArgumentTypeError(
            'expected 4 (or 5) positive ints separated by commas such as 1,1,28,28, got '
            '{!r}'.format(text))
    return shape


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError('expected an integer in 0..{}, got {!r}'.format(2 ** 32 - 1, text))
    return value


def build_parser():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split(
        '\n\n')[1], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('model_file', metavar='MODEL_FILE',
                   help='model .py file (class named like the file) or experiment model name')
    p.add_argument('weights', metavar='WEIGHTS.h5', help='snapshot.h5 of a run or a Chainer '
                   'HDF5 file of the model')
    p.add_argument('--out', required=True, help='ONNX file to write')
    p.add_argument('--net_kwargs', default='{}', help='model constructor keywords (the run\'s '
                   '--net_kwargs) as a Python dict literal')
    p.add_argument('--input-shape', type=_shape, default=None,
                   help='batch shape N,C,H,W of the exported graph (default: 1,C,28,28 for '
                   '1-channel models, 1,C,32,32 otherwise)')
    p.add_argument('--fold-bn', action=argparse.BooleanOptionalAction, default=True,
                   help='fold batch normalisation into the preceding convolutions')
    p.add_argument('--opset', type=int, default=None, help='ONNX opset, one onnx-chainer converts '
                   'to (7 to 11; default: the newest)')
    p.add_argument('--seed', type=_seed, default=0, help='seed of the random check batch (0..2**32-1)')
    return p


def load_model(model_file, weights, net_kwargs):
    """The model of MODEL_FILE built with net_kwargs (a dict literal string), weights loaded."""
    from gconv_experiments.training.config import ConfigError
    from gconv_experiments.training.settings import literal_dict
    from gconv_experiments.training.models import (available_models, build_model,
                                                   load_model_class)
    from gconv_experiments.training.checkpoint import load_weights
    kwargs = literal_dict(net_kwargs, '--net_kwargs')
    if model_file.endswith('.py') or '/' in model_file:
        cls = load_model_class(model_file)
    else:
        package = next((p for p in _MODEL_PACKAGES if model_file in available_models(p)), None)
        if package is None:
            raise ConfigError('MODEL_FILE {!r}: no experiment model of that name (available: {}); '
                              'or give the path of a model .py file'.format(
                                  model_file, ', '.join(n for p in _MODEL_PACKAGES
                                                        for n in available_models(p))))
        cls = load_model_class(model_file, package)
    return load_weights(weights, build_model(cls, kwargs))


def _check_out(path):
    """--out must name a file in an existing, writable folder."""
    from gconv_experiments.training.config import ConfigError
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ConfigError('--out {}: is a folder; expected the path of the ONNX file to write'.format(path))
    if not os.path.isdir(folder):
        raise ConfigError('--out {}: no folder {} (expected the path of a file in an existing folder; '
                          'create the folder first)'.format(path, folder))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError('--out {}: the folder {} is not writable'.format(path, folder))


def _check_opset(opset):
    from gconv_experiments.training.config import ConfigError
    opsets = supported_opsets()
    if opset is not None and opset not in opsets:
        raise ConfigError('--opset {}: expected an ONNX opset onnx-chainer converts to, {} to {}'.format(
            opset, opsets[0], opsets[-1]))


def _check_input_shape(model, shape):
    """Run the model once on zeros of --input-shape; ConfigError naming the flag, the model's own
    complaint and a shape it takes when it refuses them."""
    from gconv_experiments.training.config import ConfigError
    try:
        with chainer.using_config('train', False), chainer.no_backprop_mode():
            getattr(model, 'logits', model)(numpy.zeros(shape, numpy.float32))
        return
    except (ValueError, TypeError, InvalidType) as e:
        reason = ' '.join(str(e).split())
    try:
        expected = 'N,C,H,W such as {}'.format(','.join(map(str, guess_input_shape(model, batch=1))))
    except ValueError:
        expected = 'a batch shape N,C,H,W the model takes'
    raise ConfigError('--input-shape {}: {} does not take a batch of this shape ({}); expected {}'.format(
        ','.join(map(str, shape)), type(model).__name__, reason, expected))


def _export(args):
    """Export the model the command line `args` names; prints the check's result line."""
    from gconv_experiments.training.config import ConfigError
    _check_out(args.out)
    _check_opset(args.opset)
    model = load_model(args.model_file, args.weights, args.net_kwargs)
    shape = args.input_shape
    if shape is None:
        try:
            shape = guess_input_shape(model, batch=1)
        except ValueError as e:
            raise ConfigError('{}: pass --input-shape'.format(' '.join(str(e).split()))) from None
    else:
        _check_input_shape(model, shape)
    x = numpy.random.RandomState(args.seed).standard_normal(shape).astype(numpy.float32)
    net = collapse(model, fold_bn=args.fold_bn, x=x)
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        reference = getattr(model, 'logits', model)(x).array
    with atomic_path(args.out) as tmp:  # --out appears only once onnxruntime has run it
        diff = export_onnx(net, x, tmp, opset_version=args.opset)
        # the ONNX file against the original G-CNN (collapse + export), not only the collapsed net
        total = float(numpy.abs(run_onnxruntime(tmp, x)[0] - reference).max())
    print('wrote {} ({} steps, input {}, BN {}): max |onnxruntime - collapsed Chainer| = {:.3e}, '
          'max |onnxruntime - {} (test mode)| = {:.3e}'.format(
              args.out, len(net.steps), 'x'.join(map(str, shape)),
              'folded' if args.fold_bn else 'kept', diff, type(model).__name__, total))


def main(argv=None):
    """The command line: exit status 0, or 2 after one line ``<prog>: error: ...``."""
    from gconv_experiments.training.config import ConfigError
    args = build_parser().parse_args(argv)
    return run_command(lambda: _export(args), PROG, {ConfigError: 2, UnsupportedLayerError: 2, OSError: 2,
                                                      ImportError: 2})


if __name__ == '__main__':
    sys.exit(main())

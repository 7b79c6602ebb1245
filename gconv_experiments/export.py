"""python -m gconv_experiments.export MODEL_FILE WEIGHTS.h5 --out model.onnx [--net_kwargs ...]
[--input-shape 1,1,28,28] [--fold-bn | --no-fold-bn] [--opset N]

Builds the model class of MODEL_FILE (a models/<Name>.py file defining the Chain ``Name``, as
``--modelfn`` of the training scripts, or a bare name of the experiment models), loads the
weights of a training snapshot (or any Chainer HDF5 file of the model), collapses it into a
plain CNN (:func:`groupy.export.collapse`), writes it as ONNX and checks the file in
onnxruntime against the Chainer model on a random batch, printing the largest difference.
"""
import argparse
import sys

import numpy

import chainer

from groupy.export import collapse, export_onnx
from groupy.export.collapse import guess_input_shape
from groupy.export.onnx import run_onnxruntime

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


def build_parser():
    p = argparse.ArgumentParser(prog='python -m gconv_experiments.export', description=__doc__.split(
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
    p.add_argument('--opset', type=int, default=None, help='ONNX opset (onnx-chainer default)')
    p.add_argument('--seed', type=int, default=0, help='seed of the random check batch')
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


def main(argv=None):
    args = build_parser().parse_args(argv)
    from gconv_experiments.training.config import ConfigError
    try:
        model = load_model(args.model_file, args.weights, args.net_kwargs)
    except ConfigError as e:
        print('error: {}'.format(e), file=sys.stderr)
        return 2
    shape = args.input_shape
    if shape is None:
        try:
            shape = guess_input_shape(model, batch=1)
        except ValueError as e:
            print('error: {}: pass --input-shape'.format(e), file=sys.stderr)
            return 2
    x = numpy.random.RandomState(args.seed).standard_normal(shape).astype(numpy.float32)
    net = collapse(model, fold_bn=args.fold_bn, x=x)
    diff = export_onnx(net, x, args.out, opset_version=args.opset)
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        reference = getattr(model, 'logits', model)(x).array
    # the ONNX file against the original G-CNN (collapse + export), not only the collapsed net
    total = float(numpy.abs(run_onnxruntime(args.out, x)[0] - reference).max())
    print('wrote {} ({} steps, input {}, BN {}): max |onnxruntime - collapsed Chainer| = {:.3e}, '
          'max |onnxruntime - {} (test mode)| = {:.3e}'.format(
              args.out, len(net.steps), 'x'.join(map(str, shape)),
              'folded' if args.fold_bn else 'kept', diff, type(model).__name__, total))
    return 0


if __name__ == '__main__':
    sys.exit(main())

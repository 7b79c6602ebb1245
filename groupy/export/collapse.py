"""collapse(): a trained G-CNN as a plain CNN computing the same test-mode function.

The network's test-mode forward pass is traced once (:mod:`groupy.gconv.chainer_gconv.trace`), so any Chain
built from our links (the G-convolutions, ``Convolution2D``, ``BatchNormalization``, ``Linear``)
and the supported functions (relu and friends, spatial and orientation pooling, means, maxima,
reshapes, additions) is handled, whatever its forward method looks like. In the result

* every G-convolution is a :class:`groupy.fast_cpu.Convolution2D` whose filters are the
  transformed filter bank, materialised once: (out * nos, in * nis, k, k) over feature maps
  held planar, (N, C * G, H, W);
* every batch normalisation is a :class:`chainer.links.BatchNormalization` over the C * G
  planar channels (the per-feature-map statistics repeated over the G planes), or, with
  ``fold_bn=True``, folded into the convolution (or linear layer) right before it where that
  layer feeds nothing else (:mod:`groupy.export.fold_bn`); the others stay; a normalisation
  with the batch's own statistics in test mode (``F.batch_normalization`` called directly, as
  the ResNets' final BN does) stays one (:class:`~groupy.export.collapsed_net.
  BatchStatNormalization`);
* orientation pooling and averages over the stabiliser axis are a reshape to (N, C, G, H, W)
  and a max/mean; reshapes between (N, C * G, H, W) and (N, C, G, H, W) disappear;
* a selection of stabiliser planes ``x[:, :, planes]`` (orientation pooling over the kept
  planes of a partial G-convolution) is a :class:`~groupy.export.collapsed_net.TakePlanes`;
  a partial G-convolution itself is a convolution whose dropped planes have zero filters.
"""
import numpy

import chainer
import chainer.links as L

from groupy.export import collapsed_net as cn
from groupy.export.fold_bn import fold_batch_norms
from groupy.gconv.chainer_gconv.trace import INPUT, UnsupportedLayerError, flat_shape, trace
from groupy.fast_cpu import Convolution2D

__all__ = ['collapse', 'guess_input_shape']


def guess_input_shape(model: chainer.Link, batch: int = 2, forward=None) -> tuple:
    """An input shape (batch, C, S, S) the model accepts, S = 28 for C = 1 (MNIST-rot), else 32
    (CIFAR10). C is tried among the in-channel counts of its convolutions (those no
    convolution produces first) by running the model once per candidate. Raises ValueError if
    none works."""
    ins, outs = [], set()
    for link in model.links():
        w = getattr(link, 'W', None)
        if isinstance(w, chainer.Parameter) and w.array is not None and w.ndim in (4, 5):
            ins.append(int(w.shape[1]))
            outs.add(int(w.shape[0]))
    candidates = sorted(set(ins), key=lambda c: (c in outs, c))
    f = getattr(model, 'logits', model) if forward is None else forward
    params = [p for p in model.params() if p.array is not None]
    dtype = params[0].dtype if params else numpy.float32
    error = None
    for c in candidates:
        size = 28 if c == 1 else 32
        shape = (batch, c, size, size)
        try:
            with chainer.using_config('train', False), chainer.no_backprop_mode():
                f(model.device.send(numpy.zeros(shape, dtype)))
            return shape
        except Exception as e:  # the wrong channel count fails in the first layer
            error = e
    raise ValueError('cannot infer the input shape of {} (tried {} channels{}); pass it '
                     'explicitly'.format(type(model).__name__, candidates or 'no',
                                         '' if error is None else ': {}'.format(error)))


def _default_input(model, input_shape, forward):
    """A standard-normal batch of ``input_shape`` (default :func:`guess_input_shape`), in the
    dtype of the model's parameters."""
    params = [p for p in model.params() if p.array is not None]
    dtype = params[0].dtype if params else numpy.float32
    if input_shape is None:
        input_shape = guess_input_shape(model, forward=forward)
    return numpy.random.RandomState(0).standard_normal(tuple(input_shape)).astype(dtype)


def _conv_link(op):
    W, b = op.consts['W'], op.consts['b']
    p = op.params
    if p['cover_all']:
        raise UnsupportedLayerError('collapse: {}: convolution with cover_all=True'.format(
            op.name))
    return Convolution2D(W.shape[1] * p['groups'], W.shape[0], ksize=W.shape[2:],
                         stride=p['stride'], pad=p['pad'], nobias=b is None, initialW=W,
                         initial_bias=b, dilate=p['dilate'], groups=p['groups'])


def _bn_link(op):
    shape = op.in_shapes[0]
    repeat = shape[2] if len(shape) == 5 else 1
    c = op.consts
    if c['gamma'].shape != (shape[1],):
        raise UnsupportedLayerError('collapse: {}: batch normalisation parameters of shape {} '
                                    'for input {}'.format(op.name, c['gamma'].shape, shape))
    link = L.BatchNormalization(shape[1] * repeat, eps=op.params['eps'], dtype=c['gamma'].dtype)
    link.gamma.array[...] = numpy.repeat(c['gamma'], repeat)
    link.beta.array[...] = numpy.repeat(c['beta'], repeat)
    link.avg_mean[...] = numpy.repeat(c['mean'], repeat)
    link.avg_var[...] = numpy.repeat(c['var'], repeat)
    return link


def _linear_link(op):
    W, b = op.consts['W'], op.consts['b']
    return L.Linear(W.shape[1], W.shape[0], nobias=b is None, initialW=W, initial_bias=b)


def _step(op):
    """The link computing op on planar maps, or None when op is a no-op there."""
    kind, p = op.kind, op.params
    if kind == 'reshape':
        src, dst = flat_shape(op.in_shapes[0]), flat_shape(op.out_shape)
        if src == dst:
            return None
        return cn.Reshape(dst, keep_batch=dst[0] == src[0])
    if kind == 'conv':
        return _conv_link(op)
    if kind == 'bn':
        return _bn_link(op)
    if kind == 'batch_stat_bn':
        shape = op.in_shapes[0]
        return cn.BatchStatNormalization(op.consts['gamma'], op.consts['beta'], p['eps'],
                                         grouped=tuple(shape[1:3]) if len(shape) == 5 else None)
    if kind in ('scale', 'shift'):
        return cn.Affine(kind, p['value'])
    if kind == 'linear':
        return _linear_link(op)
    if kind in ('relu', 'leaky_relu', 'sigmoid', 'tanh'):
        return cn.Activation(kind, p.get('slope'))
    if kind in ('max_pool', 'avg_pool'):
        return cn.Pool(kind[:3], p['ksize'], p['stride'], p['pad'], p['cover_all'])
    if kind in ('max', 'mean', 'sum'):
        shape = op.in_shapes[0]
        return cn.Reduce(kind, p['axis'], p['keepdims'],
                         grouped=tuple(shape[1:3]) if len(shape) == 5 else None)
    if kind == 'add':
        return cn.Add()
    if kind == 'take':
        shape = op.in_shapes[0]
        return cn.TakePlanes(p['indices'], grouped=tuple(shape[1:3]))
    raise UnsupportedLayerError('collapse: {}: no translation for {!r}'.format(op.name, kind))


def collapse(model: chainer.Link, fold_bn: bool = False, input_shape=None, x=None,
             forward=None) -> cn.CollapsedNet:
    """A plain Chain computing ``model``'s test-mode function (see the module docstring).

    Args:
        model (chainer.Chain): the network; its ``logits`` method (or ``forward`` if there is
            none) is traced, unless ``forward`` is given.
        fold_bn (bool): fold each batch normalisation into the convolution/linear layer
            before it where possible.
        input_shape (tuple): the shape of the batch traced (default: from
            :func:`guess_input_shape`, (2, C, 28 or 32, 28 or 32)); the collapsed net takes
            any batch size, and any spatial size unless the network reshapes its maps into
            vectors.
        x (ndarray): the batch to trace, instead of a random one of ``input_shape``.
        forward (callable): the function to trace instead of ``model.logits``.

    Returns:
        CollapsedNet, on the CPU. Raises UnsupportedLayerError naming the first layer it cannot
        translate.

    >>> from groupy.gconv.chainer_gconv import P4ConvZ2
    >>> print(collapse(P4ConvZ2(1, 2, ksize=3), input_shape=(1, 1, 5, 5)).describe())
      0 <- x          Convolution2D(W (8, 1, 3, 3), stride (1, 1), pad (0, 0), bias)
    """
    if not isinstance(model, chainer.Link):
        raise TypeError('collapse: model must be a chainer.Link, got {}'.format(
            type(model).__name__))
    if x is None:
        x = _default_input(model, input_shape, forward)
    x = numpy.asarray(chainer.backend.CpuDevice().send(x))
    t = trace(model, model.device.send(x), forward=forward)
    where = {INPUT: INPUT}  # op index -> step index holding its value
    steps, step_inputs = [], []
    for i, op in enumerate(t.ops):
        with chainer.using_config('dtype', x.dtype):  # the links keep the model's dtype
            step = _step(op)
        if step is None:
            where[i] = where[op.inputs[0]]
            continue
        steps.append(step)
        step_inputs.append([where[j] for j in op.inputs])
        where[i] = len(steps) - 1
    output = where[t.output]
    if fold_bn:
        steps, step_inputs, output = fold_batch_norms(steps, step_inputs, output)
    return cn.CollapsedNet(steps, step_inputs, output, t.input_shape, t.output_shape)

"""Record the test-mode forward pass of a Chain as a list of normalised operations.

:func:`trace` runs ``forward(x)`` once (``chainer.config.train = False``, backprop on so the
graph is kept) under a :class:`chainer.FunctionHook` that keeps every function's input arrays
and a :class:`chainer.LinkHook` that knows which link is running. Walking the graph back from
the output separates the *data path* (functions that depend on the input) from constants
(parameters, running statistics, and whatever is computed from them alone, e.g. a G-conv's
transformed filter bank). Each data-path function becomes an :class:`Op` with a kind from
:data:`KINDS`, its parameters, the arrays of its constant inputs and the traced shapes; any
other function raises :class:`UnsupportedLayerError` naming the link it ran in.

Used by :func:`groupy.gconv.chainer_gconv.exactness` (to analyse the network's geometry) and
by :func:`groupy.export.collapse` (to rebuild it from plain layers).
"""
import numpy

import chainer
from chainer.functions.activation import leaky_relu, relu, sigmoid, tanh
from chainer.functions.array import get_item, reshape
from chainer.functions.connection import convolution_2d, linear
from chainer.functions.math import average, basic_math, minmax, sum as sum_
from chainer.functions.normalization import batch_normalization
from chainer.functions.pooling import average_pooling_2d, max_pooling_nd

from groupy.gconv.chainer_gconv.transform_filter import TransformGFilter

__all__ = ['INPUT', 'KINDS', 'Op', 'Trace', 'UnsupportedLayerError', 'flat_shape', 'trace']

#: the kinds of data-path operation understood by collapse() and exactness()
KINDS = ('reshape', 'conv', 'bn', 'batch_stat_bn', 'scale', 'shift', 'relu', 'leaky_relu',
         'sigmoid', 'tanh', 'max_pool', 'avg_pool', 'max', 'mean', 'sum', 'add', 'linear',
         'take')
_UNARY = {relu.ReLU: 'relu', leaky_relu.LeakyReLU: 'leaky_relu', sigmoid.Sigmoid: 'sigmoid',
          tanh.Tanh: 'tanh'}
_REDUCTIONS = {minmax.Max: 'max', average.Mean: 'mean', sum_.Sum: 'sum'}
INPUT = -1  # Op.inputs entry meaning "the network input"


def flat_shape(shape):
    """The planar layout of a traced shape: (N, C, G, H, W) -> (N, C * G, H, W); others kept."""
    shape = tuple(shape)
    if len(shape) == 5:
        return (shape[0], shape[1] * shape[2]) + shape[3:]
    return shape


class UnsupportedLayerError(ValueError):
    """A function in the forward pass that collapse()/exactness() cannot translate."""


class Op(object):
    """One data-path operation of a traced forward pass.

    Attributes:
        kind (str): one of :data:`KINDS`.
        params (dict): kind-specific: conv/pool ``ksize, stride, pad`` (pairs), ``cover_all``,
            conv ``dilate, groups``; bn, batch_stat_bn ``eps``; scale, shift ``value``;
            reduction ``axis`` (tuple), ``keepdims``; reshape ``shape``; leaky_relu ``slope``;
            take ``indices`` (tuple of the stabiliser planes kept, axis 2 of a 5-D map).
        consts (dict): NumPy arrays: conv/linear ``W``, ``b`` (or None); bn ``gamma``,
            ``beta``, ``mean``, ``var`` (batch_stat_bn: ``gamma``, ``beta``).
        inputs (list of int): indices of the ops producing the data inputs (INPUT = -1: x).
        in_shapes, out_shape: traced shapes.
        link (str): path of the innermost link running when the function was called; for a
            function of the model's own forward, 'after ' + the link whose output it takes.
        label (str): the Chainer function's label.
        filter_group (tuple or None): for a conv whose filters come from a G-filter transform,
            (input stabiliser size, output stabiliser size), e.g. (1, 4) for P4ConvZ2.
    """

    def __init__(self, kind, params, consts, inputs, in_shapes, out_shape, link, label,
                 filter_group=None):
        self.kind, self.params, self.consts, self.inputs = kind, params, consts, inputs
        self.in_shapes, self.out_shape = in_shapes, out_shape
        self.link, self.label, self.filter_group = link, label, filter_group

    @property
    def name(self):
        return '{} ({})'.format(self.link, self.label)

    def __repr__(self):
        return 'Op({}, {} -> {})'.format(self.name, self.in_shapes, self.out_shape)


class Trace(object):
    """ops (list of Op, in execution order), input_shape, output (index of the last op, or
    INPUT), output_shape."""

    def __init__(self, ops, input_shape, output, output_shape):
        self.ops, self.input_shape = ops, input_shape
        self.output, self.output_shape = output, output_shape


class _LinkStack(chainer.LinkHook):
    """Keeps the path of the innermost running link."""
    name = 'groupy_export_links'

    def __init__(self, names):
        self.names = names  # id(link) -> path
        self.stack = ['/']

    def forward_preprocess(self, args):
        self.stack.append(self.names.get(id(args.link), self.stack[-1]))

    def forward_postprocess(self, args):
        self.stack.pop()


class _Recorder(chainer.FunctionHook):
    """Keeps every function's input arrays, the running link's path and the call order."""
    name = 'groupy_export_functions'

    def __init__(self, links):
        self.links = links
        self.calls = {}  # FunctionNode -> (in_data, link path, call order)

    def forward_preprocess(self, function, in_data):
        self.calls[function] = (in_data, self.links.stack[-1], len(self.calls))


def _cpu(a):
    return None if a is None else numpy.asarray(chainer.backend.CpuDevice().send(a))


def _filter_group(var_node):
    """(nti, nto) if var_node is (a reshape of) a TransformGFilter output, else None."""
    node = var_node.creator_node
    while isinstance(node, reshape.Reshape):
        node = node.inputs[0].creator_node
    if isinstance(node, TransformGFilter):
        return node.index.n_in_transforms, node.index.n_out_transforms
    return None


def _plane_selection(slices, shape, name):
    """The plane indices of ``x[:, :, indices]`` on a (N, C, G, H, W) map (trailing full
    slices allowed), or raise UnsupportedLayerError."""
    full = slice(None)
    slices = tuple(slices) if isinstance(slices, tuple) else (slices,)
    ok = (len(shape) == 5 and 3 <= len(slices) <= 5 and slices[:2] == (full, full)
          and all(s == full for s in slices[3:]))
    if ok:
        idx = slices[2]
        idx = numpy.asarray(_cpu(idx) if not isinstance(idx, (list, tuple)) else idx)
        ok = idx.ndim == 1 and idx.size > 0 and (numpy.issubdtype(idx.dtype, numpy.integer)
                                                 or idx.dtype == numpy.bool_)
    if not ok:
        raise UnsupportedLayerError('{}: indexing is supported only as x[:, :, planes] on '
                                    '(N, C, G, H, W) maps (a selection of stabiliser planes)'
                                    .format(name))
    if idx.dtype == numpy.bool_:
        idx = numpy.flatnonzero(idx)
    return tuple(int(i) % shape[2] for i in idx)


def _translate(f, data_idx, consts, in_shapes, out_shape, link):
    """(kind, params, consts dict) of function node f, or raise UnsupportedLayerError."""
    name = '{} ({})'.format(link, f.label)
    if isinstance(f, reshape.Reshape):
        return 'reshape', {'shape': tuple(out_shape)}, {}
    if isinstance(f, get_item.GetItem):
        return 'take', {'indices': _plane_selection(f.slices, in_shapes[0], name)}, {}
    if isinstance(f, convolution_2d.Convolution2DFunction):
        if data_idx != [0]:
            raise UnsupportedLayerError('{}: convolution with data-dependent filters'.format(name))
        params = dict(stride=(f.sy, f.sx), pad=(f.ph, f.pw), dilate=(f.dy, f.dx),
                      groups=f.groups, cover_all=f.cover_all, ksize=tuple(consts[1].shape[2:]))
        return 'conv', params, {'W': consts[1], 'b': consts.get(2)}
    if isinstance(f, batch_normalization.FixedBatchNormalization):
        if data_idx != [0] or tuple(f.key_axis) != (1,):
            raise UnsupportedLayerError('{}: only per-channel (axis 1) batch normalisation with '
                                        'constant statistics is supported'.format(name))
        return 'bn', {'eps': float(f.eps)}, {k: consts[i] for i, k in
                                             enumerate(('gamma', 'beta', 'mean', 'var'), 1)}
    if isinstance(f, batch_normalization.BatchNormalization):
        # normalisation with the statistics of the batch itself (e.g. F.batch_normalization
        # called in test mode): still a function of the batch, with constant gamma and beta
        if data_idx != [0] or tuple(f.key_axis) != (1,):
            raise UnsupportedLayerError('{}: only per-channel (axis 1) batch normalisation is '
                                        'supported'.format(name))
        return 'batch_stat_bn', {'eps': float(f.eps)}, {'gamma': consts[1], 'beta': consts[2]}
    if isinstance(f, (basic_math.MulConstant, basic_math.AddConstant)):
        if not numpy.isscalar(f.value):
            raise UnsupportedLayerError('{}: arithmetic with a constant array (only scalars are '
                                        'supported)'.format(name))
        kind = 'scale' if isinstance(f, basic_math.MulConstant) else 'shift'
        return kind, {'value': float(f.value)}, {}
    if type(f) in _UNARY or any(isinstance(f, c) for c in _UNARY):
        kind = next(v for c, v in _UNARY.items() if isinstance(f, c))
        return kind, ({'slope': float(f.slope)} if kind == 'leaky_relu' else {}), {}
    if isinstance(f, max_pooling_nd.MaxPoolingND) and f.ndim == 2:
        return 'max_pool', dict(ksize=tuple(f.ksize), stride=tuple(f.stride), pad=tuple(f.pad),
                                cover_all=bool(f.cover_all)), {}
    if isinstance(f, average_pooling_2d.AveragePooling2D):
        if getattr(f, 'pad_value', 0) is None:
            raise UnsupportedLayerError('{}: average pooling with pad_value=None'.format(name))
        return 'avg_pool', dict(ksize=(f.kh, f.kw), stride=(f.sy, f.sx), pad=(f.ph, f.pw),
                                cover_all=bool(f.cover_all)), {}
    for cls, kind in _REDUCTIONS.items():
        if isinstance(f, cls):
            ndim = len(in_shapes[0])
            axis = tuple(range(ndim)) if f.axis is None else tuple(
                sorted(a % ndim for a in f.axis))
            return kind, {'axis': axis, 'keepdims': bool(f.keepdims)}, {}
    if isinstance(f, basic_math.Add):
        if len(data_idx) != 2 or in_shapes[0] != in_shapes[1]:
            raise UnsupportedLayerError('{}: only the sum of two data arrays of one shape is '
                                        'supported (got shapes {})'.format(name, in_shapes))
        return 'add', {}, {}
    if isinstance(f, linear.LinearFunction):
        if data_idx != [0]:
            raise UnsupportedLayerError('{}: linear layer with data-dependent weights'.format(name))
        return 'linear', {}, {'W': consts[1], 'b': consts.get(2)}
    raise UnsupportedLayerError(
        '{}: {}.{} is not supported by collapse/exactness (supported: convolution, batch '
        'normalisation, relu/leaky_relu/sigmoid/tanh, max/average pooling, max/mean/sum '
        'reductions, reshapes, addition, scalar * and +, linear)'.format(
            name, type(f).__module__, type(f).__name__))


def trace(model: chainer.Link, x, forward=None) -> Trace:
    """Trace ``forward(x)`` (default ``model.logits`` if defined, else ``model``) in test mode.

    Args:
        model (chainer.Link): the network (its links name the operations).
        x (ndarray): an input batch of the shape and dtype the network expects.
        forward (callable or None): the function to trace.

    Returns:
        Trace. Raises UnsupportedLayerError for a function outside :data:`KINDS`.

    >>> import numpy
    >>> from groupy.gconv.chainer_gconv import P4ConvZ2
    >>> t = trace(P4ConvZ2(1, 2, ksize=3), numpy.zeros((1, 1, 5, 5), numpy.float32))
    >>> [op.kind for op in t.ops], t.ops[0].filter_group, t.output_shape
    (['conv', 'reshape'], (1, 4), (1, 2, 4, 3, 3))
    """
    if forward is None:
        forward = getattr(model, 'logits', model)
    names = {id(link): path for path, link in model.namedlinks()}
    xv = chainer.Variable(x, requires_grad=True)
    links = _LinkStack(names)
    recorder = _Recorder(links)
    with chainer.using_config('train', False), chainer.force_backprop_mode(), links, recorder:
        y = forward(xv)
    if not isinstance(y, chainer.Variable):
        raise UnsupportedLayerError('trace: the forward pass returned {}, expected one '
                                    'chainer.Variable'.format(type(y).__name__))
    # data-path nodes, found by walking back from the output
    depends = {}  # id(VariableNode) -> bool

    def is_data(root):  # iterative post-order walk (deep networks exceed the recursion limit)
        stack = [root]
        while stack:
            v = stack[-1]
            if id(v) in depends:
                stack.pop()
            elif v is xv.node or v.creator_node is None:
                depends[id(v)] = v is xv.node
                stack.pop()
            else:
                pending = [u for u in v.creator_node.inputs if id(u) not in depends]
                if pending:
                    stack.extend(pending)
                else:
                    depends[id(v)] = any(depends[id(u)] for u in v.creator_node.inputs)
                    stack.pop()
        return depends[id(root)]

    if not is_data(y.node):
        raise UnsupportedLayerError('trace: the output does not depend on the input')
    funcs, stack, seen = [], [y.node.creator_node], set()
    while stack:
        f = stack.pop()
        if f is None or id(f) in seen:
            continue
        seen.add(id(f))
        funcs.append(f)
        stack.extend(v.creator_node for v in f.inputs if is_data(v))
    if any(f not in recorder.calls for f in funcs):
        raise UnsupportedLayerError('trace: a function of the forward pass ran outside the '
                                    'recording (old-style chainer.Function?)')
    funcs.sort(key=lambda f: recorder.calls[f][2])
    index = {id(f): i for i, f in enumerate(funcs)}
    ops = []
    for f in funcs:
        in_data, link, _ = recorder.calls[f]
        data_idx = [i for i, v in enumerate(f.inputs) if is_data(v)]
        inputs = [INPUT if v is xv.node else index[id(v.creator_node)]
                  for v in (f.inputs[i] for i in data_idx)]
        consts = {i: _cpu(a) for i, a in enumerate(in_data) if i not in data_idx}
        in_shapes = [tuple(in_data[i].shape) for i in data_idx]
        outs = [o() for o in f.outputs]
        if len(outs) != 1:
            raise UnsupportedLayerError('{} ({}): functions with {} outputs are not supported'
                                        .format(link, f.label, len(outs)))
        out_shape = tuple(outs[0].shape)
        if link == '/' and inputs and inputs[0] != INPUT:  # the model's own forward: say where
            before = ops[inputs[0]].link
            link = before if before.startswith('after ') else 'after ' + before
        kind, params, op_consts = _translate(f, data_idx, consts, in_shapes, out_shape, link)
        group = _filter_group(f.inputs[1]) if kind == 'conv' else None
        ops.append(Op(kind, params, op_consts, inputs, in_shapes, out_shape, link, f.label,
                      group))
    return Trace(ops, tuple(x.shape), index[id(y.node.creator_node)], tuple(y.shape))

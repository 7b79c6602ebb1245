"""The plain network returned by :func:`groupy.export.collapse`: a Chain of standard links and
functions evaluated as a small dataflow graph.

Feature maps are planar: a G-feature map (N, C, G, H, W) of the original network is held as
(N, C * G, H, W) (the same memory, the stabiliser axis folded into the channels), so every
convolution is a plain :class:`~groupy.fast_cpu.Convolution2D` and every batch normalisation a
plain :class:`chainer.links.BatchNormalization` with its per-feature-map parameters repeated
over the G planes. Operations that need the stabiliser axis (orientation pooling, global
averages over it) reshape to (N, C, G, H, W) for the reduction (:class:`Reduce`).
"""
import chainer
import chainer.functions as F
import chainer.links  # noqa: F401

from groupy.fast_cpu import max_pooling_2d, relu
from groupy.gconv.chainer_gconv.trace import flat_shape

__all__ = ['Activation', 'Add', 'Affine', 'BatchStatNormalization', 'CollapsedNet', 'Pool',
           'Reduce', 'Reshape', 'TakePlanes']

_ACTIVATIONS = {'relu': relu, 'sigmoid': F.sigmoid, 'tanh': F.tanh}
_REDUCERS = {'max': F.max, 'mean': F.mean, 'sum': F.sum}


def _describe(step):
    W = getattr(step, 'W', None)
    if isinstance(step, chainer.links.Convolution2D):
        return 'Convolution2D(W {}, stride {}, pad {}{})'.format(
            W.shape, step.stride, step.pad, '' if step.b is None else ', bias')
    if isinstance(step, chainer.links.Linear):
        return 'Linear(W {}{})'.format(W.shape, '' if step.b is None else ', bias')
    if isinstance(step, chainer.links.BatchNormalization):
        return 'BatchNormalization({}, eps {:g})'.format(step.avg_mean.shape[0], step.eps)
    return repr(step)


class Activation(chainer.Link):
    """Elementwise relu / leaky_relu / sigmoid / tanh."""

    def __init__(self, kind, slope=None):
        super().__init__()
        if kind not in _ACTIVATIONS and kind != 'leaky_relu':
            raise ValueError('Activation: unknown kind {!r}'.format(kind))
        self.kind, self.slope = kind, slope

    def forward(self, x):
        if self.kind == 'leaky_relu':
            return F.leaky_relu(x, self.slope)
        return _ACTIVATIONS[self.kind](x)

    def __repr__(self):
        return 'Activation({})'.format(self.kind)


class Pool(chainer.Link):
    """Spatial max or average pooling of (N, C, H, W) maps (Chainer's arguments)."""

    def __init__(self, kind, ksize, stride, pad, cover_all):
        super().__init__()
        self.kind, self.ksize, self.stride, self.pad = kind, ksize, stride, pad
        self.cover_all = cover_all

    def forward(self, x):
        if self.kind == 'max':
            return max_pooling_2d(x, self.ksize, self.stride, self.pad, self.cover_all)
        if self.cover_all:
            raise ValueError('Pool: average pooling has no cover_all')
        return F.average_pooling_2d(x, self.ksize, self.stride, self.pad)

    def __repr__(self):
        return 'Pool({}, ksize={}, stride={}, pad={})'.format(
            self.kind, self.ksize, self.stride, self.pad)


class Affine(chainer.Link):
    """x * value (kind 'scale') or x + value ('shift'), value a scalar."""

    def __init__(self, kind, value):
        super().__init__()
        self.kind, self.value = kind, value

    def forward(self, x):
        return x * self.value if self.kind == 'scale' else x + self.value

    def __repr__(self):
        return 'Affine({} {:g})'.format('*' if self.kind == 'scale' else '+', self.value)


class BatchStatNormalization(chainer.Link):
    """Batch normalisation with the statistics of the batch at hand (no running averages),
    written with elementary functions so that ONNX gets the same computation.

    gamma, beta (C,); grouped (C, G) if the traced input was (N, C, G, H, W): one statistic per
    feature map over its G planes."""

    def __init__(self, gamma, beta, eps, grouped=None):
        super().__init__()
        self.eps, self.grouped = eps, grouped
        shape = (1, gamma.shape[0]) + (1,) * (3 if grouped else 2)
        with self.init_scope():
            self.gamma = chainer.Parameter(gamma.reshape(shape).copy())
            self.beta = chainer.Parameter(beta.reshape(shape).copy())

    def forward(self, x):
        flat = x.shape
        if self.grouped is not None:
            x = F.reshape(x, (flat[0],) + tuple(self.grouped) + tuple(flat[2:]))
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        if self.gamma.shape != shape:  # e.g. a 2-D input (N, C)
            gamma, beta = F.reshape(self.gamma, shape), F.reshape(self.beta, shape)
        else:
            gamma, beta = self.gamma, self.beta
        d = x - F.broadcast_to(F.mean(x, axis=axes, keepdims=True), x.shape)
        var = F.mean(d * d, axis=axes, keepdims=True)
        scale = F.broadcast_to(gamma / F.sqrt(var + self.eps), x.shape)
        y = d * scale + F.broadcast_to(beta, x.shape)
        return F.reshape(y, flat) if self.grouped is not None else y

    def __repr__(self):
        return 'BatchStatNormalization({}, batch statistics{})'.format(
            self.gamma.size, '' if self.grouped is None else ', over (C, G) = {}'.format(
                self.grouped))


class Reduce(chainer.Link):
    """max / mean / sum over ``axis`` of the traced layout.

    grouped: (C, G) if the traced input was (N, C, G, H, W) (held as (N, C * G, H, W): it is
    viewed as 5-D for the reduction), else None. A 5-D result is folded back to planar."""

    def __init__(self, kind, axis, keepdims, grouped=None):
        super().__init__()
        self.kind, self.axis, self.keepdims, self.grouped = kind, axis, keepdims, grouped

    def forward(self, x):
        if self.grouped is not None:
            c, g = self.grouped
            x = F.reshape(x, (x.shape[0], c, g) + tuple(x.shape[2:]))
        y = _REDUCERS[self.kind](x, axis=self.axis, keepdims=self.keepdims)
        if y.ndim == 5:
            y = F.reshape(y, flat_shape(y.shape))
        return y

    def __repr__(self):
        return 'Reduce({}, axis={}{})'.format(
            self.kind, self.axis, '' if self.grouped is None else
            ', over (C, G) = {}'.format(self.grouped))


class TakePlanes(chainer.Link):
    """Keep the stabiliser planes ``indices`` of planar maps (N, C * G, H, W) viewed as
    (N, C, G, H, W) (grouped = (C, G)); the result is planar, (N, C * len(indices), H, W)."""

    def __init__(self, indices, grouped):
        super().__init__()
        self.indices, self.grouped = [int(i) for i in indices], tuple(grouped)

    def forward(self, x):
        c, g = self.grouped
        x = F.reshape(x, (x.shape[0], c, g) + tuple(x.shape[2:]))
        y = F.get_item(x, (slice(None), slice(None), self.indices))
        return F.reshape(y, flat_shape(y.shape))

    def __repr__(self):
        return 'TakePlanes({}, of (C, G) = {})'.format(self.indices, self.grouped)


class Reshape(chainer.Link):
    """Reshape to ``shape`` (planar layout); keep_batch: the first axis follows the input."""

    def __init__(self, shape, keep_batch):
        super().__init__()
        self.shape, self.keep_batch = tuple(shape), keep_batch

    def forward(self, x):
        shape = ((x.shape[0],) + self.shape[1:]) if self.keep_batch else self.shape
        return F.reshape(x, shape)

    def __repr__(self):
        return 'Reshape({})'.format(('N',) + self.shape[1:] if self.keep_batch else self.shape)


class Add(chainer.Link):
    """x + y."""

    def forward(self, x, y):
        return x + y

    def __repr__(self):
        return 'Add()'


class CollapsedNet(chainer.Chain):
    """A plain network evaluated step by step.

    Args:
        steps (list of chainer.Link): the operations, in evaluation order.
        step_inputs (list of tuples of int): for each step the indices of the steps whose
            outputs it takes (-1: the network input).
        output (int): the step whose output is the network's output (-1: the input).
        input_shape, output_shape: the traced shapes (5-D G-feature maps are accepted and
            returned as such; inside, they are planar).

    ``net(x)`` takes the original network's input and returns its output (in test mode the
    same function as the traced network's ``logits``).
    """

    def __init__(self, steps, step_inputs, output, input_shape, output_shape):
        super().__init__()
        with self.init_scope():
            self.steps = chainer.ChainList(*steps)
        self.step_inputs = [tuple(ins) for ins in step_inputs]
        self.output = output
        self.input_shape, self.output_shape = tuple(input_shape), tuple(output_shape)
        last_use = {}
        for i, ins in enumerate(self.step_inputs):
            for j in ins:
                last_use[j] = i
        # values no later step needs are released after step i
        self._release = [[j for j in set(ins) if last_use[j] == i and j != output]
                         for i, ins in enumerate(self.step_inputs)]

    def forward(self, x):
        if x.ndim == 5:
            x = F.reshape(x, flat_shape(x.shape))
        values = {-1: x}
        for i, (step, ins) in enumerate(zip(self.steps, self.step_inputs)):
            values[i] = step(*[values[j] for j in ins])
            for j in self._release[i]:
                del values[j]
        y = values[self.output]
        if len(self.output_shape) == 5:
            n, c, g = y.shape[0], self.output_shape[1], self.output_shape[2]
            y = F.reshape(y, (n, c, g) + tuple(y.shape[2:]))
        return y

    def logits(self, x):
        """The same as ``self(x)`` (the name the experiment models use)."""
        return self.forward(x)

    def describe(self):
        """One line per step: index, inputs, the step."""
        lines = []
        for i, (step, ins) in enumerate(zip(self.steps, self.step_inputs)):
            lines.append('{:3d} <- {:10s} {}'.format(
                i, ','.join('x' if j < 0 else str(j) for j in ins), _describe(step)))
        return '\n'.join(lines)

"""A faster CPU 2x2 / stride-2 max pooling for Chainer (NCHW), a drop-in for
:func:`chainer.functions.max_pooling_2d`.

Chainer's CPU max pooling builds an im2col array of the windows and takes ``argmax`` over it.
For the common non-overlapping 2x2 windows the four taps of every window are four strided views
``x[:, :, i::2, j::2]`` of the input, so the forward pass is three elementwise maxima and the
switch is remembered as one ``uint8`` per output (0..3 = tap (i, j) in row-major order). Ties go
to the first tap in row-major order, as in Chainer, so the gradient lands on the same pixel.
Every pass runs on slices of the batch on the worker threads of :mod:`~groupy.fast_cpu.threads`.

Three linear-in-their-input :class:`chainer.FunctionNode` s give exact gradients of any order:

* :class:`MaxPooling2x2CPU`: ``y = max over each window``; backward -> scatter;
* :class:`MaxPooling2x2ScatterCPU`: ``gx[tap idx of each window] = gy``, zero elsewhere;
  backward -> gather;
* :class:`MaxPooling2x2GatherCPU`: ``y = x[window tap idx]``; backward -> scatter.

:func:`max_pooling_2d` takes this path for NumPy float32/float64 inputs of shape (N, C, H, W)
with even H and W, ``ksize == stride == 2`` and ``pad == 0`` (``cover_all`` makes no difference
then), while the fast CPU paths are on (see :mod:`groupy.fast_cpu.switch`); every
other case, CuPy arrays included, goes to :func:`chainer.functions.max_pooling_2d`.
"""
import numpy

import chainer
from chainer import function_node
from chainer.utils import type_check

from groupy.fast_cpu.switch import array_of, fast_cpu_enabled
from groupy.fast_cpu.threads import map_batch_slices

# Below this many elements the passes run inline (thread hand-off costs more than it saves).
_MIN_PARALLEL_SIZE = 1 << 17


def _taps(a):
    """The four taps (0, 0), (0, 1), (1, 0), (1, 1) of the 2x2 windows of a (N, C, H, W)."""
    return [a[:, :, i::2, j::2] for i in (0, 1) for j in (0, 1)]


def _over_batch(n, size, work):
    """work(n0, n1) on slices of the batch on the worker threads (inline for small arrays)."""
    map_batch_slices(n, work, parallel=size >= _MIN_PARALLEL_SIZE)


def _scatter(gy, idx):
    """gx (N, C, 2 Ho, 2 Wo): gy at each window's tap idx, zero at the other three taps."""
    gy = numpy.ascontiguousarray(gy)
    gx = numpy.empty(gy.shape[:2] + (2 * gy.shape[2], 2 * gy.shape[3]), gy.dtype)

    def work(n0, n1):
        for k, tap in enumerate(_taps(gx[n0:n1])):
            # Contiguous multiply by a 0/1 mask of gy's dtype, then one strided copy: much
            # faster than numpy.where or a mixed-dtype ufunc writing to the strided tap.
            numpy.copyto(tap, gy[n0:n1] * (idx[n0:n1] == k).astype(gy.dtype))

    _over_batch(gy.shape[0], gx.size, work)
    return gx


def _max_and_tap(x):
    """(y, idx) of the 2x2 windows of x (N, C, H, W): the maxima and the uint8 tap (0..3) of
    the first maximum in row-major order, computed on slices of the batch on the threads."""
    n, c, h, w = x.shape
    y = numpy.empty((n, c, h // 2, w // 2), x.dtype)
    idx = numpy.empty(y.shape, numpy.uint8)

    def work(n0, n1):
        a, b, c_, d = _taps(x[n0:n1])
        top, bottom = numpy.maximum(a, b), numpy.maximum(c_, d)
        # First maximum in row-major order: b beats a, d beats c, bottom beats top only if
        # strictly greater.
        b_wins = numpy.greater(b, a).view(numpy.uint8)
        d_wins = numpy.greater(d, c_).view(numpy.uint8)
        bottom_wins = numpy.greater(bottom, top).view(numpy.uint8)
        numpy.add(bottom_wins * (2 + d_wins), (1 - bottom_wins) * b_wins, out=idx[n0:n1])
        numpy.maximum(top, bottom, out=y[n0:n1])

    _over_batch(n, x.size, work)
    return y, idx


def _gather(x, idx):
    """y (N, C, H/2, W/2): each window's value at tap idx."""
    y = numpy.zeros(idx.shape, x.dtype)

    def work(n0, n1):
        for k, tap in enumerate(_taps(x[n0:n1])):
            y[n0:n1] += tap * (idx[n0:n1] == k).astype(x.dtype)

    _over_batch(x.shape[0], x.size, work)
    return y


class _Pool2x2Node(function_node.FunctionNode):

    def check_type_forward(self, in_types):
        type_check._argname(in_types, ('x',))
        x_type, = in_types
        type_check.expect(x_type.dtype.kind == 'f', x_type.ndim == 4)

    def _require_numpy(self, a):
        if not isinstance(a, numpy.ndarray):
            raise TypeError('{}: takes NumPy arrays, got {} (max_pooling_2d of this module falls '
                            'back to Chainer for those)'.format(self.label, type(a).__name__))


class MaxPooling2x2CPU(_Pool2x2Node):
    """y = 2x2 / stride-2 max pooling of x (N, C, H, W), H and W even -> (N, C, H/2, W/2)."""

    def check_type_forward(self, in_types):
        super().check_type_forward(in_types)
        x_type, = in_types
        type_check.expect(x_type.shape[2] % 2 == 0, x_type.shape[3] % 2 == 0)

    def forward(self, inputs):
        x, = inputs
        self._require_numpy(x)
        y, self.idx = _max_and_tap(x)
        return y,

    def backward(self, indexes, grad_outputs):
        return MaxPooling2x2ScatterCPU(self.idx).apply(grad_outputs)


class MaxPooling2x2ScatterCPU(_Pool2x2Node):
    """gx = gy put back at the tap each window's maximum came from (the adjoint of the
    gather); (N, C, Ho, Wo) -> (N, C, 2 Ho, 2 Wo)."""

    def __init__(self, idx):
        self.idx = idx

    def forward(self, inputs):
        gy, = inputs
        self._require_numpy(gy)
        return _scatter(gy, self.idx),

    def backward(self, indexes, grad_outputs):
        return MaxPooling2x2GatherCPU(self.idx).apply(grad_outputs)


class MaxPooling2x2GatherCPU(_Pool2x2Node):
    """y = x at each window's remembered tap; (N, C, 2 Ho, 2 Wo) -> (N, C, Ho, Wo)."""

    def __init__(self, idx):
        self.idx = idx

    def forward(self, inputs):
        x, = inputs
        self._require_numpy(x)
        return _gather(x, self.idx),

    def backward(self, indexes, grad_outputs):
        return MaxPooling2x2ScatterCPU(self.idx).apply(grad_outputs)


def _pair_is(value, n):
    """True when value is the int n or a pair (n, n)."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    return len(pair) == 2 and all(
        isinstance(v, (int, numpy.integer)) and not isinstance(v, bool) and v == n for v in pair)


def fast_path_applies(x, ksize, stride=None, pad=0):
    """True when :func:`max_pooling_2d` takes the fast 2x2 NumPy path for these arguments."""
    if stride is None:
        stride = ksize
    shape = array_of(x).shape
    return (fast_cpu_enabled(x) and len(shape) == 4 and shape[2] % 2 == 0
            and shape[3] % 2 == 0 and _pair_is(ksize, 2) and _pair_is(stride, 2)
            and _pair_is(pad, 0))


def max_pooling_2d(x, ksize, stride=None, pad=0, cover_all=True, **kwargs):
    """Spatial max pooling of x (N, C, H, W), with the arguments and results of
    :func:`chainer.functions.max_pooling_2d` (``stride=None`` means ``stride=ksize``).

    Returns:
        ~chainer.Variable: (N, C, H', W').
    """
    if kwargs or not fast_path_applies(x, ksize, stride, pad):
        return chainer.functions.max_pooling_2d(x, ksize, stride=stride, pad=pad,
                                                cover_all=cover_all, **kwargs)
    return MaxPooling2x2CPU().apply((x,))[0]

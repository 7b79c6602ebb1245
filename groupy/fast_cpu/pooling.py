"""A faster CPU 2x2 / stride-2 max pooling for Chainer (NCHW), a drop-in for
:func:`chainer.functions.max_pooling_2d`.

Chainer's CPU max pooling builds an im2col array of the windows and takes ``argmax`` over it.
For the common non-overlapping 2x2 windows the four taps of every window are four strided views
``x[:, :, i::2, j::2]`` of the input, so the forward pass is three elementwise maxima and the
switch is remembered as one ``uint8`` per output (0..3 = tap (i, j) in row-major order). Ties go
to the first tap in row-major order, as in Chainer, so the gradient lands on the same pixel.
Every pass is a compiled kernel of :mod:`groupy.fast_cpu.numba_pool_kernels` where
:func:`~groupy.fast_cpu.switch.compiled_kernels` allows, else NumPy on slices of the batch on the
worker threads of :mod:`~groupy.fast_cpu.threads`.

The three nodes are Chainer's own max-pooling nodes, subclassed under their names, each linear
in its input and written with the next, so gradients of any order are exact:

* :class:`MaxPoolingND`: ``y = max over each window``; backward -> scatter;
* :class:`MaxPoolingNDGrad`: ``gx[tap idx of each window] = gy``, zero elsewhere;
  backward -> gather;
* :class:`MaxPoolingNDWithIndexes`: ``y = x[window tap idx]``; backward -> scatter.

:class:`MaxPoolingND` takes this path (and sets ``fast_path``) for NumPy float32/float64 inputs
of shape (N, C, H, W) with even H and W, ``ksize == stride == 2`` and ``pad == 0``
(``cover_all`` makes no difference then), while the fast CPU paths are on (see
:mod:`groupy.fast_cpu.switch`); every other case, CuPy arrays included, is Chainer's own code.
"""
import numpy

import chainer
from chainer.functions.pooling import max_pooling_nd as _pool

from groupy.fast_cpu.switch import compiled_kernels, fast_cpu_enabled
from groupy.fast_cpu.threads import map_batch_slices

__all__ = ['MaxPoolingND', 'MaxPoolingNDGrad', 'MaxPoolingNDWithIndexes', 'max_pooling_2d']

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
    kernels = compiled_kernels('numba_pool_kernels', gy)
    if kernels is not None:
        return kernels.max_pool_2x2_scatter(gy, idx)
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
    kernels = compiled_kernels('numba_pool_kernels', x)
    if kernels is not None and x.flags.c_contiguous:
        return kernels.max_pool_2x2(x)
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
    kernels = compiled_kernels('numba_pool_kernels', x)
    if kernels is not None:
        return kernels.max_pool_2x2_gather(numpy.ascontiguousarray(x), idx)
    y = numpy.zeros(idx.shape, x.dtype)

    def work(n0, n1):
        for k, tap in enumerate(_taps(x[n0:n1])):
            y[n0:n1] += tap * (idx[n0:n1] == k).astype(x.dtype)

    _over_batch(x.shape[0], x.size, work)
    return y


class MaxPoolingND(_pool.MaxPoolingND):
    """Chainer's max-pooling node; 2x2 / stride-2 pooling of NumPy x (N, C, H, W), H and W even,
    -> (N, C, H/2, W/2) takes the fast path."""

    fast_path = False

    def _fast(self, x):
        return (self.ndim == 2 and not self.return_indices and self.ksize == (2, 2)
                and self.stride == (2, 2) and self.pad == (0, 0) and fast_cpu_enabled(x)
                and x.ndim == 4 and x.shape[2] % 2 == 0 and x.shape[3] % 2 == 0)

    def forward_cpu(self, inputs):
        x, = inputs
        if not self._fast(x):
            return super().forward_cpu(inputs)
        self.fast_path = True
        y, self.idx = _max_and_tap(x)
        return y,

    def backward(self, indexes, grad_outputs):
        if not self.fast_path:
            return super().backward(indexes, grad_outputs)
        return MaxPoolingNDGrad(self).apply(grad_outputs)


class MaxPoolingNDGrad(_pool.MaxPoolingNDGrad):
    """gx = gy put back at the tap each window's maximum came from, for a
    :class:`MaxPoolingND` ``func`` that took the fast path; (N, C, Ho, Wo) -> (N, C, 2 Ho, 2 Wo)."""

    def forward_cpu(self, inputs):
        gy, = inputs
        return _scatter(gy, self.func.idx),

    def backward(self, indexes, grad_outputs):
        return MaxPoolingNDWithIndexes(self.func).apply(grad_outputs)


class MaxPoolingNDWithIndexes(_pool.MaxPoolingNDWithIndexes):
    """y = x at each window's remembered tap (the adjoint of :class:`MaxPoolingNDGrad`);
    (N, C, 2 Ho, 2 Wo) -> (N, C, Ho, Wo)."""

    def forward_cpu(self, inputs):
        x, = inputs
        return _gather(x, self.func.idx),

    def backward(self, indexes, grad_outputs):
        return MaxPoolingNDGrad(self.func).apply(grad_outputs)


def max_pooling_2d(x, ksize, stride=None, pad=0, cover_all: bool = True,
                   return_indices: bool = False):
    """Spatial max pooling of x (N, C, H, W), with the arguments and results of
    :func:`chainer.functions.max_pooling_2d` (``stride=None`` means ``stride=ksize``).

    Returns:
        ~chainer.Variable: (N, C, H', W') (and the indexes, with ``return_indices``, from
        Chainer's own pooling).

    >>> import numpy
    >>> x = numpy.arange(16, dtype=numpy.float32).reshape(1, 1, 4, 4)
    >>> max_pooling_2d(x, 2).array
    array([[[[ 5.,  7.],
             [13., 15.]]]], dtype=float32)
    """
    if return_indices:
        return chainer.functions.max_pooling_2d(x, ksize, stride, pad, cover_all,
                                                return_indices=True)
    if len(x.shape) != 4:
        raise ValueError('max_pooling_2d: expected x of shape (N, C, H, W), got {}'.format(
            x.shape))
    return MaxPoolingND(2, ksize, stride, pad, cover_all).apply((x,))[0]

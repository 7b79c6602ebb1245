"""The max over the stabiliser axis of G-feature maps (orientation max pooling) on the CPU, a
drop-in for ``chainer.functions.max(x, axis=2)`` on x (N, C, G, ...) -> (N, C, ...).

Chainer's ``F.max`` takes ``amax`` forward; its backward compares x with the broadcast maximum
(a bool array of x's size), casts that to x's dtype (a second full-size array) and multiplies it
with the broadcast gy in a third node (``BroadcastTo``, then ``Mul``: three nodes, two full-size
temporaries and three passes). Here the backward is one node writing each plane
``gx[:, :, g] = gy * (x[:, :, g] == y)`` directly, without the full-size temporaries. Every
pass is a compiled kernel of :mod:`groupy.fast_cpu.numba_pool_kernels` where
:func:`~groupy.fast_cpu.switch.compiled_kernels` allows, else NumPy on slices of the batch on
the worker threads of :mod:`~groupy.fast_cpu.threads`.
Results are F.max's bit for bit: the forward takes the maxima plane by plane in the order
``amax`` reduces them, and every tied maximum gets the whole gy, as in F.max's backward.

Three :class:`chainer.FunctionNode` s, the last two linear in their input and each other's
adjoint, give gradients of any order (the tie mask is a constant of x, as in F.max):

* :class:`Max`: Chainer's ``Max`` node, subclassed under its name; y = max over axis 2 (and
  ``fast_path`` set) for NumPy float32/float64 x of rank >= 3 while the fast CPU paths are on
  (:mod:`groupy.fast_cpu.switch`), Chainer's own code for anything else (other axes, CuPy,
  float16, the switch off);
* :class:`OrientationMaxScatterCPU`: gx[:, :, g] = gy * (x[:, :, g] == y);
* :class:`OrientationMaxGatherCPU`: ggy = sum_g ggx[:, :, g] * (x[:, :, g] == y).
"""
import numpy

from chainer import function_node
from chainer.functions.math import minmax
from chainer.utils import type_check

from groupy.fast_cpu.switch import compiled_kernels, fast_cpu_enabled
from groupy.fast_cpu.threads import map_batch_slices

__all__ = ['Max', 'OrientationMaxGatherCPU', 'OrientationMaxScatterCPU', 'orientation_max']

# Below this many elements the passes run inline (thread hand-off costs more than it saves).
_MIN_PARALLEL_SIZE = 1 << 17


def _over_batch(n, size, work):
    map_batch_slices(n, work, parallel=size >= _MIN_PARALLEL_SIZE)


def _max_over_axis2(x):
    """y = max_g x[:, :, g] (N, C, ...), reduced plane after plane from g = 0 as ``amax``."""
    kernels = compiled_kernels('numba_pool_kernels', x)
    if kernels is not None and x.flags.c_contiguous:
        return kernels.orientation_max_forward(x)
    y = numpy.empty(x.shape[:2] + x.shape[3:], x.dtype)

    def work(n0, n1):
        out = y[n0:n1]
        numpy.copyto(out, x[n0:n1, :, 0])
        for g in range(1, x.shape[2]):
            numpy.maximum(out, x[n0:n1, :, g], out=out)

    _over_batch(x.shape[0], x.size, work)
    return y


def _scatter(gy, x, y):
    """gx (N, C, G, ...): gy where x equals the maximum y, zero elsewhere (gy * mask, as F.max's
    backward multiplies gy with the mask cast to gy's dtype)."""
    gy = numpy.ascontiguousarray(gy)
    kernels = compiled_kernels('numba_pool_kernels', gy, x, y)
    if kernels is not None and x.flags.c_contiguous and y.flags.c_contiguous:
        return kernels.orientation_max_scatter(gy, x, y)
    gx = numpy.empty(x.shape, gy.dtype)

    def work(n0, n1):
        mask = numpy.empty(y[n0:n1].shape, numpy.bool_)
        for g in range(x.shape[2]):
            numpy.equal(x[n0:n1, :, g], y[n0:n1], out=mask)
            numpy.multiply(gy[n0:n1], mask, out=gx[n0:n1, :, g])

    _over_batch(x.shape[0], x.size, work)
    return gx


def _gather(ggx, x, y):
    """ggy (N, C, ...) = sum_g ggx[:, :, g] * (x[:, :, g] == y): the adjoint of _scatter."""
    kernels = compiled_kernels('numba_pool_kernels', ggx, x, y)
    if kernels is not None and x.flags.c_contiguous and y.flags.c_contiguous:
        return kernels.orientation_max_gather(numpy.ascontiguousarray(ggx), x, y)
    ggy = numpy.zeros(y.shape, ggx.dtype)

    def work(n0, n1):
        mask = numpy.empty(y[n0:n1].shape, numpy.bool_)
        for g in range(x.shape[2]):
            numpy.equal(x[n0:n1, :, g], y[n0:n1], out=mask)
            ggy[n0:n1] += ggx[n0:n1, :, g] * mask

    _over_batch(x.shape[0], x.size, work)
    return ggy


class Max(minmax.Max):
    """Chainer's max node; the max over axis 2 of NumPy x (N, C, G, ...) -> (N, C, ...) takes
    the fast path."""

    fast_path = False

    def forward(self, inputs):
        x, = inputs
        if not (self.axis == (2,) and not self.keepdims and fast_cpu_enabled(x)
                and x.ndim >= 3):
            return super().forward(inputs)
        self.fast_path = True
        self.retain_inputs((0,))
        self.retain_outputs((0,))
        return _max_over_axis2(x),

    def backward(self, indexes, grad_outputs):
        if not self.fast_path:
            return super().backward(indexes, grad_outputs)
        x, = self.get_retained_inputs()
        y, = self.get_retained_outputs()
        return OrientationMaxScatterCPU(x.array, y.array).apply(grad_outputs)


class _MaskedNode(function_node.FunctionNode):
    """A linear node of the tie mask (x[:, :, g] == y) of x (N, C, G, ...) and y (N, C, ...)."""

    def __init__(self, x, y):
        self.x, self.y = x, y


class OrientationMaxScatterCPU(_MaskedNode):
    """gy (N, C, ...) -> gx (N, C, G, ...): gx[:, :, g] = gy * (x[:, :, g] == y)."""

    def check_type_forward(self, in_types):
        type_check._argname(in_types, ('gy',))
        gy_type, = in_types
        type_check.expect(gy_type.dtype == self.x.dtype, gy_type.shape == self.y.shape)

    def forward(self, inputs):
        gy, = inputs
        return _scatter(gy, self.x, self.y),

    def backward(self, indexes, grad_outputs):
        return OrientationMaxGatherCPU(self.x, self.y).apply(grad_outputs)


class OrientationMaxGatherCPU(_MaskedNode):
    """ggx (N, C, G, ...) -> ggy (N, C, ...) = sum_g ggx[:, :, g] * (x[:, :, g] == y)."""

    def check_type_forward(self, in_types):
        type_check._argname(in_types, ('ggx',))
        ggx_type, = in_types
        type_check.expect(ggx_type.dtype == self.x.dtype, ggx_type.shape == self.x.shape)

    def forward(self, inputs):
        ggx, = inputs
        return _gather(ggx, self.x, self.y),

    def backward(self, indexes, grad_outputs):
        return OrientationMaxScatterCPU(self.x, self.y).apply(grad_outputs)


def orientation_max(x):
    """Max over the stabiliser axis, ``F.max(x, axis=2)`` with the same values and gradients:
    x (N, C, G, ...) -> (N, C, ...).

    >>> import numpy
    >>> x = numpy.array([[[[1.], [3.]], [[2.], [0.]]]], numpy.float32)  # (1, 2, 2, 1)
    >>> orientation_max(x).array
    array([[[3.],
            [2.]]], dtype=float32)
    """
    return Max(axis=2).apply((x,))[0]

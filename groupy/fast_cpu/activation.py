"""ReLU for Chainer with threaded CPU passes (compiled kernels of
:mod:`groupy.fast_cpu.numba_kernels`, else NumPy split over the batch on the fast CPU worker
threads), a drop-in for :func:`chainer.functions.relu`.

Chainer's ReLU and its gradient (``y = max(x, 0)``, ``gx = gy * (y > 0)``) are single-threaded
memory-bound NumPy passes; here each runs on slices of the batch on the worker threads of
:mod:`~groupy.fast_cpu.threads` (NumPy releases the GIL), with the same results.
:class:`ReLU` and :class:`ReLUGrad` subclass Chainer's ``ReLU`` / ``ReLUGrad2`` FunctionNodes and
only replace their NumPy forward passes, so the gradients of any order are Chainer's. Other
arrays (CuPy, float16) and the switch off (:mod:`groupy.fast_cpu.switch`) give
Chainer's ReLU.
"""
import numpy

import chainer
from chainer.functions.activation import relu as _relu

from groupy.fast_cpu.threads import cache_blocks, map_batch_slices
from groupy.fast_cpu.switch import compiled_kernels, fast_cpu_enabled

__all__ = ['ReLU', 'ReLUGrad', 'relu']

# Below this many elements the pass runs inline (thread hand-off costs more than it saves).
_MIN_PARALLEL_SIZE = 1 << 17


def _elementwise(out, args, fn):
    """fn(args[n0:n1], out[n0:n1]) over slices of the batch (axis 0) on the worker threads;
    ``args`` is one array or a tuple of arrays of out's shape."""
    def work(n0, n1):
        part = (tuple(a[n0:n1] for a in args) if isinstance(args, tuple) else args[n0:n1])
        fn(part, out[n0:n1])

    map_batch_slices(out.shape[0], work, parallel=out.size >= _MIN_PARALLEL_SIZE)
    return out


def _masked_grad(args, out):
    """out = gy * (b > 0) for a ReLU output b >= 0, as sign(b) * gy (sign(b) is exactly 0 or 1;
    same-dtype passes, no mask temporaries), in cache-sized blocks of the batch."""
    gy, b = args
    for b0, b1 in cache_blocks(0, gy.shape[0], gy[0].nbytes):
        o = out[b0:b1]
        numpy.sign(b[b0:b1], out=o)
        o *= gy[b0:b1]


class ReLU(_relu.ReLU):
    """Chainer's ReLU node with a threaded NumPy forward pass; backward -> :class:`ReLUGrad`."""

    def forward_cpu(self, inputs):
        x, = inputs
        if x.ndim == 0 or not fast_cpu_enabled(x):
            return super().forward_cpu(inputs)
        self.retain_outputs((0,))
        kernels = compiled_kernels('numba_kernels', x)
        if kernels is not None and x.flags.c_contiguous:
            return kernels.relu_forward(x),
        zero = x.dtype.type(0)
        return _elementwise(numpy.empty_like(x), x,
                            lambda a, o: numpy.maximum(a, zero, out=o)),

    def backward(self, indexes, grad_outputs):
        y, = self.get_retained_outputs()
        if not isinstance(y.raw_array, numpy.ndarray):  # cuDNN / CuPy: Chainer's choice
            return super().backward(indexes, grad_outputs)
        return ReLUGrad(y.raw_array).apply(grad_outputs)


class ReLUGrad(_relu.ReLUGrad2):
    """Chainer's ReLUGrad2 (gx = gy * (b > 0)) with a threaded NumPy forward pass."""

    def forward_cpu(self, inputs):
        gy, = inputs
        b = self.b
        if gy.ndim == 0 or not fast_cpu_enabled(gy, b) or b.shape != gy.shape:
            return super().forward_cpu(inputs)
        kernels = compiled_kernels('numba_kernels', gy, b)
        if kernels is not None and gy.flags.c_contiguous and b.flags.c_contiguous:
            return kernels.relu_backward(gy, b),
        return _elementwise(numpy.empty_like(gy), (gy, b), _masked_grad),


def relu(x):
    """max(x, 0) elementwise, as :func:`chainer.functions.relu` (x of any shape)."""
    return ReLU().apply((x,))[0]

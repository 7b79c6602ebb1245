"""Test-mode batch normalisation (given statistics, e.g. the running averages) on the CPU, with
or without a ReLU after it: drop-ins for :func:`chainer.functions.fixed_batch_normalization`
and ``relu(fixed_batch_normalization(...))`` for x (N, C, ...) with (C,) parameters.

Chainer's CPU forward is four NumPy passes with temporaries (x - mean, * inv_std, * gamma,
+ beta); here it is one compiled pass (:func:`groupy.fast_cpu.numba_kernels.bn_apply`, the same
operations in the same order, so the same values), followed in the same pass by the ReLU when
fused. :class:`FixedBatchNormalization` is Chainer's node, subclassed under its name (the graph
tracer and exporter recognise it); it keeps exactly the state Chainer's backward reads
(``inv_std``, ``inv_var``, ``expander``, ``axis``), so gradients of every order are Chainer's.
The fused node's backward masks the upstream gradient with z > 0 (a
:class:`~groupy.fast_cpu.activation.ReLUGrad` node) first.

The compiled pass applies to C-contiguous NumPy float32/float64 x whose parameters have x's
dtype and shape (C,), with the default axis, while the compiled kernels are on
(:func:`~groupy.fast_cpu.switch.compiled_kernels`); anything else is Chainer's code.
"""
import numpy

import chainer
from chainer.functions.normalization import batch_normalization as _bn

from groupy.fast_cpu.activation import ReLUGrad, relu
from groupy.fast_cpu.switch import array_of, compiled_kernels

__all__ = ['FixedBatchNormalization', 'fixed_batch_normalization',
           'fixed_batch_normalization_relu']


class FixedBatchNormalization(_bn.FixedBatchNormalization):
    """Chainer's test-mode BN node: (x (N, C, ...), gamma, beta, mean, var (C,)) ->
    y = gamma * (x - mean) / sqrt(var + eps) + beta, and max(y, 0) when ``relu`` (only where
    :meth:`applies`)."""

    fast_path = False

    def __init__(self, eps=2e-5, axis=None, relu=False):
        super().__init__(eps, axis)
        self.relu = relu

    def applies(self, inputs) -> bool:
        """Whether the compiled pass takes (x, gamma, beta, mean, var) (arrays)."""
        x, gamma = inputs[:2]
        return (compiled_kernels('numba_kernels', *inputs) is not None and x.ndim >= 2
                and x.flags.c_contiguous
                and all(a.shape == (x.shape[1],) for a in inputs[1:])
                and _bn._compute_axis(x.ndim, gamma.ndim, self.axis) == (0,) + tuple(
                    range(2, x.ndim)))

    def forward(self, inputs):
        if not self.applies(inputs):
            if self.relu:
                raise ValueError('FixedBatchNormalization(relu=True): only for the compiled '
                                 'pass (use fixed_batch_normalization_relu)')
            return super().forward(inputs)
        self.fast_path = True
        self.retain_inputs((0, 1, 3, 4))
        x, gamma, beta, mean, var = inputs
        self.axis = _bn._compute_axis(x.ndim, gamma.ndim, self.axis)
        self.key_axis = (1,)
        self.expander = (None, slice(None)) + (None,) * (x.ndim - 2)
        self.inv_var = numpy.reciprocal(var + self.eps)  # as Chainer's forward
        self.inv_std = numpy.sqrt(self.inv_var, dtype=self.inv_var.dtype)
        kernels = compiled_kernels('numba_kernels', x)
        y = kernels.bn_apply(x, mean, self.inv_std, gamma, beta, self.relu)
        if self.relu:
            self.retain_outputs((0,))
        return y,

    def backward(self, indexes, grad_outputs):
        if self.relu:
            z, = self.get_retained_outputs()
            grad_outputs = ReLUGrad(z.array).apply(grad_outputs)
        return super().backward(indexes, grad_outputs)


def fixed_batch_normalization(x, gamma, beta, mean, var, eps: float = 2e-5,
                              axis=None) -> chainer.Variable:
    """:func:`chainer.functions.fixed_batch_normalization` (same arguments and results):
    x (N, C, ...), gamma, beta, mean, var (C,) -> y (N, C, ...)."""
    return FixedBatchNormalization(eps, axis).apply((x, gamma, beta, mean, var))[0]


def fixed_batch_normalization_relu(x, gamma, beta, mean, var, eps: float = 2e-5,
                                   axis=None) -> chainer.Variable:
    """``relu(fixed_batch_normalization(...))``, one node on the compiled path.

    >>> import numpy
    >>> x = numpy.array([[1., -2.], [3., 6.]], numpy.float32)
    >>> one, zero = numpy.ones(2, numpy.float32), numpy.zeros(2, numpy.float32)
    >>> fixed_batch_normalization_relu(x, one, zero, zero, one, eps=0.).array
    array([[1., 0.],
           [3., 6.]], dtype=float32)
    """
    node = FixedBatchNormalization(eps, axis, relu=True)
    if node.applies(tuple(map(array_of, (x, gamma, beta, mean, var)))):
        return node.apply((x, gamma, beta, mean, var))[0]
    return relu(fixed_batch_normalization(x, gamma, beta, mean, var, eps, axis))

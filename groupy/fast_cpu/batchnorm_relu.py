"""Training-mode batch normalisation followed by ReLU as one node on the CPU: ``relu(bn(x))``
for x (N, C, ...) with gamma, beta (C,), as in conv -> BN -> ReLU.

The pair of nodes (:class:`~groupy.fast_cpu.batchnorm.BatchNormalizationFunction`, then
:class:`~groupy.fast_cpu.activation.ReLU`) makes one pass more each way and keeps one
activation-sized array more (BN's y); here the forward pass writes z = max(y, 0) and x_hat in
one pass after the statistics, and the backward pass masks the upstream gradient with z > 0
inside both passes of the batch-normalisation gradient:

* :class:`BatchNormalizationReLUFunction`: (x, gamma, beta) -> (z, x_hat, inv_std); retains
  gamma, z, x_hat and inv_std (z is the next layer's input, which that layer keeps anyway);
* :class:`BatchNormalizationReLUGradCPU`: (x_hat, inv_std, gamma, gz) -> (gx, ggamma, gbeta),
  the batch-normalisation gradient of gy = gz * (z > 0); its backward is that of
  :class:`~groupy.fast_cpu.batchnorm.BatchNormalizationGradCPU` at gy, written with Chainer
  functions, so gradients of every order are exact.

:func:`batch_normalization_relu` takes this node on the training-mode fast path of
:class:`~groupy.fast_cpu.batchnorm.BatchNormalizationFunction` and is
``relu(batch_normalization(...))`` otherwise (test mode, CuPy, float16, the switch off).
"""
import chainer
from chainer import configuration

from groupy.fast_cpu.activation import ReLUGrad, relu
from groupy.fast_cpu.batchnorm import (
    BatchNormalizationFunction, BatchNormalizationGradCPU, batch_normalization, grad_backward)
from groupy.fast_cpu.batchnorm_kernels import bn_backward
from groupy.fast_cpu.switch import array_of

__all__ = ['BatchNormalizationReLUFunction', 'BatchNormalizationReLUGradCPU',
           'batch_normalization_relu']


class BatchNormalizationReLUFunction(BatchNormalizationFunction):
    """Training-mode BN then ReLU on the fast path only (see :func:`batch_normalization_relu`):
    x (N, C, ...), gamma, beta (C,) -> z = max(gamma * x_hat + beta, 0), x_hat, inv_std."""

    relu = True
    _retained = (0, 1, 2)

    def forward(self, inputs):
        if not (configuration.config.train and self._fast(inputs)):
            raise ValueError('BatchNormalizationReLUFunction: only for the training-mode fast '
                             'path (use batch_normalization_relu)')
        return super().forward(inputs)

    def _grad_node(self, retained):
        return BatchNormalizationReLUGradCPU(retained[0].array)


class BatchNormalizationReLUGradCPU(BatchNormalizationGradCPU):
    """(x_hat (N, C, ...), inv_std (C,), gamma (C,), gz (N, C, ...)) -> (gx, ggamma, gbeta) of
    :class:`BatchNormalizationGradCPU` at gy = gz * (z > 0), z (N, C, ...) the ReLU's output."""

    def __init__(self, z):
        self.z = z

    def forward(self, inputs):
        self.retain_inputs((0, 1, 2, 3))
        x_hat, inv_std, gamma, gz = inputs
        return bn_backward(x_hat, inv_std, gamma, gz, self.z)

    def backward(self, indexes, grad_outputs):
        x_hat, inv_std, gamma, gz = self.get_retained_inputs()
        gy, = ReLUGrad(self.z).apply((gz,))
        grads = grad_backward((x_hat, inv_std, gamma, gy), grad_outputs, indexes)
        if 3 in indexes:  # the mask is its own adjoint
            i = indexes.index(3)
            if grads[i] is not None:
                grads = grads[:i] + ReLUGrad(self.z).apply((grads[i],)) + grads[i + 1:]
        return grads


def batch_normalization_relu(x, gamma, beta, eps: float = 2e-5, running_mean=None,
                             running_var=None, decay: float = 0.9,
                             axis=None) -> chainer.Variable:
    """``relu(batch_normalization(x, gamma, beta, ...))`` (same arguments as
    :func:`~groupy.fast_cpu.batchnorm.batch_normalization`): x (N, C, ...) -> (N, C, ...), one
    node in training mode on the fast CPU path.

    >>> import numpy
    >>> x = numpy.array([[1., 2.], [3., 6.]], numpy.float32)
    >>> gamma, beta = numpy.ones(2, numpy.float32), numpy.zeros(2, numpy.float32)
    >>> z = batch_normalization_relu(x, gamma, beta)
    >>> numpy.round(z.array, 3), type(z.creator).__name__
    (array([[0., 0.],
           [1., 1.]], dtype=float32), 'BatchNormalizationReLUFunction')
    """
    node = BatchNormalizationReLUFunction(eps, running_mean, running_var, decay, axis)
    if configuration.config.train and node._fast(tuple(map(array_of, (x, gamma, beta)))):
        return node.apply((x, gamma, beta))[0]
    return relu(batch_normalization(x, gamma, beta, eps, running_mean, running_var, decay,
                                    axis))

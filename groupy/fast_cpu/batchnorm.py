"""Faster CPU training-mode batch normalisation for Chainer, per channel (axis 1) of
(N, C, ...) maps: planar (N, C, H, W) and G-feature maps (N, C, G, H, W) alike.

Chainer's CPU batch normalisation reduces over several non-contiguous axes at once
(``x.var(axis=(0, 2, 3, 4))`` costs four times a plain sum), keeps the input x for the backward
pass and recomputes ``x_hat`` there with fresh temporaries. Here the passes are those of
:mod:`groupy.fast_cpu.batchnorm_kernels` (one sum and one batched dot product per row, split
over the batch on the worker threads), and the backward pass is a function of ``x_hat`` alone:

* :class:`BatchNormalizationFunction`: Chainer's BatchNormalization node, subclassed. In
  training mode on the fast path it maps (x, gamma, beta) -> (y, x_hat, inv_std) and sets
  ``fast_path``. Only y is handed to the caller; x_hat and inv_std are retained outputs and x is
  NOT retained, so the one activation-sized array a layer keeps for its backward pass is x_hat
  (x is freed as soon as nothing else holds it: in conv -> BN -> ReLU, the convolution's
  output);
* :class:`BatchNormalizationGradCPU`: (x_hat, inv_std, gamma, gy) -> (gx, ggamma, gbeta), whose
  backward is written with Chainer functions; the gradient of x_hat and inv_std in x is the
  forward node's backward for its second and third outputs, so gradients of any order are exact.

Outside training mode (``chainer.config.train`` False: the ResNets' batch-statistics BN at
evaluation, graphs traced by :mod:`groupy.gconv.chainer_gconv.trace`) the node runs the same
passes through Chainer's own forward and backward (one output), as the tracer expects.

The fast path applies to C-contiguous NumPy float32/float64 inputs whose gamma and beta have x's
dtype and shape (C,), with the default axis; anything else (CuPy, float16, other axes) gets
:func:`chainer.functions.batch_normalization`, as does everything when the fast CPU paths are
off (:mod:`groupy.fast_cpu.switch`): there the node is Chainer's own code, forward and backward.

* :func:`batch_normalization`: drop-in for :func:`chainer.functions.batch_normalization`;
* :class:`BatchNormalization`: drop-in for :class:`chainer.links.BatchNormalization` (same
  parameters, running averages, ``decay``, ``eps``, ``finetune`` and test mode; the
  computations are replaced: training mode as above, test mode by
  :mod:`groupy.fast_cpu.batchnorm_fixed`), with ``forward_relu`` for BN + ReLU in one node.
"""
import warnings

import numpy

import chainer
from chainer import configuration, function_node
import chainer.functions as F
from chainer.functions.normalization import batch_normalization as _bn
import chainer.links as L
from chainer.utils import argument, type_check

from groupy.fast_cpu.activation import relu
from groupy.fast_cpu.batchnorm_fixed import (
    fixed_batch_normalization, fixed_batch_normalization_relu)
from groupy.fast_cpu.batchnorm_kernels import bn_backward, bn_forward
from groupy.fast_cpu.switch import fast_cpu_enabled

__all__ = ['BatchNormalization', 'BatchNormalizationFunction', 'BatchNormalizationGradCPU',
           'batch_normalization', 'grad_backward', 'running_average_update']


def _update_running_averages(running_mean, running_var, decay, mean, var, m):
    """Chainer's running-average update in place (unbiased variance of m values per channel);
    nothing when running_mean is None."""
    if running_mean is not None:
        adjust = m / max(m - 1., 1.)
        running_mean *= decay
        running_mean += (1 - decay) * mean
        running_var *= decay
        running_var += (1 - decay) * adjust * var


def _channel_sum(a):
    """Per-channel sum of a Variable (N, C, ...) over every axis but 1: (C,)."""
    return F.sum(a, axis=(0,) + tuple(range(2, a.ndim)))


def _per_channel(v, ndim):
    """A (C,) Variable as (1, C, 1, ...) of rank ndim, for broadcasting against (N, C, ...)."""
    return F.reshape(v, (1, v.shape[0]) + (1,) * (ndim - 2))


class BatchNormalizationFunction(_bn.BatchNormalization):
    """Chainer's batch normalisation node (same arguments). On the fast path in training mode:
    x (N, C, ...), gamma, beta (C,) -> y = gamma * x_hat + beta, x_hat = (x - mean) * inv_std
    (N, C, ...) and inv_std = 1 / sqrt(var + eps) (C,), with the batch mean and biased variance
    per channel; running_mean/running_var (C,), when given, are updated in place as Chainer
    does (unbiased variance). Retains gamma and its outputs x_hat and inv_std, not x."""

    fast_path = False
    #: bn_forward's ReLU flag, and the outputs kept for the backward pass (y, x_hat, inv_std)
    relu = False
    _retained = (1, 2)

    def _fast(self, inputs):
        x, gamma, beta = inputs
        return (fast_cpu_enabled(x, gamma, beta) and x.ndim >= 2 and x.flags.c_contiguous
                and gamma.shape == beta.shape == (x.shape[1],)
                and _key_axis(x.ndim, gamma.ndim, self.axis) == (1,))

    def forward(self, inputs):
        if not self._fast(inputs):
            return super().forward(inputs)
        if not configuration.config.train:  # Chainer's node and graph, groupy's passes
            self._impl_selector = _fast_cpu_impl
            return super().forward(inputs)
        self.fast_path = True
        x, gamma, beta = inputs
        if x.size == x.shape[1]:
            warnings.warn('batch_normalization: a batch of one value per channel (x of shape '
                          '{}) is normalised to zero'.format(x.shape), UserWarning)
        y, x_hat, mean, var, inv_std = bn_forward(x, gamma, beta, self.eps, self.relu)
        _update_running_averages(self.running_mean, self.running_var, self.decay, mean, var,
                                 x.size // x.shape[1])
        self.retain_inputs((1,))
        self.retain_outputs(self._retained)
        return y, x_hat, inv_std

    def _grad_node(self, retained):
        """The node of the gradient in (x, gamma, beta) of y, given the retained outputs."""
        return BatchNormalizationGradCPU()

    def backward(self, indexes, grad_outputs):
        if not self.fast_path:
            return super().backward(indexes, grad_outputs)
        gy, g_x_hat, g_inv_std = grad_outputs
        gamma, = self.get_retained_inputs()
        retained = self.get_retained_outputs()
        x_hat, inv_std = retained[-2:]
        gx = ggamma = gbeta = None
        if gy is not None:
            gx, ggamma, gbeta = self._grad_node(retained).apply((x_hat, inv_std, gamma, gy))
        if g_x_hat is not None or g_inv_std is not None:  # only in higher-order gradients
            gx_norm = _normalisation_grad(x_hat, inv_std, g_x_hat, g_inv_std)
            gx = gx_norm if gx is None else gx + gx_norm
        grads = (gx, ggamma, gbeta)
        return tuple(grads[i] for i in indexes)


def _normalisation_grad(x_hat, inv_std, g_x_hat, g_inv_std):
    """The gradient in x of <x_hat, g_x_hat> + <inv_std, g_inv_std> (either may be None), with
    x_hat = (x - mean) * s, s = inv_std = (var + eps) ** -1/2 per channel over m values; within
    a channel d x_hat_i / d x_j = s (delta_ij - 1/m) - s x_hat_i x_hat_j / m and
    d s / d x_j = -s^2 x_hat_j / m (zero across channels)."""
    nd = x_hat.ndim
    inv_m = x_hat.dtype.type(x_hat.shape[1] / x_hat.size)
    s = _per_channel(inv_std, nd)
    gx = None
    if g_x_hat is not None:
        g1 = _per_channel(_channel_sum(g_x_hat), nd)
        g2 = _per_channel(_channel_sum(g_x_hat * x_hat), nd)
        gx = s * (g_x_hat - (g1 + x_hat * g2) * inv_m)
    if g_inv_std is not None:
        term = x_hat * (s * s * _per_channel(g_inv_std, nd) * -inv_m)
        gx = term if gx is None else gx + term
    return gx


class BatchNormalizationGradCPU(function_node.FunctionNode):
    """(x_hat (N, C, ...), inv_std (C,), gamma (C,), gy (N, C, ...)) -> (gx, ggamma, gbeta) of
    :class:`BatchNormalizationFunction`: gbeta = sum gy, ggamma = sum gy * x_hat and
    gx = k (gy - (x_hat ggamma + gbeta) / m) with k = gamma * inv_std (sums over all axes but 1,
    m values per channel)."""

    def check_type_forward(self, in_types):
        type_check._argname(in_types, ('x_hat', 'inv_std', 'gamma', 'gy'))
        xh_type, s_type, gamma_type, gy_type = in_types
        type_check.expect(xh_type.dtype.kind == 'f', xh_type.ndim >= 2,
                          s_type.dtype == xh_type.dtype, gamma_type.dtype == xh_type.dtype,
                          gy_type.dtype == xh_type.dtype, gy_type.shape == xh_type.shape,
                          s_type.ndim == 1, gamma_type.ndim == 1,
                          s_type.shape[0] == xh_type.shape[1],
                          gamma_type.shape[0] == xh_type.shape[1])

    def forward(self, inputs):
        self.retain_inputs((0, 1, 2, 3))
        x_hat, inv_std, gamma, gy = inputs
        return bn_backward(x_hat, inv_std, gamma, gy)

    def backward(self, indexes, grad_outputs):
        return grad_backward(self.get_retained_inputs(), grad_outputs, indexes)


def grad_backward(inputs, grad_outputs, indexes):
    """The backward of :class:`BatchNormalizationGradCPU` at its inputs (x_hat, inv_std, gamma,
    gy) (Variables) for the upstream gradients (a, b, c) of (gx, ggamma, gbeta): the gradients
    of ``indexes`` among (x_hat, inv_std, gamma, gy)."""
    # with S1 = sum gy, S2 = sum gy x_hat, A1 = sum a, A2 = sum a x_hat (per channel):
    #   d/dgy    = k a - k (A2 x_hat + A1) / m + b x_hat + c
    #   d/dx_hat = -k (a S2 + A2 gy) / m + b gy
    #   d/dk     = sum a gy - (A2 S2 + A1 S1) / m,  k = gamma * inv_std
    x_hat, inv_std, gamma, gy = inputs
    a, b, c = grad_outputs
    nd = x_hat.ndim
    inv_m = x_hat.dtype.type(x_hat.shape[1] / x_hat.size)
    g_gy, g_xh, g_k = [], [], None
    if a is not None:
        k = _per_channel(gamma * inv_std, nd)
        s1, s2 = _channel_sum(gy), _channel_sum(gy * x_hat)
        a1, a2 = _channel_sum(a), _channel_sum(a * x_hat)
        g_gy.append(k * (a - (x_hat * _per_channel(a2, nd) + _per_channel(a1, nd)) * inv_m))
        g_xh.append(k * (a * _per_channel(s2, nd) + gy * _per_channel(a2, nd)) * -inv_m)
        g_k = _channel_sum(a * gy) - (a2 * s2 + a1 * s1) * inv_m
    if b is not None:
        g_gy.append(x_hat * _per_channel(b, nd))
        g_xh.append(gy * _per_channel(b, nd))
    if c is not None:
        g_gy.append(F.broadcast_to(_per_channel(c, nd), gy.shape))
    grads = {0: sum(g_xh[1:], g_xh[0]) if g_xh else None,
             1: None if g_k is None else g_k * gamma,
             2: None if g_k is None else g_k * inv_std,
             3: sum(g_gy[1:], g_gy[0]) if g_gy else None}
    return tuple(grads[i] for i in indexes)


def _key_axis(ndim, gamma_ndim, axis):
    """The axes gamma spans (those not reduced over), as chainer's batch_normalization reads
    ``axis`` (None: every axis but 1..gamma_ndim)."""
    if axis is None:
        axis = (0,) + tuple(range(gamma_ndim + 1, ndim))
    elif isinstance(axis, (int, numpy.integer)):
        axis = (int(axis),)
    return tuple(i for i in range(ndim) if i not in tuple(axis))


class _FastCPUImpl(_bn.GeneralBatchNormalizationImpl):
    """The passes of :mod:`~groupy.fast_cpu.batchnorm_kernels` inside Chainer's own
    BatchNormalization node (which retains x; ``forward_data`` carries x_hat), for
    :func:`batch_normalization` outside training mode: there the graph shows Chainer's node,
    which :mod:`groupy.export` reads (the ResNets' batch-statistics BN at evaluation)."""

    def forward(self, axis, gamma, x, x_layout, xp, expander, beta, eps, decay,
                running_mean, running_var):
        y, x_hat, mean, var, inv_std = bn_forward(x, gamma, beta, eps)
        _update_running_averages(running_mean, running_var, decay, mean, var,
                                 x.size // x.shape[1])
        return y, x_layout, running_mean, running_var, mean, var, inv_std, x_hat

    def backward(self, axis, gamma, gy, x, x_layout, xp, expander, mean, inv_std, eps, var,
                 forward_data):
        gx, ggamma, gbeta = bn_backward(forward_data, inv_std, gamma, gy)
        return gx, None, ggamma, gbeta


def _fast_cpu_impl(node, inputs):
    return _FastCPUImpl()


def batch_normalization(x, gamma, beta, eps: float = 2e-5, running_mean=None, running_var=None,
                        decay: float = 0.9, axis=None) -> chainer.Variable:
    """Batch normalisation with the arguments and results of
    :func:`chainer.functions.batch_normalization`: x (N, C, ...), gamma and beta (C,) ->
    y (N, C, ...); running_mean/running_var (C,) are updated in place when given (see
    :class:`BatchNormalizationFunction` for where the fast passes apply).

    >>> import numpy
    >>> x = numpy.array([[1., 2.], [3., 6.]], numpy.float32)
    >>> gamma, beta = numpy.ones(2, numpy.float32), numpy.zeros(2, numpy.float32)
    >>> y = batch_normalization(x, gamma, beta)
    >>> numpy.round(y.array, 3), y.creator.fast_path
    (array([[-1., -1.],
           [ 1.,  1.]], dtype=float32), True)
    """
    node = BatchNormalizationFunction(eps, running_mean, running_var, decay, axis)
    return node.apply((x, gamma, beta))[0]


def running_average_update(link, finetune):
    """The running-average bookkeeping of :meth:`chainer.links.BatchNormalization.forward` in
    training mode, for ``link`` (an L.BatchNormalization): counts the batch in finetune mode and
    returns ``(decay, running_mean, running_var)`` for the BN function, with the running
    averages None inside a recomputed forward pass (which must not update them)."""
    if finetune:
        link.N += 1
        decay = 1. - 1. / link.N
    else:
        decay = link.decay
    if chainer.config.in_recomputing:
        if finetune:
            link.N -= 1
        return decay, None, None
    return decay, link.avg_mean, link.avg_var


class BatchNormalization(L.BatchNormalization):
    """:class:`chainer.links.BatchNormalization` whose training-mode forward pass uses
    :func:`batch_normalization` and test mode
    :func:`~groupy.fast_cpu.batchnorm_fixed.fixed_batch_normalization` (same arguments,
    parameters and state); :meth:`forward_relu` is ``relu(self(x))`` in one node."""

    def forward(self, x, **kwargs):
        finetune, = argument.parse_kwargs(
            kwargs, ('finetune', False),
            test='test argument is not supported anymore. Use chainer.using_config')
        if self.avg_mean is None or self.gamma is None or self.beta is None:
            return super().forward(x, finetune=finetune)
        if not configuration.config.train:
            return fixed_batch_normalization(x, self.gamma, self.beta, self.avg_mean,
                                             self.avg_var, self.eps, self.axis)
        decay, avg_mean, avg_var = running_average_update(self, finetune)
        return batch_normalization(x, self.gamma, self.beta, eps=self.eps, running_mean=avg_mean,
                                   running_var=avg_var, decay=decay, axis=self.axis)

    def forward_relu(self, x, finetune: bool = False) -> chainer.Variable:
        """``relu(self(x, finetune=finetune))``, one node on the fast CPU path
        (:func:`groupy.fast_cpu.batchnorm_relu.batch_normalization_relu` in training mode,
        :func:`groupy.fast_cpu.batchnorm_fixed.fixed_batch_normalization_relu` in test mode)."""
        from groupy.fast_cpu.batchnorm_relu import batch_normalization_relu
        if self.avg_mean is None or self.gamma is None or self.beta is None:
            return relu(self.forward(x, finetune=finetune))
        if not configuration.config.train:
            return fixed_batch_normalization_relu(x, self.gamma, self.beta, self.avg_mean,
                                                  self.avg_var, self.eps, self.axis)
        decay, avg_mean, avg_var = running_average_update(self, finetune)
        return batch_normalization_relu(x, self.gamma, self.beta, eps=self.eps,
                                        running_mean=avg_mean, running_var=avg_var, decay=decay,
                                        axis=self.axis)

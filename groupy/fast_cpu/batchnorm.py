"""Faster CPU training-mode batch normalisation for Chainer, per channel (axis 1) of
(N, C, ...) maps: planar (N, C, H, W) and G-feature maps (N, C, G, H, W) alike.

Chainer's CPU batch normalisation reduces over several non-contiguous axes at once
(``x.var(axis=(0, 2, 3, 4))`` costs four times a plain sum) and recomputes ``x_hat`` with fresh
temporaries in the backward pass. Here x is viewed as (N, C, M), the statistics are one sum and
one batched dot product per (n, c) row (accumulated over the batch in float64), the forward pass
keeps ``x_hat`` for the backward pass (one activation-sized array per layer, in place of
Chainer's recomputation), the backward pass works in place on its output, and every pass is
split over the batch on the worker threads of :mod:`~groupy.fast_cpu.threads`.

It plugs into Chainer's own :class:`chainer.functions.normalization.batch_normalization.
BatchNormalization` FunctionNode through its ``impl_selector`` argument, so the running-average
update, the saved statistics and the double backward (``BatchNormalizationGrad.backward``, written
with Chainer functions) are Chainer's. The fast path applies to C-contiguous NumPy float32/float64
inputs whose gamma and beta have x's dtype and shape (C,), with the default axis; anything else
(CuPy, float16, other axes) gets Chainer's implementation, as does everything when the fast CPU
paths are off (:mod:`groupy.fast_cpu.switch`).

* :func:`batch_normalization`: drop-in for :func:`chainer.functions.batch_normalization`;
* :class:`BatchNormalization`: drop-in for :class:`chainer.links.BatchNormalization` (same
  parameters, running averages, ``decay``, ``eps``, ``finetune`` and test mode; only the
  training-mode computation is replaced).
"""
import numpy

import chainer
from chainer import configuration
from chainer.functions.normalization import batch_normalization as _bn
import chainer.links as L
from chainer.utils import argument

from groupy.fast_cpu.threads import cache_blocks, map_batch_slices
from groupy.fast_cpu.switch import fast_cpu_enabled


# Below this many elements the passes run inline (thread hand-off costs more than it saves).
_MIN_PARALLEL_SIZE = 1 << 17


def _rows(a):
    """a (N, C, ...) as a (N, C, M) view."""
    return a.reshape(a.shape[0], a.shape[1], -1)


def _row_dots(a, b):
    """sum_{n, m} a[n, c, m] * b[n, c, m] for a, b (N, C, M), accumulated in float64: (C,)."""
    dots = numpy.matmul(a[:, :, None, :], b[:, :, :, None])[:, :, 0, 0]
    return dots.sum(axis=0, dtype=numpy.float64)


def _row_sums(a):
    """sum_{n, m} a[n, c, m] for a (N, C, M), accumulated in float64: (C,)."""
    return a.sum(axis=2).sum(axis=0, dtype=numpy.float64)


def _over_batch(a, work):
    """work(n0, n1) on slices of a's batch on the worker threads; the float64 partial results
    (if any) are summed in slice order."""
    results = map_batch_slices(a.shape[0], work, parallel=a.size >= _MIN_PARALLEL_SIZE)
    return None if results[0] is None else sum(results[1:], results[0])


class _FastCPUImpl(_bn.GeneralBatchNormalizationImpl):
    """Chainer's ``GeneralBatchNormalizationImpl`` with fast NumPy forward/backward passes.

    ``forward_data`` carries x_hat (N, C, M) from the forward to the backward pass."""

    def forward(self, axis, gamma, x, x_layout, xp, expander, beta, eps, decay,
                running_mean, running_var):
        dtype = x.dtype
        x3 = _rows(x)
        m = x3.shape[0] * x3.shape[2]
        x_hat, y = numpy.empty_like(x3), numpy.empty_like(x3)
        mean = (_over_batch(x3, lambda n0, n1: _row_sums(x3[n0:n1])) / m).astype(dtype)

        row_bytes = x3[0].nbytes

        def center(n0, n1):  # x_hat = x - mean and its squares, block by block (cache-hot)
            dots = 0.
            for b0, b1 in cache_blocks(n0, n1, row_bytes):
                numpy.subtract(x3[b0:b1], mean[:, None], out=x_hat[b0:b1])
                dots = dots + _row_dots(x_hat[b0:b1], x_hat[b0:b1])
            return dots

        var64 = _over_batch(x3, center) / m
        var = var64.astype(dtype)
        inv_std = numpy.reciprocal(numpy.sqrt(var64 + eps)).astype(dtype)

        def scale_shift(n0, n1):
            for b0, b1 in cache_blocks(n0, n1, row_bytes):
                x_hat[b0:b1] *= inv_std[:, None]
                numpy.multiply(x_hat[b0:b1], gamma[:, None], out=y[b0:b1])
                y[b0:b1] += beta[:, None]

        _over_batch(x3, scale_shift)
        if running_mean is not None:  # as Chainer: unbiased variance in the running average
            adjust = m / max(m - 1., 1.)
            running_mean *= decay
            running_mean += (1 - decay) * mean
            running_var *= decay
            running_var += (1 - decay) * adjust * var
        return y.reshape(x.shape), x_layout, running_mean, running_var, mean, var, inv_std, x_hat

    def backward(self, axis, gamma, gy, x, x_layout, xp, expander, mean, inv_std, eps, var,
                 forward_data):
        if not (isinstance(gy, numpy.ndarray) and gy.dtype == x.dtype):
            return super().backward(axis, gamma, gy, x, x_layout, xp, expander, mean, inv_std,
                                    eps, var, None)
        x_hat = forward_data
        gy3 = _rows(numpy.ascontiguousarray(gy))
        inv_m = 1. / (x_hat.shape[0] * x_hat.shape[2])
        def grad_sums(n0, n1):  # (sum gy, sum gy * x_hat) per channel, block by block
            acc = 0.
            for b0, b1 in cache_blocks(n0, n1, gy3[0].nbytes):
                acc = acc + numpy.stack([_row_sums(gy3[b0:b1]),
                                         _row_dots(gy3[b0:b1], x_hat[b0:b1])])
            return acc

        sums = _over_batch(gy3, grad_sums)
        gbeta, ggamma = sums
        # gx = gamma * inv_std * (gy - (x_hat * ggamma + gbeta) / m)
        a = (ggamma * inv_m).astype(x.dtype)[:, None]
        b = (gbeta * inv_m).astype(x.dtype)[:, None]
        coeff = (gamma * inv_std)[:, None]
        gx = numpy.empty_like(gy3)

        def grad_x(n0, n1):
            for b0, b1 in cache_blocks(n0, n1, gy3[0].nbytes):
                g = gx[b0:b1]
                numpy.multiply(x_hat[b0:b1], a, out=g)
                g += b
                numpy.subtract(gy3[b0:b1], g, out=g)
                g *= coeff

        _over_batch(gy3, grad_x)
        return (gx.reshape(x.shape), None, ggamma.astype(gamma.dtype),
                gbeta.astype(gamma.dtype))


def _fast_path_applies(func, inputs):
    x, gamma, beta = inputs
    return (fast_cpu_enabled(x, gamma, beta) and x.ndim >= 2 and x.flags.c_contiguous
            and gamma.shape == beta.shape == (x.shape[1],) and func.key_axis == (1,))


def _impl_selector(func, inputs):
    """Our implementation where it applies, Chainer's choice otherwise."""
    if _fast_path_applies(func, inputs):
        return _FastCPUImpl()
    return _bn._impl_selector(func, inputs)


def batch_normalization(x, gamma, beta, eps=2e-5, running_mean=None, running_var=None,
                        decay=0.9, axis=None):
    """Training-mode batch normalisation with the arguments and results of
    :func:`chainer.functions.batch_normalization`: x (N, C, ...), gamma and beta (C,) ->
    y (N, C, ...); running_mean/running_var (C,) are updated in place when given."""
    return _bn.BatchNormalization(eps, running_mean, running_var, decay, axis,
                                  impl_selector=_impl_selector).apply((x, gamma, beta))[0]


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
    :func:`batch_normalization` (same arguments, parameters and state; test mode unchanged)."""

    def forward(self, x, **kwargs):
        finetune, = argument.parse_kwargs(
            kwargs, ('finetune', False),
            test='test argument is not supported anymore. Use chainer.using_config')
        if (not configuration.config.train or self.avg_mean is None or self.gamma is None
                or self.beta is None or not fast_cpu_enabled(x)):
            return super().forward(x, finetune=finetune)
        decay, avg_mean, avg_var = running_average_update(self, finetune)
        return batch_normalization(x, self.gamma, self.beta, eps=self.eps, running_mean=avg_mean,
                                   running_var=avg_var, decay=decay, axis=self.axis)

"""NumPy passes of the fast CPU batch normalisation (:mod:`groupy.fast_cpu.batchnorm`), per
channel (axis 1) of C-contiguous (N, C, ...) maps, viewed as (N, C, M).

Both functions run the compiled kernels of :mod:`groupy.fast_cpu.numba_kernels` (two passes
each way) where :func:`~groupy.fast_cpu.switch.compiled_kernels` allows, else NumPy passes: the
statistics are then one sum and one batched dot product per (n, c) row, accumulated over the
batch in float64, on slices of the batch on the worker threads of
:mod:`~groupy.fast_cpu.threads`, in cache-sized blocks of rows.

* :func:`bn_forward`: x -> y = gamma * x_hat + beta, x_hat = (x - mean) * inv_std (and
  optionally ReLU);
* :func:`bn_backward`: (x_hat, inv_std, gamma, gy) -> (gx, ggamma, gbeta), a function of the
  normalised input only (x itself is not needed), optionally through a ReLU's mask.
"""
import numpy

from groupy.fast_cpu.switch import compiled_kernels
from groupy.fast_cpu.threads import cache_blocks, map_batch_slices

__all__ = ['bn_backward', 'bn_forward', 'rows']

# Below this many elements the passes run inline (thread hand-off costs more than it saves).
_MIN_PARALLEL_SIZE = 1 << 17


def rows(a):
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


def bn_forward(x, gamma, beta, eps, relu=False):
    """Training-mode batch normalisation of x (N, C, ...) with gamma, beta (C,) of x's dtype
    (y = max(y, 0) as well when ``relu``).

    Returns (y, x_hat, mean, var, inv_std): y and x_hat of x's shape, the batch mean, the
    biased variance and 1 / sqrt(var + eps) (C,) in x's dtype (computed in float64)."""
    dtype = x.dtype
    kernels = compiled_kernels('numba_kernels', x, gamma, beta)
    if kernels is not None:
        mean64, var64 = kernels.bn_forward_stats(x)
        mean = mean64.astype(dtype)
        inv_std = numpy.reciprocal(numpy.sqrt(var64 + eps)).astype(dtype)
        x_hat, y = kernels.bn_forward_output(x, mean, inv_std, gamma, beta, relu)
        return y, x_hat, mean, var64.astype(dtype), inv_std
    x3 = rows(x)
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
    y = y.reshape(x.shape)
    if relu:
        numpy.maximum(y, 0, out=y)
    return y, x_hat.reshape(x.shape), mean, var, inv_std


def bn_backward(x_hat, inv_std, gamma, gy, z=None):
    """Gradients of training-mode batch normalisation from the normalised input:
    x_hat, gy (N, C, ...), inv_std, gamma (C,) -> (gx (N, C, ...), ggamma (C,), gbeta (C,)) with
    gbeta = sum gy, ggamma = sum gy * x_hat (float64 sums, cast to gamma's dtype) and
    gx = gamma * inv_std * (gy - (x_hat * ggamma + gbeta) / m), m = N * M. With z (a ReLU's
    output (N, C, ...)), gy is first masked to gy * (z > 0): the gradient through the ReLU."""
    dtype = x_hat.dtype
    gy = numpy.ascontiguousarray(gy, dtype=dtype)
    inv_m = 1. / (x_hat.size // x_hat.shape[1])
    coeff = (gamma * inv_std)[:, None]
    kernels = compiled_kernels('numba_kernels', x_hat, inv_std, gamma, gy)
    if kernels is not None:
        gbeta, ggamma = kernels.bn_backward_sums(gy, x_hat, z)
        gx = kernels.bn_backward_gx(gy, x_hat, (ggamma * inv_m).astype(dtype),
                                    (gbeta * inv_m).astype(dtype), coeff[:, 0], z)
        return gx, ggamma.astype(gamma.dtype), gbeta.astype(gamma.dtype)
    if z is not None:
        gy = gy * (z > 0)
    xh3 = rows(x_hat)
    gy3 = rows(gy)
    row_bytes = gy3[0].nbytes

    def grad_sums(n0, n1):  # (sum gy, sum gy * x_hat) per channel, block by block
        acc = 0.
        for b0, b1 in cache_blocks(n0, n1, row_bytes):
            acc = acc + numpy.stack([_row_sums(gy3[b0:b1]), _row_dots(gy3[b0:b1], xh3[b0:b1])])
        return acc

    gbeta, ggamma = _over_batch(gy3, grad_sums)
    a = (ggamma * inv_m).astype(dtype)[:, None]
    b = (gbeta * inv_m).astype(dtype)[:, None]
    gx = numpy.empty_like(gy3)

    def grad_x(n0, n1):
        for b0, b1 in cache_blocks(n0, n1, row_bytes):
            g = gx[b0:b1]
            numpy.multiply(xh3[b0:b1], a, out=g)
            g += b
            numpy.subtract(gy3[b0:b1], g, out=g)
            g *= coeff

    _over_batch(gy3, grad_x)
    return gx.reshape(x_hat.shape), ggamma.astype(gamma.dtype), gbeta.astype(gamma.dtype)

"""Compiled (numba) kernels of the memory-bound passes of batch normalisation and ReLU, threaded
over rows, for C-contiguous float32/float64 arrays.

A map (N, C, ...) is seen as R = N * C rows of M values, row r in channel r % C. Each kernel is
one pass over memory where NumPy makes several; every row is reduced on one thread into float64
partial sums, and the partial sums are added in row order, so results do not depend on the
thread count. No ``fastmath`` (the row sums only may be reassociated): elementwise results are
those of the NumPy passes they replace (same operations, same order, same dtype).

* :func:`bn_forward_stats`: per-channel mean and biased variance (one pass, shifted sums);
* :func:`bn_forward_output`: x_hat = (x - mean) * inv_std, y = x_hat * gamma + beta, optionally
  followed by ReLU (one pass);
* :func:`bn_apply`: y = (x - mean) * inv_std * gamma + beta for given statistics (test mode),
  optionally followed by ReLU;
* :func:`bn_backward_sums`, :func:`bn_backward_gx`: the two passes of the backward, the ReLU
  mask optionally applied to the upstream gradient on the fly;
* :func:`relu_forward`, :func:`relu_backward`.

Kernels compile on first use for the dtypes used and are cached on disk (``cache=True``: in
``__pycache__`` next to this file, or ``NUMBA_CACHE_DIR``). :func:`launch` runs them on the
thread count of :mod:`groupy.fast_cpu.threads` (:func:`sync_threads`) with a threading layer
that needs no extra library (numba's own 'workqueue' unless ``NUMBA_THREADING_LAYER`` says
otherwise; never TBB by default).
"""
import threading

import numba
import numpy
from numba import njit, prange

from groupy.fast_cpu.threads import get_num_threads

__all__ = ['JIT', 'bn_apply', 'bn_backward_gx', 'bn_backward_sums', 'bn_forward_output',
           'bn_forward_stats', 'launch', 'relu_backward', 'relu_forward', 'sync_threads']

JIT = dict(parallel=True, cache=True, fastmath=False, nogil=True)
# The row sums may be reassociated (and so vectorised: 7x faster than eight scalar float64
# chains): the order of a float64 sum of float32 values is far below float32 rounding, and
# nothing else of fastmath (no contraction, NaN and infinity kept).
REDUCE_JIT = dict(JIT, fastmath={'reassoc'})

# The threading layer: numba's own 'workqueue' (always there, fork-safe: sweeps and data
# loaders fork) unless NUMBA_THREADING_LAYER names another; it must not be entered from two
# threads at once, so every launch here holds _LAUNCH. (OpenMP, numba's other default, kept
# its threads spinning after each loop, slowing the NumPy / BLAS work in between.)
if numba.config.THREADING_LAYER == 'default':
    numba.config.THREADING_LAYER_PRIORITY = ['workqueue', 'omp', 'tbb']
_LAUNCH = threading.Lock()

# Elements per block of the flat elementwise kernels (one block per prange iteration).
_BLOCK = 1 << 14


def sync_threads() -> None:
    """Sets numba's thread count (per calling thread) to groupy's, at most numba's pool size."""
    want = min(get_num_threads(), numba.config.NUMBA_NUM_THREADS)
    if numba.get_num_threads() != want:
        numba.set_num_threads(want)


def launch(kernel, *args) -> None:
    """Runs a parallel kernel on groupy's thread count, one launch at a time."""
    with _LAUNCH:
        sync_threads()
        kernel(*args)


@njit(**REDUCE_JIT)
def _shifted_row_sums(x2, n_channels, shift, out):  # pragma: no cover - compiled
    """out[r] = (sum (x - k), sum (x - k)^2) over row r of x2 (R, M) in float64, with
    k = shift[r % C]."""
    rows, m = x2.shape
    for r in prange(rows):
        k = numpy.float64(shift[r % n_channels])
        s = q = 0.
        for j in range(m):
            d = x2[r, j] - k
            s += d
            q += d * d
        out[r, 0] = s
        out[r, 1] = q


@njit(**REDUCE_JIT)
def _row_sums_and_dots(g2, h2, z2, masked, out):  # pragma: no cover - compiled
    """out[r] = (sum g, sum g * h) over row r in float64, g = g2 * (z2 > 0) if ``masked``
    (the ReLU gradient of output z2) else g2 itself."""
    rows, m = g2.shape
    zero, one = g2.dtype.type(0), g2.dtype.type(1)
    for r in prange(rows):
        s = p = 0.
        if masked:
            for j in range(m):
                g = numpy.float64(g2[r, j] * (one if z2[r, j] > zero else zero))
                s += g
                p += g * h2[r, j]
        else:
            for j in range(m):
                g = numpy.float64(g2[r, j])
                s += g
                p += g * h2[r, j]
        out[r, 0] = s
        out[r, 1] = p


@njit(**JIT)
def _bn_output(x2, n_channels, mean, inv_std, gamma, beta, relu, x_hat, y):  # pragma: no cover
    """x_hat = (x - mean) * inv_std, y = x_hat * gamma + beta (then max(y, 0) if ``relu``) per
    row r of x2 (R, M), channel r % C; (C,) parameters of x's dtype."""
    rows, m = x2.shape
    zero = x2.dtype.type(0)
    for r in prange(rows):
        c = r % n_channels
        mu, s, g, b = mean[c], inv_std[c], gamma[c], beta[c]
        if relu:
            for j in range(m):
                h = (x2[r, j] - mu) * s
                x_hat[r, j] = h
                v = h * g + b
                y[r, j] = zero if v <= zero else v  # NaN stays NaN
        else:
            for j in range(m):
                h = (x2[r, j] - mu) * s
                x_hat[r, j] = h
                y[r, j] = h * g + b


@njit(**JIT)
def _bn_apply(x2, n_channels, mean, inv_std, gamma, beta, relu, y):  # pragma: no cover
    """y = (x - mean) * inv_std * gamma + beta (then max(y, 0) if ``relu``) per row r of
    x2 (R, M), channel r % C, in that order: test-mode batch normalisation."""
    rows, m = x2.shape
    zero = x2.dtype.type(0)
    for r in prange(rows):
        c = r % n_channels
        mu, s, g, b = mean[c], inv_std[c], gamma[c], beta[c]
        if relu:
            for j in range(m):
                v = (x2[r, j] - mu) * s * g + b
                y[r, j] = zero if v <= zero else v  # NaN stays NaN
        else:
            for j in range(m):
                y[r, j] = (x2[r, j] - mu) * s * g + b


@njit(**JIT)
def _bn_gx(g2, h2, z2, masked, n_channels, a, b, coeff, gx):  # pragma: no cover - compiled
    """gx = (g - (h * a + b)) * coeff per row r (channel r % C), g = g2 masked by z2 > 0 if
    ``masked`` else g2."""
    rows, m = g2.shape
    zero, one = g2.dtype.type(0), g2.dtype.type(1)
    for r in prange(rows):
        c = r % n_channels
        ac, bc, kc = a[c], b[c], coeff[c]
        if masked:
            for j in range(m):
                g = g2[r, j] * (one if z2[r, j] > zero else zero)
                gx[r, j] = (g - (h2[r, j] * ac + bc)) * kc
        else:
            for j in range(m):
                gx[r, j] = (g2[r, j] - (h2[r, j] * ac + bc)) * kc


@njit(**JIT)
def _relu_flat(x, y):  # pragma: no cover - compiled
    """y = max(x, 0) (NaN stays NaN, as numpy.maximum) for flat x, y."""
    n = x.shape[0]
    zero = x.dtype.type(0)
    for blk in prange((n + _BLOCK - 1) // _BLOCK):
        for i in range(blk * _BLOCK, min(n, (blk + 1) * _BLOCK)):
            v = x[i]
            y[i] = zero if v <= zero else v


@njit(**JIT)
def _relu_grad_flat(gy, z, gx):  # pragma: no cover - compiled
    """gx = gy where z > 0, else 0, for flat gy, z, gx."""
    n = gy.shape[0]
    zero, one = gy.dtype.type(0), gy.dtype.type(1)
    for blk in prange((n + _BLOCK - 1) // _BLOCK):
        for i in range(blk * _BLOCK, min(n, (blk + 1) * _BLOCK)):
            gx[i] = gy[i] * (one if z[i] > zero else zero)


def _rows(a):
    """a (N, C, ...) C-contiguous as a (N * C, M) view."""
    return a.reshape(a.shape[0] * a.shape[1], -1)


def _channel_totals(partial, n_channels):
    """(R, k) float64 row partials -> (k, C) channel totals, added in row order."""
    return partial.reshape(-1, n_channels, partial.shape[1]).sum(axis=0).T


def bn_forward_stats(x: numpy.ndarray) -> tuple:
    """x (N, C, ...) C-contiguous -> (mean, var) (C,) float64: the batch mean and biased
    variance per channel, from sums of x - x[0, c, first] accumulated in float64."""
    c = x.shape[1]
    x2 = _rows(x)
    shift = numpy.ascontiguousarray(x2[:c, 0])
    partial = numpy.empty((x2.shape[0], 2))
    launch(_shifted_row_sums, x2, c, shift, partial)
    s, q = _channel_totals(partial, c)
    m = x.size // c
    d = s / m
    var = numpy.maximum(q / m - d * d, 0.)
    return shift + d, var


def bn_forward_output(x: numpy.ndarray, mean, inv_std, gamma, beta, relu: bool = False) -> tuple:
    """(x_hat, y) of x (N, C, ...) for (C,) mean, inv_std, gamma, beta of x's dtype;
    y = max(x_hat * gamma + beta, 0) when ``relu``."""
    x_hat, y = numpy.empty_like(x), numpy.empty_like(x)
    launch(_bn_output, _rows(x), x.shape[1], mean, inv_std, gamma, beta, relu, _rows(x_hat),
           _rows(y))
    return x_hat, y


def bn_apply(x: numpy.ndarray, mean, inv_std, gamma, beta, relu: bool = False) -> numpy.ndarray:
    """y = (x - mean) * inv_std * gamma + beta of x (N, C, ...) for (C,) parameters of x's
    dtype (max(y, 0) when ``relu``): batch normalisation with given statistics."""
    y = numpy.empty_like(x)
    launch(_bn_apply, _rows(x), x.shape[1], mean, inv_std, gamma, beta, relu, _rows(y))
    return y


def bn_backward_sums(gy: numpy.ndarray, x_hat: numpy.ndarray, z=None) -> tuple:
    """(sum g, sum g * x_hat) per channel, (C,) float64 each, of gy, x_hat (N, C, ...), with
    g = gy * (z > 0) when z (a ReLU output of x_hat's shape) is given, else gy."""
    c = gy.shape[1]
    g2 = _rows(gy)
    partial = numpy.empty((g2.shape[0], 2))
    launch(_row_sums_and_dots, g2, _rows(x_hat), g2 if z is None else _rows(z), z is not None,
           partial)
    return _channel_totals(partial, c)


def bn_backward_gx(gy: numpy.ndarray, x_hat: numpy.ndarray, a, b, coeff,
                   z=None) -> numpy.ndarray:
    """gx = (g - (x_hat * a + b)) * coeff of gy, x_hat (N, C, ...) and (C,) a, b, coeff of
    their dtype, g as in :func:`bn_backward_sums`."""
    gx = numpy.empty_like(gy)
    g2 = _rows(gy)
    launch(_bn_gx, g2, _rows(x_hat), g2 if z is None else _rows(z), z is not None, gy.shape[1],
           a, b, coeff, _rows(gx))
    return gx


def relu_forward(x: numpy.ndarray) -> numpy.ndarray:
    """max(x, 0) of a C-contiguous x of any shape."""
    y = numpy.empty_like(x)
    launch(_relu_flat, x.reshape(-1), y.reshape(-1))
    return y


def relu_backward(gy: numpy.ndarray, z: numpy.ndarray) -> numpy.ndarray:
    """gy * (z > 0) of C-contiguous gy, z of one shape."""
    gx = numpy.empty_like(gy)
    launch(_relu_grad_flat, gy.reshape(-1), z.reshape(-1), gx.reshape(-1))
    return gx

"""Compiled (numba) kernels of 2x2 / stride-2 max pooling and of the max over the stabiliser
axis, threaded over the (n, c) planes of C-contiguous float32/float64 arrays; each is one pass.

* :func:`max_pool_2x2`: x (N, C, H, W), H and W even -> (y, idx) (N, C, H/2, W/2), idx the
  uint8 tap 0..3 (row-major) of each window's first maximum;
* :func:`max_pool_2x2_scatter`: gy (N, C, Ho, Wo), idx -> gx (N, C, 2 Ho, 2 Wo), gy at the tap,
  zero elsewhere; :func:`max_pool_2x2_gather`: its adjoint, x at each window's tap;
* :func:`orientation_max_forward`: x (N, C, G, ...) -> max over axis 2, taken from g = 0 up;
* :func:`orientation_max_scatter`: gx[:, :, g] = gy * (x[:, :, g] == y);
  :func:`orientation_max_gather`: ggy = sum over g of ggx[:, :, g] * (x[:, :, g] == y).

Results equal those of the NumPy passes of :mod:`groupy.fast_cpu.pooling` and
:mod:`groupy.fast_cpu.orientation_pooling` exactly (comparisons and copies; the sums of the
gathers add zeros). Compiled on first use, cached on disk, threads as in
:mod:`groupy.fast_cpu.numba_kernels`.
"""
import numpy
from numba import njit, prange

from groupy.fast_cpu.numba_kernels import JIT, launch

__all__ = ['max_pool_2x2', 'max_pool_2x2_gather', 'max_pool_2x2_scatter',
           'orientation_max_forward', 'orientation_max_gather', 'orientation_max_scatter']


@njit(**JIT)
def _pool(x3, y3, idx3):  # pragma: no cover - compiled
    """Max and tap of the 2x2 windows of each plane of x3 (P, H, W) into y3, idx3 (P, H/2, W/2);
    ties go to the first tap in row-major order; a NaN in a window makes its max NaN."""
    planes, ho, wo = y3.shape
    for p in prange(planes):
        for u in range(ho):
            for v in range(wo):
                a = x3[p, 2 * u, 2 * v]
                b = x3[p, 2 * u, 2 * v + 1]
                c = x3[p, 2 * u + 1, 2 * v]
                d = x3[p, 2 * u + 1, 2 * v + 1]
                # as the NumPy pass: numpy.maximum (NaN if either is, the second when equal)
                # for the values, strict comparisons for the tap
                top = a if a > b or a != a else b
                bottom = c if c > d or c != c else d
                k_top = 1 if b > a else 0
                k_bottom = 3 if d > c else 2
                idx3[p, u, v] = k_bottom if bottom > top else k_top
                y3[p, u, v] = top if top > bottom or top != top else bottom


@njit(**JIT)
def _pool_scatter(gy3, idx3, gx3):  # pragma: no cover - compiled
    """gx3 (P, 2 Ho, 2 Wo): gy3 (P, Ho, Wo) at each window's tap idx3, zero elsewhere."""
    planes, ho, wo = gy3.shape
    zero, one = gy3.dtype.type(0), gy3.dtype.type(1)
    for p in prange(planes):
        for u in range(ho):
            for i in range(2):
                for v in range(wo):
                    g = gy3[p, u, v]
                    k = idx3[p, u, v]
                    for j in range(2):
                        gx3[p, 2 * u + i, 2 * v + j] = g * (one if k == 2 * i + j else zero)


@njit(**JIT)
def _pool_gather(x3, idx3, y3):  # pragma: no cover - compiled
    """y3 (P, Ho, Wo): x3 (P, 2 Ho, 2 Wo) at each window's tap idx3."""
    planes, ho, wo = y3.shape
    for p in prange(planes):
        for u in range(ho):
            for v in range(wo):
                k = idx3[p, u, v]
                y3[p, u, v] = x3[p, 2 * u + k // 2, 2 * v + k % 2]


@njit(**JIT)
def _omax(x3, y2):  # pragma: no cover - compiled
    """y2[r] = max over g of x3[r, g] for x3 (R, G, M), bit for bit as numpy.maximum."""
    rows, n_g, m = x3.shape
    for r in prange(rows):
        for j in range(m):
            y2[r, j] = x3[r, 0, j]
        for g in range(1, n_g):
            for j in range(m):
                a = y2[r, j]
                b = x3[r, g, j]
                # numpy.maximum(a, b) on x86 SIMD: NaN if either is, b when equal (signed zeros)
                y2[r, j] = a if a > b or a != a else b


@njit(**JIT)
def _omax_scatter(gy2, x3, y2, gx3):  # pragma: no cover - compiled
    """gx3[r, g] = gy2[r] * (x3[r, g] == y2[r])."""
    rows, n_g, m = x3.shape
    zero, one = gy2.dtype.type(0), gy2.dtype.type(1)
    for r in prange(rows):
        for g in range(n_g):
            for j in range(m):
                gx3[r, g, j] = gy2[r, j] * (one if x3[r, g, j] == y2[r, j] else zero)


@njit(**JIT)
def _omax_gather(ggx3, x3, y2, ggy2):  # pragma: no cover - compiled
    """ggy2[r] = sum over g of ggx3[r, g] * (x3[r, g] == y2[r]), added from g = 0 up."""
    rows, n_g, m = x3.shape
    zero, one = ggx3.dtype.type(0), ggx3.dtype.type(1)
    for r in prange(rows):
        for j in range(m):
            ggy2[r, j] = zero
        for g in range(n_g):
            for j in range(m):
                ggy2[r, j] += ggx3[r, g, j] * (one if x3[r, g, j] == y2[r, j] else zero)


def _planes(a):
    """a (N, C, H, W) C-contiguous as a (N * C, H, W) view."""
    return a.reshape((-1,) + a.shape[2:])


def max_pool_2x2(x: numpy.ndarray) -> tuple:
    """(y, idx) of the 2x2 / stride-2 windows of C-contiguous x (N, C, H, W), H and W even."""
    n, c, h, w = x.shape
    y = numpy.empty((n, c, h // 2, w // 2), x.dtype)
    idx = numpy.empty(y.shape, numpy.uint8)
    launch(_pool, _planes(x), _planes(y), _planes(idx))
    return y, idx


def max_pool_2x2_scatter(gy: numpy.ndarray, idx: numpy.ndarray) -> numpy.ndarray:
    """gx (N, C, 2 Ho, 2 Wo): C-contiguous gy (N, C, Ho, Wo) at each window's tap idx."""
    n, c, ho, wo = gy.shape
    gx = numpy.empty((n, c, 2 * ho, 2 * wo), gy.dtype)
    launch(_pool_scatter, _planes(gy), _planes(idx), _planes(gx))
    return gx


def max_pool_2x2_gather(x: numpy.ndarray, idx: numpy.ndarray) -> numpy.ndarray:
    """y (N, C, H/2, W/2): C-contiguous x (N, C, H, W) at each window's tap idx."""
    y = numpy.empty(idx.shape, x.dtype)
    launch(_pool_gather, _planes(x), _planes(idx), _planes(y))
    return y


def _grouped(a):
    """a (N, C, G, ...) C-contiguous as (N * C, G, M)."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2], -1)


def _flat(a):
    """a (N, C, ...) C-contiguous as (N * C, M)."""
    return a.reshape(a.shape[0] * a.shape[1], -1)


def orientation_max_forward(x: numpy.ndarray) -> numpy.ndarray:
    """max over axis 2 of C-contiguous x (N, C, G, ...) -> (N, C, ...)."""
    y = numpy.empty(x.shape[:2] + x.shape[3:], x.dtype)
    launch(_omax, _grouped(x), _flat(y))
    return y


def orientation_max_scatter(gy: numpy.ndarray, x: numpy.ndarray,
                            y: numpy.ndarray) -> numpy.ndarray:
    """gx (N, C, G, ...) = gy * (x == y) per plane g, of C-contiguous gy, y (N, C, ...) and
    x (N, C, G, ...)."""
    gx = numpy.empty(x.shape, gy.dtype)
    launch(_omax_scatter, _flat(gy), _grouped(x), _flat(y), _grouped(gx))
    return gx


def orientation_max_gather(ggx: numpy.ndarray, x: numpy.ndarray,
                           y: numpy.ndarray) -> numpy.ndarray:
    """ggy (N, C, ...) = sum over g of ggx[:, :, g] * (x[:, :, g] == y), all C-contiguous."""
    ggy = numpy.empty(y.shape, ggx.dtype)
    launch(_omax_gather, _grouped(ggx), _grouped(x), _flat(y), _flat(ggy))
    return ggy

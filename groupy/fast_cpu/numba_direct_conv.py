"""Compiled (numba) direct convolution kernels for stride 1, NCHW float32/float64, without the
im2col matrix of :mod:`groupy.fast_cpu.conv2d_kernels`.

Each image is copied into a zero-padded scratch map whose rows keep the padded width ``wp``, so
that an output pixel (u, v) sits at the flat position p = u * wp + v and its tap (i, j) reads
the input at p + i * wp + j: every tap is a shifted view of ONE flat row, and the innermost loop
runs over contiguous p (vectorised by LLVM; positions with v >= Wo are computed and dropped, the
flat length rounded up to a multiple of 8 so that no scalar remainder loop runs).

* :func:`conv2d_forward`: ``y = conv(x, W) + b``: four output channels at a time, accumulated
  in a (4, L) row buffer that stays in the L1 cache; for 3-wide kernels each pass over the row
  adds the 3 taps of one kernel row for 4 output channels (12 weights held in registers, 3 input
  loads and 4 accumulator updates per 12 multiply-adds);
* :func:`conv2d_transpose`: the adjoint in ``x``: the forward convolution of gy with the
  flipped, transposed filters and padding k - 1 - p;
* :func:`conv2d_grad_w`: the gradient in ``W``: for each tap, the dot products of 4 rows of gy
  with 2 shifted input rows at a time (8 vector accumulators), over a chunk of images laid end
  to end in L2-sized scratch rows (gy zero at the dropped positions).

The sums run in another order than the GEMM's (float rounding differs at the last bits). Not
threaded themselves (``nogil``): the wrappers run slices of the batch on the worker threads of
:mod:`groupy.fast_cpu.threads`. Compiled on first use, cached on disk.
"""
import numpy
from numba import njit

from groupy.fast_cpu.threads import map_batch_slices

__all__ = ['conv2d_forward', 'conv2d_grad_w', 'conv2d_transpose']

# multiply-adds may fuse (FMA); no other fastmath
JIT = dict(cache=True, nogil=True, fastmath={'contract'}, boundscheck=False)
# the weight gradient's dot products may be reassociated (so vectorised)
REDUCE_JIT = dict(JIT, fastmath={'contract', 'reassoc'})
_OB = 4
_VEC = 8
# Below this many multiply-adds one thread is faster than dispatching.
_MIN_PARALLEL_MACS = 4_000_000
# Bytes of the scratch rows of one chunk of the weight gradient (L2-sized).
_CHUNK_BYTES = 1 << 18


@njit(**JIT)
def _copy_padded(x, ni, ph, pw, wp, xs):  # pragma: no cover - compiled
    """xs[c, (r + ph) * wp + pw + q] = x[ni, c, r, q] (the rest of xs is left as it is)."""
    c, h, wd = x.shape[1], x.shape[2], x.shape[3]
    for ci in range(c):
        for r in range(h):
            dst = xs[ci, (r + ph) * wp + pw:]
            src = x[ni, ci, r]
            for q in range(wd):
                dst[q] = src[q]


@njit(**JIT)
def _rows3x4(xs, w, acc, o0, kh, wp, length):  # pragma: no cover - compiled
    """acc[q] += sum_{c,i,j} w[o0 + q, c, i, j] xs[c, i * wp + j:] for q < 4, kw = 3."""
    a0 = acc[0]
    a1 = acc[1]
    a2 = acc[2]
    a3 = acc[3]
    for ci in range(w.shape[1]):
        for i in range(kh):
            r = xs[ci, i * wp:]
            w00, w01, w02 = w[o0, ci, i, 0], w[o0, ci, i, 1], w[o0, ci, i, 2]
            w10, w11, w12 = w[o0 + 1, ci, i, 0], w[o0 + 1, ci, i, 1], w[o0 + 1, ci, i, 2]
            w20, w21, w22 = w[o0 + 2, ci, i, 0], w[o0 + 2, ci, i, 1], w[o0 + 2, ci, i, 2]
            w30, w31, w32 = w[o0 + 3, ci, i, 0], w[o0 + 3, ci, i, 1], w[o0 + 3, ci, i, 2]
            for p in range(length):
                x0 = r[p]
                x1 = r[p + 1]
                x2 = r[p + 2]
                a0[p] += w00 * x0 + w01 * x1 + w02 * x2
                a1[p] += w10 * x0 + w11 * x1 + w12 * x2
                a2[p] += w20 * x0 + w21 * x1 + w22 * x2
                a3[p] += w30 * x0 + w31 * x1 + w32 * x2


@njit(**JIT)
def _taps(xs, w, acc, o0, ob, wp, length):  # pragma: no cover - compiled
    """acc[q] += sum_{c,i,j} w[o0 + q, c, i, j] xs[c, i * wp + j:] for q < ob (any kernel)."""
    _, c, kh, kw = w.shape
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                r = xs[ci, i * wp + j:]
                for q in range(ob):
                    wq = w[o0 + q, ci, i, j]
                    a = acc[q]
                    for p in range(length):
                        a[p] += wq * r[p]


@njit(**JIT)
def _forward(x, w, b, ph, pw, n0, n1, y):  # pragma: no cover - compiled
    """y[n] = conv(x[n], w) + b for n0 <= n < n1 (stride 1, padding ph, pw)."""
    c, h, wd = x.shape[1], x.shape[2], x.shape[3]
    o, _, kh, kw = w.shape
    ho, wo = y.shape[2], y.shape[3]
    wp = wd + 2 * pw
    length = ((ho - 1) * wp + wo + _VEC - 1) // _VEC * _VEC
    xs = numpy.zeros((c, max((h + 2 * ph) * wp, length + (kh - 1) * wp + kw - 1)), x.dtype)
    acc = numpy.empty((_OB, length), x.dtype)
    for ni in range(n0, n1):
        _copy_padded(x, ni, ph, pw, wp, xs)
        for o0 in range(0, o, _OB):
            ob = min(_OB, o - o0)
            for q in range(ob):
                bq = b[o0 + q]
                for p in range(length):
                    acc[q, p] = bq
            if kw == 3 and ob == _OB:
                _rows3x4(xs, w, acc, o0, kh, wp, length)
            else:
                _taps(xs, w, acc, o0, ob, wp, length)
            for q in range(ob):
                for u in range(ho):
                    src = acc[q, u * wp:]
                    dst = y[ni, o0 + q, u]
                    for v in range(wo):
                        dst[v] = src[v]


@njit(**REDUCE_JIT)
def _dots4x2(gs, o0, xs, c0, off, length, gw, i, j):  # pragma: no cover - compiled
    """gw[o0 + q, c0 + e, i, j] += sum_p gs[o0 + q, p] xs[c0 + e, off + p], q < 4, e < 2."""
    g0 = gs[o0]
    g1 = gs[o0 + 1]
    g2 = gs[o0 + 2]
    g3 = gs[o0 + 3]
    r0 = xs[c0, off:]
    r1 = xs[c0 + 1, off:]
    s00 = s01 = s10 = s11 = s20 = s21 = s30 = s31 = g0.dtype.type(0)
    for p in range(length):
        x0 = r0[p]
        x1 = r1[p]
        s00 += g0[p] * x0
        s01 += g0[p] * x1
        s10 += g1[p] * x0
        s11 += g1[p] * x1
        s20 += g2[p] * x0
        s21 += g2[p] * x1
        s30 += g3[p] * x0
        s31 += g3[p] * x1
    gw[o0, c0, i, j] += s00
    gw[o0, c0 + 1, i, j] += s01
    gw[o0 + 1, c0, i, j] += s10
    gw[o0 + 1, c0 + 1, i, j] += s11
    gw[o0 + 2, c0, i, j] += s20
    gw[o0 + 2, c0 + 1, i, j] += s21
    gw[o0 + 3, c0, i, j] += s30
    gw[o0 + 3, c0 + 1, i, j] += s31


@njit(**REDUCE_JIT)
def _dot(g, r, length):  # pragma: no cover - compiled
    s = g.dtype.type(0)
    for p in range(length):
        s += g[p] * r[p]
    return s


@njit(**REDUCE_JIT)
def _grad_w(x, gy, ph, pw, n0, n1, chunk, gw):  # pragma: no cover - compiled
    """gw += sum over n0 <= n < n1 of the correlation of x[n] (padded) with gy[n]."""
    c, h, wd = x.shape[1], x.shape[2], x.shape[3]
    o, _, kh, kw = gw.shape
    ho, wo = gy.shape[2], gy.shape[3]
    wp = wd + 2 * pw
    size = (h + 2 * ph) * wp  # one image's stretch of the flat rows
    nb_max = min(chunk, n1 - n0)
    length = (nb_max * size + _VEC - 1) // _VEC * _VEC
    xs = numpy.zeros((c, length + (kh - 1) * wp + kw - 1), x.dtype)
    gs = numpy.zeros((o, length), x.dtype)
    for s0 in range(n0, n1, chunk):
        nb = min(chunk, n1 - s0)
        if nb < nb_max:  # the last, shorter chunk: clear the images it leaves out
            xs[:, nb * size:] = 0
            gs[:, nb * size:] = 0
        for k in range(nb):
            _copy_padded(x, s0 + k, ph, pw, wp, xs[:, k * size:])
            for oi in range(o):
                for u in range(ho):
                    dst = gs[oi, k * size + u * wp:]
                    src = gy[s0 + k, oi, u]
                    for v in range(wo):
                        dst[v] = src[v]
        for i in range(kh):
            for j in range(kw):
                off = i * wp + j
                for o0 in range(0, o, 4):
                    for c0 in range(0, c, 2):
                        if o0 + 4 <= o and c0 + 2 <= c:
                            _dots4x2(gs, o0, xs, c0, off, length, gw, i, j)
                            continue
                        for oi in range(o0, min(o, o0 + 4)):
                            for ci in range(c0, min(c, c0 + 2)):
                                gw[oi, ci, i, j] += _dot(gs[oi], xs[ci, off:], length)


def _check(x, w_shape, pad, name):
    if x.ndim != 4 or len(w_shape) != 4 or x.shape[1] != w_shape[1]:
        raise ValueError('{}: expected x (N, C, H, W) and W (O, C, kh, kw), got {} and {}'
                         .format(name, x.shape, tuple(w_shape)))
    ph, pw = pad
    ho, wo = x.shape[2] + 2 * ph - w_shape[2] + 1, x.shape[3] + 2 * pw - w_shape[3] + 1
    if ho < 1 or wo < 1 or ph < 0 or pw < 0:
        raise ValueError('{}: the kernel {}x{} does not fit in the input {}x{} with pad {}'
                         .format(name, w_shape[2], w_shape[3], x.shape[2], x.shape[3], pad))
    return ho, wo


def _parallel(n, macs_per_image):
    return n * macs_per_image >= _MIN_PARALLEL_MACS


def conv2d_forward(x: numpy.ndarray, W: numpy.ndarray, b, pad=(0, 0)) -> numpy.ndarray:
    """y[n, o] = sum_{c,i,j} W[o, c, i, j] x_pad[n, c, u + i, v + j] + b[o] (stride 1)."""
    ho, wo = _check(x, W.shape, pad, 'conv2d_forward')
    x = numpy.ascontiguousarray(x)
    W = numpy.ascontiguousarray(W, x.dtype)
    b = numpy.zeros(W.shape[0], x.dtype) if b is None else numpy.ascontiguousarray(b, x.dtype)
    y = numpy.empty((x.shape[0], W.shape[0], ho, wo), x.dtype)
    map_batch_slices(x.shape[0], lambda n0, n1: _forward(x, W, b, pad[0], pad[1], n0, n1, y),
                     parallel=_parallel(x.shape[0], W.size * ho * wo))
    return y


def conv2d_transpose(gy: numpy.ndarray, W: numpy.ndarray, pad, out_hw) -> numpy.ndarray:
    """The adjoint of :func:`conv2d_forward` in x: gy (N, O, Ho, Wo) -> gx (N, C, H, W), for
    pad < the kernel size."""
    kh, kw = W.shape[2:]
    ph, pw = pad
    if not (0 <= ph < kh and 0 <= pw < kw):
        raise ValueError('conv2d_transpose: pad {} must be below the kernel size {}x{}'
                         .format(pad, kh, kw))
    if tuple(out_hw) != (gy.shape[2] + kh - 1 - 2 * ph, gy.shape[3] + kw - 1 - 2 * pw):
        raise ValueError('conv2d_transpose: gy of spatial size {} does not come from an input '
                         'of size {} with a {}x{} kernel and pad {}'
                         .format(gy.shape[2:], tuple(out_hw), kh, kw, pad))
    wt = numpy.ascontiguousarray(W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    return conv2d_forward(gy, wt, None, (kh - 1 - ph, kw - 1 - pw))


def conv2d_grad_w(x: numpy.ndarray, gy: numpy.ndarray, pad, ksize) -> numpy.ndarray:
    """gW[o, c, i, j] = sum_{n,u,v} gy[n, o, u, v] x_pad[n, c, u + i, v + j] (stride 1)."""
    w_shape = (gy.shape[1], x.shape[1]) + tuple(ksize)
    ho, wo = _check(x, w_shape, pad, 'conv2d_grad_w')
    if gy.shape != (x.shape[0], w_shape[0], ho, wo):
        raise ValueError('conv2d_grad_w: gy has shape {} but {} is expected for x of shape {}'
                         .format(gy.shape, (x.shape[0], w_shape[0], ho, wo), x.shape))
    x = numpy.ascontiguousarray(x)
    gy = numpy.ascontiguousarray(gy, x.dtype)
    size = (x.shape[2] + 2 * pad[0]) * (x.shape[3] + 2 * pad[1])
    chunk = max(1, _CHUNK_BYTES // ((x.shape[1] + gy.shape[1]) * size * x.itemsize))

    def work(n0, n1):
        gw = numpy.zeros(w_shape, x.dtype)
        _grad_w(x, gy, pad[0], pad[1], n0, n1, chunk, gw)
        return gw

    parts = map_batch_slices(x.shape[0], work,
                             parallel=_parallel(x.shape[0], numpy.prod(w_shape) * ho * wo))
    gw = parts[0]
    for part in parts[1:]:
        gw += part
    return gw

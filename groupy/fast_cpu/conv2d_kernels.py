"""im2col + GEMM kernels of the fast CPU convolution (NCHW, float32/float64).

Chainer's own CPU convolution builds the whole im2col matrix of the batch, multiplies it with
``numpy.tensordot`` (which copies both operands again to transpose them) and loops over the
kernel taps in ``col2im``. Here the batch is cut into chunks whose im2col matrix fits in the CPU
cache; each chunk is copied once, from a stride-trick view, into a reused buffer laid out as
``(C, kh, kw, n, Ho, Wo)`` and multiplied by ``W`` with ONE matrix product
``(O, C*kh*kw) @ (C*kh*kw, n*Ho*Wo)`` (bias added in place). Chunks run on the worker threads
of :mod:`groupy.fast_cpu.threads`.

* :func:`conv2d_forward`: ``y = conv(x, W) + b``;
* :func:`conv2d_transpose`: the adjoint in ``x``: for stride 1 the forward convolution of gy
  with the flipped, transposed filters (one strided copy per chunk instead of the kh * kw
  scatter-adds of col2im, which stride > 1 keeps);
* :func:`conv2d_grad_w`: the gradient in ``W``.

col2im is the compiled kernel of :mod:`groupy.fast_cpu.numba_conv_kernels` where
:func:`~groupy.fast_cpu.switch.compiled_kernels` allows (one pass instead of kh * kw + 1).

Stride-1 3x3 layers go to the Winograd F(2x2, 3x3) kernels of :mod:`groupy.fast_cpu.winograd`
where :func:`use_winograd` says so, and thin stride-1 layers with 3-wide kernels to the compiled
direct convolution of :mod:`groupy.fast_cpu.numba_direct_conv` where :func:`direct_kernels`
says so (the configured algorithm, :func:`groupy.fast_cpu.switch.conv_algorithm`: per shape
by default, as measured by benchmarks/conv_algorithms.py).
"""
import numpy
from numpy.lib.stride_tricks import as_strided

from groupy.fast_cpu import winograd
from groupy.fast_cpu.switch import compiled_kernels, conv_algorithm
from groupy.fast_cpu.threads import map_batch_chunks, scratch_buffer

__all__ = ['conv2d_forward', 'conv2d_grad_w', 'conv2d_transpose', 'direct_kernels', 'use_winograd']

# Bytes of one chunk's patch and output matrices, (c kh kw + o) x (nb ho wo) (benchmarks/
# conv_algorithms.py layers, AMD EPYC with AVX2: 4 MiB against 1 MiB, 0-5% faster on 20-192
# channel layers, 16% on 360 channels at 8x8, where 1 MiB held one image, too few GEMM columns).
# Counting the output matters where o >> c kh kw: a lifting layer from 3 channels would
# otherwise take the whole batch as one chunk, on one thread, into a tens-of-MiB buffer.
_CHUNK_BYTES = 1 << 22
# Below this many multiply-adds a single thread is faster than dispatching.
_MIN_PARALLEL_MACS = 4_000_000


class _Geometry:
    """Shapes of one convolution: x (n, c, h, w), W (o, c, kh, kw) -> y (n, o, ho, wo)."""

    def __init__(self, x_shape, w_shape, stride, pad, kernels=None):
        #: groupy.fast_cpu.numba_conv_kernels, or None for NumPy's col2im (decided on the
        #: calling thread, whose chainer.config the workers do not see)
        self.kernels = kernels
        self.n, self.c, self.h, self.w = x_shape
        self.o, _, self.kh, self.kw = w_shape
        self.sy, self.sx = stride
        self.ph, self.pw = pad
        self.hp, self.wp = self.h + 2 * self.ph, self.w + 2 * self.pw
        self.ho = (self.hp - self.kh) // self.sy + 1
        self.wo = (self.wp - self.kw) // self.sx + 1
        if self.ho < 1 or self.wo < 1:
            raise ValueError(
                'convolution_2d: the kernel {}x{} does not fit in the padded input {}x{} '
                '(input {}x{}, pad {})'.format(self.kh, self.kw, self.hp, self.wp,
                                               self.h, self.w, pad))
        self.k = self.c * self.kh * self.kw
        self.p = self.ho * self.wo

    def chunk(self, itemsize):
        return max(1, min(self.n, _CHUNK_BYTES // ((self.k + self.o) * self.p * itemsize)))

    def run(self, itemsize, work):
        """work(n0, n1, chunk) over the batch in cache-sized chunks on the worker threads."""
        return map_batch_chunks(self.n, self.chunk(itemsize), work,
                                parallel=self.n * self.p * self.k * self.o >= _MIN_PARALLEL_MACS)


# 'auto' takes Winograd for wide layers on large maps, where it measured faster than im2col +
# OpenBLAS SGEMM (benchmarks/conv_algorithms.py: forward + both gradients, AMD EPYC with AVX2,
# 1 and 2 threads: 0.69-0.84x on 192-384 channels at 32x32 and 384 at 16x16; 1.05-1.5x on 184
# channels at 16x16 and 360 at 8x8, where its memory-bound transforms outweigh the saved
# products): at least this many input and output channels, and channels x output pixels
_WINOGRAD_MIN_CHANNELS = 192
_WINOGRAD_MIN_WORK = 384 * 16 * 16


def use_winograd(c, o, kh, kw, stride, out_hw):
    """Whether a convolution with c input, o output channels, a kh x kw kernel, ``stride`` and
    output size ``out_hw`` runs as Winograd F(2x2, 3x3) under the configured algorithm."""
    if (kh, kw) != (3, 3) or tuple(stride) != (1, 1):
        return False
    algo = conv_algorithm()
    if algo != 'auto':
        return algo == 'winograd'
    width = min(c, o)
    return width >= _WINOGRAD_MIN_CHANNELS and width * out_hw[0] * out_hw[1] >= _WINOGRAD_MIN_WORK


# 'auto' takes the direct kernels for layers of at most this many input and output channels
# (benchmarks/conv_algorithms.py, against im2col + OpenBLAS SGEMM on 1 and 2 threads: forward
# and input gradient 0.5-0.75x on 40-88 channel layers, 1.0x at 184 and slower beyond; the
# weight gradient breaks even at 64-88 channels)
_DIRECT_MAX_CHANNELS = 96
_DIRECT_GRAD_W_MAX_CHANNELS = 64


def direct_kernels(x, c, o, kw, stride, grad_w=False):
    """:mod:`groupy.fast_cpu.numba_direct_conv` when the convolution of ``x`` with c input and
    o output channels, kernel width kw and ``stride`` (its weight gradient if ``grad_w``) runs
    as a direct convolution under the configured algorithm (and the compiled kernels are on),
    else None. 'auto': stride 1, kw = 3 and at most 96 channels (64 for the weight gradient);
    'direct': every stride-1 layer."""
    if tuple(stride) != (1, 1):
        return None
    algo = conv_algorithm()
    if algo == 'auto':
        limit = _DIRECT_GRAD_W_MAX_CHANNELS if grad_w else _DIRECT_MAX_CHANNELS
        if kw != 3 or max(c, o) > limit:
            return None
    elif algo != 'direct':
        return None
    return compiled_kernels('numba_direct_conv', x)


def _im2col_chunk(g, x, n0, n1, dtype):
    """The patches of x[n0:n1] as a matrix (c * kh * kw, nb * ho * wo), rows ordered (c, i, j)
    and columns (n, u, v): one copy from a stride-trick view of a zero-padded scratch copy."""
    nb = n1 - n0
    xp = scratch_buffer('padded', g.c * nb * g.hp * g.wp, dtype).reshape(g.c, nb, g.hp, g.wp)
    if g.ph or g.pw:
        xp.fill(0)
    xp[:, :, g.ph:g.ph + g.h, g.pw:g.pw + g.w] = x[n0:n1].transpose(1, 0, 2, 3)
    s_c, s_n, s_h, s_w = xp.strides
    patches = as_strided(xp, (g.c, g.kh, g.kw, nb, g.ho, g.wo),
                         (s_c, s_h, s_w, s_n, s_h * g.sy, s_w * g.sx), writeable=False)
    col = scratch_buffer('col', g.k * nb * g.p, dtype).reshape(g.c, g.kh, g.kw, nb, g.ho, g.wo)
    numpy.copyto(col, patches)
    return col.reshape(g.k, nb * g.p)


def _channel_major_chunk(a, n0, n1, name):
    """a[n0:n1] (nb, ch, h, w) copied to a scratch matrix (ch, nb * h * w)."""
    nb, ch = n1 - n0, a.shape[1]
    out = scratch_buffer(name, a[0].size * nb, a.dtype).reshape(ch, nb, a.shape[2], a.shape[3])
    out[...] = a[n0:n1].transpose(1, 0, 2, 3)
    return out.reshape(ch, -1)


def conv2d_forward(x, W, b, stride, pad):
    """y[n, o] = sum_{c,i,j} W[o, c, i, j] x_pad[n, c, sy*u + i, sx*v + j] + b[o] (NumPy)."""
    g = _Geometry(x.shape, W.shape, stride, pad)
    if use_winograd(g.c, g.o, g.kh, g.kw, stride, (g.ho, g.wo)):
        return winograd.winograd_forward(x, W, b, pad)
    direct = direct_kernels(x, g.c, g.o, g.kw, stride)
    if direct is not None:
        return direct.conv2d_forward(x, W, b, pad)
    y = numpy.empty((g.n, g.o, g.ho, g.wo), x.dtype)
    w2 = W.reshape(g.o, g.k)

    def work(n_start, n_stop, bb):
        for n0 in range(n_start, n_stop, bb):
            n1 = min(n_stop, n0 + bb)
            out = scratch_buffer('out', g.o * (n1 - n0) * g.p, x.dtype).reshape(g.o, -1)
            numpy.matmul(w2, _im2col_chunk(g, x, n0, n1, x.dtype), out=out)
            if b is not None:
                out += b[:, None]
            y[n0:n1] = out.reshape(g.o, n1 - n0, g.ho, g.wo).transpose(1, 0, 2, 3)

    g.run(x.dtype.itemsize, work)
    return y


def conv2d_transpose(gy, W, stride, pad, out_hw):
    """The adjoint of conv2d_forward in x: gy (n, o, ho, wo) -> gx (n, c, h, w) (NumPy).

    Each chunk is one matrix product W^T gy -> columns (c, i, j, n, u, v), then a scatter-add
    of the kh * kw taps (col2im) into a padded scratch map."""
    n, _, ho, wo = gy.shape
    g = _Geometry((n, W.shape[1]) + tuple(out_hw), W.shape, stride, pad,
                  compiled_kernels('numba_conv_kernels', gy))
    if (g.ho, g.wo) != (ho, wo):
        raise ValueError('conv2d_transpose: gy has spatial size {}x{} but a {}x{} output is '
                         'expected for input {}x{}'.format(ho, wo, g.ho, g.wo, g.h, g.w))
    if (g.sy, g.sx) == (1, 1) and g.ph < g.kh and g.pw < g.kw and 2 * g.c >= g.o \
            and g.ho >= g.kh and g.wo >= g.kw:
        # the adjoint of a stride-1 correlation: correlate with the flipped W^T, pad k - 1 - p
        # (measured faster unless it maps many channels to few, or gy is smaller than W)
        wt = numpy.ascontiguousarray(W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        return conv2d_forward(gy, wt, None, (1, 1), (g.kh - 1 - g.ph, g.kw - 1 - g.pw))
    gx = numpy.empty((g.n, g.c, g.h, g.w), gy.dtype)
    w2t = W.reshape(g.o, g.k).T
    ey, ex = g.sy * (g.ho - 1) + 1, g.sx * (g.wo - 1) + 1

    def work(n_start, n_stop, bb):
        for n0 in range(n_start, n_stop, bb):
            nb = min(n_stop, n0 + bb) - n0
            gcol = scratch_buffer('col', g.k * nb * g.p, gy.dtype).reshape(g.k, -1)
            numpy.matmul(w2t, _channel_major_chunk(gy, n0, n0 + nb, 'gy'), out=gcol)
            gcol = gcol.reshape(g.c, g.kh, g.kw, nb, g.ho, g.wo)
            if g.kernels is not None:
                g.kernels.col2im(gcol, n0, (g.sy, g.sx), (g.ph, g.pw), gx)
                continue
            acc = scratch_buffer('padded', g.c * nb * g.hp * g.wp, gy.dtype).reshape(
                g.c, nb, g.hp, g.wp)
            acc.fill(0)
            for i in range(g.kh):
                for j in range(g.kw):
                    acc[:, :, i:i + ey:g.sy, j:j + ex:g.sx] += gcol[:, i, j]
            gx[n0:n0 + nb] = acc[:, :, g.ph:g.ph + g.h, g.pw:g.pw + g.w].transpose(1, 0, 2, 3)

    g.run(gy.dtype.itemsize, work)
    return gx


def conv2d_grad_w(x, gy, stride, pad, ksize):
    """gW[o, c, i, j] = sum_{n,u,v} gy[n, o, u, v] x_pad[n, c, sy*u + i, sx*v + j] (NumPy)."""
    g = _Geometry(x.shape, (gy.shape[1], x.shape[1]) + tuple(ksize), stride, pad)
    if (g.n, g.ho, g.wo) != (gy.shape[0],) + gy.shape[2:]:
        raise ValueError('conv2d_grad_w: gy has shape {} but {} is expected for x of shape {}'
                         .format(gy.shape, (g.n, g.o, g.ho, g.wo), x.shape))
    if use_winograd(g.c, g.o, g.kh, g.kw, stride, (g.ho, g.wo)):
        return winograd.winograd_grad_w(x, gy, pad)
    direct = direct_kernels(x, g.c, g.o, g.kw, stride, grad_w=True)
    if direct is not None:
        return direct.conv2d_grad_w(x, gy, pad, ksize)

    def work(n_start, n_stop, bb):
        gw = numpy.zeros((g.o, g.k), x.dtype)
        for n0 in range(n_start, n_stop, bb):
            n1 = min(n_stop, n0 + bb)
            gyb = _channel_major_chunk(gy, n0, n1, 'gy')
            gw += gyb @ _im2col_chunk(g, x, n0, n1, x.dtype).T
        return gw

    parts = g.run(x.dtype.itemsize, work)
    gw = parts[0]
    for part in parts[1:]:
        gw += part
    return gw.reshape(g.o, g.c, g.kh, g.kw)

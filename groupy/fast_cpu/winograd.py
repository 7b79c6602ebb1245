"""Winograd F(2x2, 3x3) kernels of the fast CPU convolution: stride-1 3x3 convolutions (NCHW,
float32/float64, any zero padding) with 16 multiplications per 2x2 output tile and channel pair
instead of 36 (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016).

With the 4x4 input tiles d (stride 2), the filter g (3x3) and the 2x2 output tile y::

    y = A^T [(G g G^T) * (B^T d B)] A        (* elementwise; A, B, G below)

summed over input channels: for each of the 16 tile positions xi one matrix product
``M[xi] = U[xi] (O, C) @ V[xi] (C, tiles)`` with ``U = G g G^T``, ``V = B^T d B``. The adjoints:

* in x (:func:`winograd_transpose`): the stride-1 convolution of gy with the flipped,
  transposed filters and padding ``2 - pad``, itself computed by :func:`winograd_forward`;
* in W (:func:`winograd_grad_w`): ``gW = G^T [sum over tiles (A gy A^T) * (B^T d B)] G``, i.e.
  16 matrix products ``(O, tiles) @ (tiles, C)`` -- gy is zero outside the output, so partial
  tiles at the border contribute exactly their part.

Each batch chunk (sized to keep V around ``_CHUNK_BYTES``) runs on a worker thread of
:mod:`groupy.fast_cpu.threads`; per-thread partial sums of gW are added in thread order, so the
results do not depend on timing. The results equal the direct convolution up to float rounding
(the constants are 0, +-1 and +-1/2).
"""
import numpy

from groupy.fast_cpu.threads import map_batch_chunks, scratch_buffer

__all__ = ['filter_transform', 'winograd_forward', 'winograd_grad_w', 'winograd_transpose']

# G (4x3): filter transform; A^T (2x4): output transform; B^T: input transform (below).
_G = numpy.array([[1., 0., 0.], [.5, .5, .5], [.5, -.5, .5], [0., 0., 1.]])
_AT = numpy.array([[1., 1., 1., 0.], [0., 1., -1., -1.]])

# Bytes of the transformed input V (16, C, chunk tiles) per chunk.
_CHUNK_BYTES = 1 << 22
# Below this many multiply-adds (of the direct algorithm) a single thread is faster.
_MIN_PARALLEL_MACS = 4_000_000


class _Tiles:
    """Geometry of a stride-1 3x3 convolution x (n, c, h, w), pad (ph, pw) in 2x2 output tiles."""

    def __init__(self, x_shape, o, pad):
        self.n, self.c, self.h, self.w = x_shape
        self.o = o
        self.ph, self.pw = pad
        self.ho, self.wo = self.h + 2 * self.ph - 2, self.w + 2 * self.pw - 2
        if self.ho < 1 or self.wo < 1:
            raise ValueError('winograd: the 3x3 kernel does not fit in the padded input {}x{}'
                             .format(self.h + 2 * self.ph, self.w + 2 * self.pw))
        self.th, self.tw = -(-self.ho // 2), -(-self.wo // 2)
        self.hp, self.wp = 2 * self.th + 2, 2 * self.tw + 2  # padded input covering every tile
        self.t = self.th * self.tw

    def chunk(self, itemsize):
        return max(1, min(self.n, _CHUNK_BYTES // (16 * self.c * self.t * itemsize)))

    def run(self, itemsize, work):
        macs = self.n * self.ho * self.wo * self.c * self.o * 9
        return map_batch_chunks(self.n, self.chunk(itemsize), work,
                                parallel=macs >= _MIN_PARALLEL_MACS)


def _input_transform(g, x, n0, n1):
    """V = B^T d B of every 4x4 tile of x[n0:n1]: (16, c, nb * th * tw), rows xi = 4 i + j."""
    nb, dtype = n1 - n0, x.dtype
    xp = scratch_buffer('wg_padded', g.c * nb * g.hp * g.wp, dtype).reshape(
        g.c, nb, g.hp, g.wp)
    xp.fill(0)
    rows = min(g.h, g.hp - g.ph)
    cols = min(g.w, g.wp - g.pw)
    xp[:, :, g.ph:g.ph + rows, g.pw:g.pw + cols] = (
        x[n0:n1, :, :rows, :cols].transpose(1, 0, 2, 3))
    th, tw = g.th, g.tw
    r = [xp[:, :, k:k + 2 * th:2] for k in range(4)]  # tile rows k: (c, nb, th, wp)
    t = scratch_buffer('wg_rows', 4 * g.c * nb * th * g.wp, dtype).reshape(
        4, g.c, nb, th, g.wp)
    numpy.subtract(r[0], r[2], out=t[0])
    numpy.add(r[1], r[2], out=t[1])
    numpy.subtract(r[2], r[1], out=t[2])
    numpy.subtract(r[1], r[3], out=t[3])
    v = scratch_buffer('wg_v', 16 * g.c * nb * g.t, dtype).reshape(16, g.c, nb, th, tw)
    for i in range(4):
        c = [t[i][..., k:k + 2 * tw:2] for k in range(4)]
        numpy.subtract(c[0], c[2], out=v[4 * i])
        numpy.add(c[1], c[2], out=v[4 * i + 1])
        numpy.subtract(c[2], c[1], out=v[4 * i + 2])
        numpy.subtract(c[1], c[3], out=v[4 * i + 3])
    return v.reshape(16, g.c, nb * g.t)


def filter_transform(W):
    """U = G g G^T of W (o, c, 3, 3): (16, o, c), rows xi = 4 a + b."""
    G = _G.astype(W.dtype)
    u = numpy.einsum('ai,ocij,bj->aboc', G, W, G, optimize=True)
    return numpy.ascontiguousarray(u.reshape(16, W.shape[0], W.shape[1]))


def _output_transform(m, g, nb, out):
    """y = A^T M A of the (16, o, nb * th * tw) products into out (o, nb, 2 th, 2 tw) views."""
    m = m.reshape(4, 4, g.o, nb, g.th, g.tw)
    s0 = m[0] + m[1]
    s0 += m[2]                # row 0 of A^T M: M0 + M1 + M2
    s1 = m[1] - m[2]
    s1 -= m[3]                # row 1: M1 - M2 - M3
    for a, s in enumerate((s0, s1)):
        y0 = out[:, :, a::2, 0::2]
        numpy.add(s[0], s[1], out=y0)
        y0 += s[2]
        y1 = out[:, :, a::2, 1::2]
        numpy.subtract(s[1], s[2], out=y1)
        y1 -= s[3]


def winograd_forward(x, W, b, pad, u=None):
    """y = conv(x, W) + b for a stride-1 3x3 convolution with zero padding pad = (ph, pw):
    x (n, c, h, w), W (o, c, 3, 3), b (o,) or None -> y (n, o, h + 2 ph - 2, w + 2 pw - 2).
    ``u``: W's filter transform, when the caller has it."""
    g = _Tiles(x.shape, W.shape[0], pad)
    u = filter_transform(W) if u is None else u
    y = numpy.empty((g.n, g.o, g.ho, g.wo), x.dtype)
    even = g.ho == 2 * g.th and g.wo == 2 * g.tw

    def work(n_start, n_stop, bb):
        for n0 in range(n_start, n_stop, bb):
            n1 = min(n_stop, n0 + bb)
            nb = n1 - n0
            v = _input_transform(g, x, n0, n1)
            m = scratch_buffer('wg_m', 16 * g.o * nb * g.t, x.dtype).reshape(16, g.o, -1)
            numpy.matmul(u, v, out=m)
            if even:
                out = y[n0:n1].transpose(1, 0, 2, 3)
            else:
                out = scratch_buffer('wg_out', g.o * nb * 4 * g.t, x.dtype).reshape(
                    g.o, nb, 2 * g.th, 2 * g.tw)
            _output_transform(m, g, nb, out)
            if not even:
                y[n0:n1] = out[:, :, :g.ho, :g.wo].transpose(1, 0, 2, 3)
            if b is not None:
                y[n0:n1] += b[:, None, None]

    g.run(x.dtype.itemsize, work)
    return y


def winograd_transpose(gy, W, pad, out_hw):
    """The adjoint in x of :func:`winograd_forward`: gy (n, o, ho, wo) -> gx ``(n, c, *out_hw)``."""
    ph, pw = pad
    if ph > 2 or pw > 2:
        raise ValueError('winograd_transpose: pad {} > 2 (the adjoint needs pad 2 - pad >= 0)'
                         .format(pad))
    h, w = out_hw
    if gy.shape[2:] != (h + 2 * ph - 2, w + 2 * pw - 2):
        raise ValueError('winograd_transpose: gy has spatial size {} but {} is expected for '
                         'input {}'.format(gy.shape[2:], (h + 2 * ph - 2, w + 2 * pw - 2),
                                           tuple(out_hw)))
    wt = numpy.ascontiguousarray(W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    return winograd_forward(gy, wt, None, (2 - ph, 2 - pw))


def winograd_grad_w(x, gy, pad):
    """gW[o, c, i, j] = sum_{n,u,v} gy[n, o, u, v] x_pad[n, c, u + i, v + j]: (o, c, 3, 3)."""
    g = _Tiles(x.shape, gy.shape[1], pad)
    if gy.shape != (g.n, g.o, g.ho, g.wo):
        raise ValueError('winograd_grad_w: gy has shape {} but {} is expected for x of shape {}'
                         .format(gy.shape, (g.n, g.o, g.ho, g.wo), x.shape))
    dtype = x.dtype

    def work(n_start, n_stop, bb):
        du = numpy.zeros((16, g.o, g.c), dtype)
        part = numpy.empty_like(du)
        for n0 in range(n_start, n_stop, bb):
            n1 = min(n_stop, n0 + bb)
            nb = n1 - n0
            v = _input_transform(g, x, n0, n1)
            # gy tiles zero-padded to 2 th x 2 tw, channel-major: (o, nb, 2 th, 2 tw)
            gp = scratch_buffer('wg_gy', g.o * nb * 4 * g.t, dtype).reshape(
                g.o, nb, 2 * g.th, 2 * g.tw)
            if g.ho != 2 * g.th or g.wo != 2 * g.tw:
                gp.fill(0)
            gp[:, :, :g.ho, :g.wo] = gy[n0:n1].transpose(1, 0, 2, 3)
            # A dY A^T, rows of A: (1, 0), (1, 1), (1, -1), (0, -1)
            dm = scratch_buffer('wg_m', 16 * g.o * nb * g.t, dtype).reshape(
                4, 4, g.o, nb, g.th, g.tw)
            rows = scratch_buffer('wg_dyrows', 4 * g.o * nb * g.t * 2, dtype).reshape(
                4, g.o, nb, g.th, 2 * g.tw)
            r0, r1 = gp[:, :, 0::2], gp[:, :, 1::2]
            rows[0] = r0
            numpy.add(r0, r1, out=rows[1])
            numpy.subtract(r0, r1, out=rows[2])
            numpy.negative(r1, out=rows[3])
            for i in range(4):
                c0, c1 = rows[i][..., 0::2], rows[i][..., 1::2]
                dm[i, 0] = c0
                numpy.add(c0, c1, out=dm[i, 1])
                numpy.subtract(c0, c1, out=dm[i, 2])
                numpy.negative(c1, out=dm[i, 3])
            numpy.matmul(dm.reshape(16, g.o, -1), v.transpose(0, 2, 1), out=part)
            du += part
        return du

    parts = g.run(dtype.itemsize, work)
    du = parts[0]
    for p in parts[1:]:
        du += p
    G = _G.astype(dtype)
    return numpy.einsum('ai,aboc,bj->ocij', G, du.reshape(4, 4, g.o, g.c), G, optimize=True)

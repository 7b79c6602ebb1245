"""Compiled (numba) col2im of the im2col + GEMM convolution (:mod:`groupy.fast_cpu.conv2d_kernels`),
for C-contiguous float32/float64 maps.

The NumPy col2im adds kh * kw strided views of the patch gradients into a zero-padded scratch
map and then copies it out; here it is one pass straight into the result:

* :func:`col2im`: col (C, kh, kw, nb, Ho, Wo) -> gx[n0:n0 + nb] (nb, C, H, W), the sum over
  taps (in the NumPy order, so the same float sums) of the patches covering each pixel.

An im2col kernel was measured too and lost to NumPy's strided copy (15-70% slower on the MNIST
models' stride-1 layers), so im2col stays NumPy. col2im is not threaded itself (``nogil``): the
convolution calls it on its own worker threads, one chunk of the batch each. Compiled on first
use, cached on disk.
"""
from numba import njit

from groupy.fast_cpu.numba_kernels import JIT

__all__ = ['col2im']

SERIAL_JIT = dict(JIT, parallel=False)


@njit(**SERIAL_JIT)
def _columns(j, sx, pw, w, wo):  # pragma: no cover - compiled
    """The output columns v whose tap j falls inside the map: v0 <= v < v1."""
    v0 = max(0, (pw - j + sx - 1) // sx)
    v1 = min(wo, (w - 1 + pw - j) // sx + 1)
    return v0, max(v0, v1)


@njit(**SERIAL_JIT)
def _col2im(col, n0, sy, sx, ph, pw, gx):  # pragma: no cover - compiled
    c, kh, kw, nb, ho, wo = col.shape
    h, w = gx.shape[2], gx.shape[3]
    for n in range(nb):
        for ci in range(c):
            out = gx[n0 + n, ci]
            out[:, :] = 0
            for i in range(kh):
                for j in range(kw):
                    v0, v1 = _columns(j, sx, pw, w, wo)
                    for u in range(ho):
                        y = u * sy + i - ph
                        if 0 <= y < h:
                            src = col[ci, i, j, n, u]
                            row = out[y]
                            for v in range(v0, v1):
                                row[v * sx + j - pw] += src[v]


def col2im(col, n0, stride, pad, gx) -> None:
    """Writes gx[n0:n0 + nb] (gx (N, C, H, W) C-contiguous) = the adjoint of im2col (for
    ``stride`` and ``pad``, pairs) applied to col (C, kh, kw, nb, Ho, Wo)."""
    _col2im(col, n0, stride[0], stride[1], pad[0], pad[1], gx)

"""IndexGather: a gather along the last axes of a filter bank by an integer table, and its
exact adjoint, on NumPy and CuPy arrays.

The table ``gather`` (nto, Qd) holds flat positions into a source of Qs values. It maps

    w  (out, in, Qs)  ->  tw (out, nto, in, Qd),   tw[o, t, i, q] = w[o, i, gather[t, q]]

and its adjoint (the gradient) sums every tw entry back onto the position it was read from.
The adjoint is computed as a second gather with the inverse table ``adjoint`` (Qs, M) (for each
source position p the flat targets ``t * Qd + q`` with ``gather[t, q] == p`` in increasing
order, padded with -1) followed by a sum in that fixed order: no ``np.add.at`` on the CPU and no
atomics on the GPU, so the result is deterministic. The G-filter transform
(:mod:`~groupy.gconv.chainer_gconv.transform_filter`) and the original GrouPy's kernel API
(:mod:`~groupy.gconv.chainer_gconv.kernels.integer_indexing_cuda_kernel`) both use this class.
"""
import numpy

from groupy.gconv.chainer_gconv.kernels import transform_filter_kernels as kernels

__all__ = ['IndexGather', 'adjoint_table']


def adjoint_table(gather, q_src):
    """The inverse table (Qs, M) int32 of ``gather`` (nto, Qd) (see the module docstring) and
    whether it is padded with -1 (some source positions are read fewer than M times)."""
    flat = numpy.asarray(gather, dtype=numpy.int64).ravel()
    order = numpy.argsort(flat, kind='stable')  # targets grouped by source, increasing
    counts = numpy.bincount(flat, minlength=q_src)
    mult = int(counts.max()) if flat.size else 0
    starts = numpy.cumsum(counts) - counts
    sources = flat[order]
    adjoint = numpy.full((q_src, mult), -1, dtype=numpy.int32)
    adjoint[sources, numpy.arange(flat.size) - starts[sources]] = order
    return adjoint, bool(flat.size) and bool((counts != mult).any())


class IndexGather(object):
    """The gather by ``gather`` (nto, Qd) (ints in [0, q_src)) and its adjoint.

    Attributes:
        gather: int32 (nto, Qd).
        adjoint: int32 (Qs, M), built on first use.
        q_src, q_dst, n_out_transforms: Qs, Qd and nto.

    Derived index arrays (per ``in_channels`` on the CPU, per device on the GPU) are cached on
    the object, so a layer builds them once.
    """

    def __init__(self, gather, q_src):
        gather = numpy.asarray(gather)
        if gather.ndim != 2:
            raise ValueError('gather table must have shape (n_out_transforms, Qd), got {}'
                             .format(gather.shape))
        if gather.size and (gather.min() < 0 or gather.max() >= q_src):
            raise ValueError('gather table entries must lie in [0, {})'.format(q_src))
        self.gather = gather.astype(numpy.int32)
        self.n_out_transforms, self.q_dst = gather.shape
        self.q_src = int(q_src)
        self._cache = {}

    def _cached(self, key, build):
        value = self._cache.get(key)
        if value is None:
            value = self._cache[key] = build()
        return value

    def _adjoint_and_padding(self):
        return self._cached('adjoint', lambda: adjoint_table(self.gather, self.q_src))

    @property
    def adjoint(self):
        return self._adjoint_and_padding()[0]

    def cpu_gather(self, n_in):
        """(nto, n_in, Qd) indices into ``w.reshape(out, n_in * Qs)``: one ``take`` gives tw."""
        return self._cached(('cpu_gather', n_in), lambda: (
            numpy.arange(n_in)[None, :, None] * self.q_src + self.gather[:, None, :]))

    def cpu_adjoint(self, n_in):
        """(M, n_in, Qs) indices into ``gy.reshape(out, nto * n_in * Qd)`` (+ one zero column
        at position nto * n_in * Qd for the -1 padding): one ``take`` and a sum over M give gw
        (M leading, so the sum adds M contiguous slabs instead of reducing runs of length M)."""
        def build():
            q = self.q_dst
            e = self.adjoint.T.astype(numpy.int64)  # (M, Qs)
            s, j = e // q, e % q
            idx = (s[:, None] * n_in + numpy.arange(n_in)[None, :, None]) * q + j[:, None]
            return numpy.where(e[:, None] >= 0, idx, self.n_out_transforms * n_in * q)
        return self._cached(('cpu_adjoint', n_in), build)

    def gpu_tables(self, device_id):
        """(gather, adjoint) as int32 CuPy arrays on CUDA device ``device_id``."""
        def build():
            import cupy
            with cupy.cuda.Device(device_id):
                return cupy.asarray(self.gather), cupy.asarray(self.adjoint)
        return self._cached(('gpu', device_id), build)

    def apply_cpu(self, w):
        """NumPy gather: w (out, in, Qs) -> tw (out, nto, in, Qd)."""
        n_out, n_in = w.shape[:2]
        tw = numpy.take(w.reshape(n_out, -1), self.cpu_gather(n_in), axis=1)
        return tw.reshape(n_out, self.n_out_transforms, n_in, self.q_dst)

    def adjoint_cpu(self, gy):
        """NumPy adjoint: gy (out, nto, in, Qd) -> gw (out, in, Qs)."""
        n_out, n_in = gy.shape[0], gy.shape[2]
        g = gy.reshape(n_out, -1)
        if self._adjoint_and_padding()[1]:
            g = numpy.concatenate([g, numpy.zeros((n_out, 1), dtype=g.dtype)], axis=1)
        acc = numpy.float32 if gy.dtype == numpy.float16 else gy.dtype
        gw = numpy.take(g, self.cpu_adjoint(n_in), axis=1).sum(axis=1, dtype=acc)
        return gw.astype(gy.dtype, copy=False).reshape(n_out, n_in, self.q_src)

    def apply_gpu(self, w, out=None):
        """CuPy gather kernel: w (out, in, Qs) -> tw (out, nto, in, Qd), written into ``out``
        (any array of that size and dtype, e.g. a view of another shape) when given."""
        gather, _ = self.gpu_tables(w.device.id)
        return kernels.gather_gpu(w, gather, out=out)

    def adjoint_gpu(self, gy):
        """CuPy deterministic adjoint kernel: gy (out, nto, in, Qd) -> gw (out, in, Qs)."""
        _, adjoint = self.gpu_tables(gy.device.id)
        return kernels.adjoint_gpu(gy, adjoint)

"""The G-filter transform: one filter on the input group -> its copies moved by every output
stabiliser element, as a differentiable Chainer op.

A G-convolution correlates the input with the filter ``psi`` transformed by each element ``s`` of
the output stabiliser (the 4 rotations of C4 or the 8 roto-reflections of D4). On the grid that
is a permutation of filter entries, given by an index table ``inds`` of shape
(nto, nti, k, k, 3) (see :mod:`groupy.gconv.make_gconv_indices`): the transformed filter for
output transform ``s`` at input transform ``t`` and pixel ``(u, v)`` is the original filter at
``inds[s, t, u, v] = (T, U, V)``::

    tw[o, s, i, t, u, v] = w[o, i, T, U, V]        w:  (out, in, nti, k, k)
                                                  tw: (out, nto, in, nti, k, k)

``tw.reshape(out * nto, in * nti, k, k)`` is the weight of a plain 2-D convolution.
The gradient is the exact adjoint (a scatter-add), computed as a gather with a precomputed inverse
table followed by a sum, so it needs no ``np.add.at`` on the CPU and no atomics on the GPU (the
result is deterministic). Both directions are FunctionNodes of each other, hence differentiable to
any order (double backprop works).
"""
import numpy

from chainer import backend, function_node
from chainer.utils import type_check

from groupy.gconv.chainer_gconv.kernels import transform_filter_kernels as kernels

_FLOAT_DTYPES = (numpy.float16, numpy.float32, numpy.float64)


class GFilterIndex(object):
    """Gather tables derived from one index table ``inds`` (nto, nti, k, k, 3) of (T, U, V).

    Attributes:
        n_out_transforms, n_in_transforms, ksize: the table's (nto, nti, k).
        gather: int32 (nto, Q), Q = nti * k * k: flat source ``T * k * k + U * k + V`` in the
            (nti, k, k) layout of one filter of ``W``.
        adjoint: int32 (Q, M): for each source position ``p`` the flat targets ``s * Q + q``
            with ``gather[s, q] == p`` in increasing order, padded with -1 (M = the largest
            number of targets; for the G-conv tables every output transform is a permutation,
            so each source has exactly M = nto targets and there is no padding).

    Device copies and the per-``in_channels`` CPU index arrays are cached on the object, so a
    layer builds them once per device.
    """

    def __init__(self, inds):
        inds = numpy.asarray(inds)
        if inds.ndim != 5 or inds.shape[-1] != 3 or inds.shape[2] != inds.shape[3]:
            raise ValueError(
                'index table must have shape (n_out_transforms, n_in_transforms, ksize, ksize, 3), '
                'got {}'.format(inds.shape))
        if inds.dtype.kind not in 'iu':
            raise ValueError('index table must hold integers (int32), got dtype {}'.format(
                inds.dtype))
        nto, nti, k = inds.shape[0], inds.shape[1], inds.shape[2]
        t, u, v = (inds[..., j].astype(numpy.int64) for j in range(3))
        if inds.size and (t.min() < 0 or t.max() >= nti or min(u.min(), v.min()) < 0
                          or max(u.max(), v.max()) >= k):
            raise ValueError(
                'index table entries out of range: T must lie in [0, {}) and U, V in [0, {})'
                .format(nti, k))
        q_size = nti * k * k
        gather = ((t * k + u) * k + v).reshape(nto, q_size)

        flat = gather.ravel()
        order = numpy.argsort(flat, kind='stable')  # targets grouped by source, increasing
        counts = numpy.bincount(flat, minlength=q_size)
        mult = int(counts.max()) if flat.size else 0
        starts = numpy.cumsum(counts) - counts
        sources = flat[order]
        adjoint = numpy.full((q_size, mult), -1, dtype=numpy.int32)
        adjoint[sources, numpy.arange(flat.size) - starts[sources]] = order

        self.n_out_transforms, self.n_in_transforms, self.ksize = nto, nti, k
        self.gather = gather.astype(numpy.int32)
        self.adjoint = adjoint
        self._padded = bool(flat.size) and bool((counts != mult).any())
        self._cache = {}

    @property
    def filter_shape(self):
        """(nti, k, k): the trailing shape of the filters this table transforms."""
        return (self.n_in_transforms, self.ksize, self.ksize)

    def _cached(self, key, build):
        value = self._cache.get(key)
        if value is None:
            value = self._cache[key] = build()
        return value

    def cpu_gather(self, n_in):
        """(nto, n_in, Q) indices into ``w.reshape(out, n_in * Q)``: one ``take`` gives tw."""
        q_size = self.gather.shape[1]
        return self._cached(('cpu_gather', n_in), lambda: (
            numpy.arange(n_in)[None, :, None] * q_size + self.gather[:, None, :]))

    def cpu_adjoint(self, n_in):
        """(M, n_in, Q) indices into ``gy.reshape(out, nto * n_in * Q)`` (+ one zero column
        at position nto * n_in * Q for the -1 padding): one ``take`` and a sum over M give gw
        (M leading, so the sum adds M contiguous slabs instead of reducing runs of length M)."""
        def build():
            q_size = self.gather.shape[1]
            e = self.adjoint.T.astype(numpy.int64)  # (M, Q)
            s, q = e // q_size, e % q_size
            idx = (s[:, None] * n_in + numpy.arange(n_in)[None, :, None]) * q_size + q[:, None]
            return numpy.where(e[:, None] >= 0, idx, self.n_out_transforms * n_in * q_size)
        return self._cached(('cpu_adjoint', n_in), build)

    def gpu_tables(self, device_id):
        """(gather, adjoint) as int32 CuPy arrays on CUDA device ``device_id``."""
        def build():
            import cupy
            with cupy.cuda.Device(device_id):
                return cupy.asarray(self.gather), cupy.asarray(self.adjoint)
        return self._cached(('gpu', device_id), build)

    def apply_cpu(self, w):
        """NumPy gather: w (out, in, nti, k, k) -> tw (out, nto, in, nti, k, k)."""
        n_out, n_in = w.shape[:2]
        tw = numpy.take(w.reshape(n_out, -1), self.cpu_gather(n_in), axis=1)
        return tw.reshape((n_out, self.n_out_transforms, n_in) + self.filter_shape)

    def adjoint_cpu(self, gy):
        """NumPy adjoint: gy (out, nto, in, nti, k, k) -> gw (out, in, nti, k, k)."""
        n_out, n_in = gy.shape[0], gy.shape[2]
        g = gy.reshape(n_out, -1)
        if self._padded:
            g = numpy.concatenate([g, numpy.zeros((n_out, 1), dtype=g.dtype)], axis=1)
        acc = numpy.float32 if gy.dtype == numpy.float16 else gy.dtype
        gw = numpy.take(g, self.cpu_adjoint(n_in), axis=1).sum(axis=1, dtype=acc)
        return gw.astype(gy.dtype, copy=False).reshape((n_out, n_in) + self.filter_shape)

    def apply_gpu(self, w):
        """CuPy gather kernel, same shapes as :meth:`apply_cpu`."""
        gather, _ = self.gpu_tables(w.device.id)
        n_out, n_in = w.shape[:2]
        tw = kernels.gather_gpu(w.reshape(n_out, n_in, -1), gather)
        return tw.reshape((n_out, self.n_out_transforms, n_in) + self.filter_shape)

    def adjoint_gpu(self, gy):
        """CuPy deterministic adjoint kernel, same shapes as :meth:`adjoint_cpu`."""
        _, adjoint = self.gpu_tables(gy.device.id)
        n_out, n_in = gy.shape[0], gy.shape[2]
        gw = kernels.adjoint_gpu(gy.reshape(n_out, self.n_out_transforms, n_in, -1), adjoint)
        return gw.reshape((n_out, n_in) + self.filter_shape)


_index_cache = {}


def as_gfilter_index(inds):
    """The (cached) :class:`GFilterIndex` of an index table (NumPy, CuPy or nested lists), or
    ``inds`` if it already is one."""
    if isinstance(inds, GFilterIndex):
        return inds
    inds = numpy.asarray(backend.CpuDevice().send(inds) if backend.get_array_module(inds)
                         is not numpy else inds)
    key = (inds.shape, inds.dtype.str, inds.tobytes())
    index = _index_cache.get(key)
    if index is None:
        index = _index_cache[key] = GFilterIndex(inds)
    return index


def _is_cpu(x):
    return backend.get_array_module(x) is numpy


class TransformGFilter(function_node.FunctionNode):
    """w (out, in, nti, k, k) -> tw (out, nto, in, nti, k, k) with ``tw[o,s,i,t,u,v] =
    w[o, i, *inds[s, t, u, v]]``. Backward: :class:`TransformGFilterAdjoint`."""

    def __init__(self, inds):
        self.index = as_gfilter_index(inds)

    @property
    def label(self):
        return 'TransformGFilter'

    def check_type_forward(self, in_types):
        type_check._argname(in_types, ('w',))
        w_type, = in_types
        nti, k, _ = self.index.filter_shape
        type_check.expect(
            w_type.dtype.kind == 'f',
            w_type.ndim == 5,
            w_type.shape[2] == nti,
            w_type.shape[3] == k,
            w_type.shape[4] == k,
        )

    def forward(self, inputs):
        w, = inputs
        return (self.index.apply_cpu(w) if _is_cpu(w) else self.index.apply_gpu(w)),

    def backward(self, indexes, grad_outputs):
        return TransformGFilterAdjoint(self.index).apply(grad_outputs)


class TransformGFilterAdjoint(function_node.FunctionNode):
    """The adjoint of :class:`TransformGFilter`: gy (out, nto, in, nti, k, k) -> gw
    (out, in, nti, k, k), ``gw[o, i, p] = sum of gy over the entries gathered from p``."""

    def __init__(self, inds):
        self.index = as_gfilter_index(inds)

    @property
    def label(self):
        return 'TransformGFilterAdjoint'

    def check_type_forward(self, in_types):
        type_check._argname(in_types, ('gy',))
        gy_type, = in_types
        nti, k, _ = self.index.filter_shape
        type_check.expect(
            gy_type.dtype.kind == 'f',
            gy_type.ndim == 6,
            gy_type.shape[1] == self.index.n_out_transforms,
            gy_type.shape[3] == nti,
            gy_type.shape[4] == k,
            gy_type.shape[5] == k,
        )

    def forward(self, inputs):
        gy, = inputs
        return (self.index.adjoint_cpu(gy) if _is_cpu(gy) else self.index.adjoint_gpu(gy)),

    def backward(self, indexes, grad_outputs):
        return TransformGFilter(self.index).apply(grad_outputs)


def transform_filter(w, inds):
    """Transform a filter bank by every output stabiliser element (differentiable).

    Args:
        w (:class:`~chainer.Variable` or ndarray): filters, shape (out, in, nti, k, k),
            float16/32/64, NumPy or CuPy.
        inds: index table (nto, nti, k, k, 3) of (T, U, V) from
            :mod:`groupy.gconv.make_gconv_indices`, or its :class:`GFilterIndex`.

    Returns:
        ~chainer.Variable: tw of shape (out, nto, in, nti, k, k),
        ``tw[o, s, i, t, u, v] = w[o, i, T, U, V]`` with ``(T, U, V) = inds[s, t, u, v]``.

    Raises:
        ValueError: ``w`` has the wrong shape or a non-float dtype (the message names the
            expected shape).
    """
    index = as_gfilter_index(inds)
    shape = tuple(w.shape)
    nti, k, _ = index.filter_shape
    if len(shape) != 5 or shape[2:] != index.filter_shape:
        raise ValueError(
            'transform_filter: w must have shape (out_channels, in_channels, {}, {}, {}) for an '
            'index table of shape {}, got {}'.format(
                nti, k, k, (index.n_out_transforms, nti, k, k, 3), shape))
    if numpy.dtype(w.dtype).type not in _FLOAT_DTYPES:
        raise ValueError('transform_filter: w must be float16, float32 or float64, got {}'.format(
            w.dtype))
    return TransformGFilter(index).apply((w,))[0]


__all__ = ['GFilterIndex', 'TransformGFilter', 'TransformGFilterAdjoint', 'as_gfilter_index',
           'transform_filter']

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

import chainer
from chainer import backend, function_node
from chainer.utils import type_check

from groupy._checks import float_dtype
from groupy.gconv.chainer_gconv.index_gather import IndexGather


class GFilterIndex(IndexGather):
    """The gather tables (:class:`~groupy.gconv.chainer_gconv.index_gather.IndexGather`)
    of one index table ``inds`` (nto, nti, k, k, 3) of (T, U, V).

    Attributes:
        n_out_transforms, n_in_transforms, ksize: the table's (nto, nti, k).
        gather: int32 (nto, Q), Q = nti * k * k: flat source ``T * k * k + U * k + V`` in the
            (nti, k, k) layout of one filter of ``W``.
        adjoint: int32 (Q, M): for each source position ``p`` the flat targets ``s * Q + q``
            with ``gather[s, q] == p`` in increasing order, padded with -1 (for the G-conv
            tables every output transform is a permutation, so each source has exactly
            M = nto targets and there is no padding).
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
        super(GFilterIndex, self).__init__(((t * k + u) * k + v).reshape(nto, nti * k * k),
                                           nti * k * k)
        self.n_in_transforms, self.ksize = nti, k

    @property
    def filter_shape(self):
        """(nti, k, k): the trailing shape of the filters this table transforms."""
        return (self.n_in_transforms, self.ksize, self.ksize)

    def _filters(self, w):
        return w.reshape(w.shape[0], w.shape[1], self.q_src)

    def _transformed(self, tw):
        return tw.reshape(tw.shape[:3] + self.filter_shape)

    def apply_cpu(self, w):
        """NumPy gather: w (out, in, nti, k, k) -> tw (out, nto, in, nti, k, k)."""
        return self._transformed(super(GFilterIndex, self).apply_cpu(self._filters(w)))

    def adjoint_cpu(self, gy):
        """NumPy adjoint: gy (out, nto, in, nti, k, k) -> gw (out, in, nti, k, k)."""
        gw = super(GFilterIndex, self).adjoint_cpu(gy.reshape(gy.shape[:3] + (self.q_dst,)))
        return gw.reshape(gw.shape[:2] + self.filter_shape)

    def apply_gpu(self, w):
        """CuPy gather kernel, same shapes as :meth:`apply_cpu`."""
        return self._transformed(super(GFilterIndex, self).apply_gpu(self._filters(w)))

    def adjoint_gpu(self, gy):
        """CuPy deterministic adjoint kernel, same shapes as :meth:`adjoint_cpu`."""
        gw = super(GFilterIndex, self).adjoint_gpu(gy.reshape(gy.shape[:3] + (self.q_dst,)))
        return gw.reshape(gw.shape[:2] + self.filter_shape)


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
        self._inds = None if isinstance(inds, GFilterIndex) else inds

    def __call__(self, w):
        """``TransformGFilter(inds)(w)``, the original GrouPy's (``chainer.Function``-style) call:
        the Variable tw (out, nto, in, nti, k, k). Like every FunctionNode, one instance is
        applied once; build a new one per call, as the original did."""
        return self.apply((w,))[0]

    def _component(self, j):
        if self._inds is None:
            raise AttributeError('TransformGFilter was built from a GFilterIndex, not a table')
        return self._inds[..., j]

    # The original stored the three coordinate tables of ``inds`` (nto, nti, k, k) as T, U, V.
    T = property(lambda self: self._component(0))
    U = property(lambda self: self._component(1))
    V = property(lambda self: self._component(2))

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


def transform_filter(w, inds) -> chainer.Variable:
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

    >>> import numpy
    >>> from groupy.gconv.make_gconv_indices import make_c4_z2_indices
    >>> w = numpy.arange(9, dtype=numpy.float32).reshape(1, 1, 1, 3, 3)
    >>> tw = transform_filter(w, make_c4_z2_indices(3))
    >>> tw.shape, bool((tw.array[0, 1, 0, 0] == numpy.rot90(w[0, 0, 0])).all())
    ((1, 4, 1, 1, 3, 3), True)
    """
    index = as_gfilter_index(inds)
    shape = tuple(w.shape)
    nti, k, _ = index.filter_shape
    if len(shape) != 5 or shape[2:] != index.filter_shape:
        raise ValueError(
            'transform_filter: w must have shape (out_channels, in_channels, {}, {}, {}) for an '
            'index table of shape {}, got {}'.format(
                nti, k, k, (index.n_out_transforms, nti, k, k, 3), shape))
    float_dtype(w.dtype, 'transform_filter: w')
    return TransformGFilter(index).apply((w,))[0]


__all__ = ['GFilterIndex', 'TransformGFilter', 'TransformGFilterAdjoint', 'as_gfilter_index',
           'transform_filter']

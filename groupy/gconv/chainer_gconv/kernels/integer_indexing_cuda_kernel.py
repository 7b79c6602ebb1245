"""The original GrouPy's indexing kernels, under their original module path and names.

``index_group_func_kernel(input, T, U, V, output)`` writes

    output[o, t, i, s, ...] = input[o, i, T[t, s, ...], U[t, s, ...], V[t, s, ...]]

i.e. ``output[...] = input[..., T, U, V].swapaxes(1, 2)``, and
``grad_index_group_func_kernel(grad_output, T, U, V, grad_input)`` *adds* its adjoint (the sum
of ``grad_output`` over every entry read from each input position) to ``grad_input``, as the
original did (zero ``grad_input`` first for the plain gradient).

Shapes: ``input`` / ``grad_input`` (no, ni, nt, nu, nv); T, U, V integer arrays of one common
shape (nto, ...) (in the G-conv (nto, nti, k, k), but any shape works, as in the original's own
test); ``output`` / ``grad_output`` (no, nto, ni) + T.shape[1:]. Float16/32/64; all arrays
NumPy, or all CuPy on one device. Both run :class:`~groupy.gconv.chainer_gconv.index_gather.
IndexGather` (CuPy: the gather and the deterministic adjoint kernels of
:mod:`~groupy.gconv.chainer_gconv.kernels.transform_filter_kernels`; no float atomics). Index
tables are cached by content (a few entries), so repeated calls with one table build it once.
"""
import collections

import numpy

from groupy._checks import float_dtype
from groupy.gconv.chainer_gconv.index_gather import IndexGather

__all__ = ['grad_index_group_func_kernel', 'index_group_func_kernel']

_CACHE_SIZE = 16
_tables = collections.OrderedDict()


def _module(arrays, func):
    kinds = set(type(a).__module__.split('.')[0] for a in arrays)
    if kinds == {'numpy'}:
        return numpy
    if kinds == {'cupy'}:
        import cupy
        return cupy
    raise TypeError('{}: the five arrays must all be numpy.ndarray or all cupy.ndarray; got {}'
                    .format(func, [type(a).__name__ for a in arrays]))


def _to_host(a):
    return a.get() if hasattr(a, 'get') and not isinstance(a, numpy.ndarray) else a


def _index_gather(src_shape, T, U, V, func):
    """The IndexGather of (T, U, V) into a source of trailing shape (nt, nu, nv)."""
    shapes = set(a.shape for a in (T, U, V))
    if len(shapes) != 1 or T.ndim < 1:
        raise ValueError('{}: T, U, V must have one common shape (n_out_transforms, ...); got {}'
                         .format(func, [a.shape for a in (T, U, V)]))
    for name, a in zip('TUV', (T, U, V)):
        if a.dtype.kind not in 'iu':
            raise TypeError('{}: {} must hold integers, got dtype {}'.format(func, name, a.dtype))
    t, u, v = (numpy.asarray(_to_host(a), dtype=numpy.int64) for a in (T, U, V))
    key = (src_shape, t.shape, t.tobytes(), u.tobytes(), v.tobytes())
    index = _tables.get(key)
    if index is None:
        for name, a, n in zip('TUV', (t, u, v), src_shape):
            if a.size and (a.min() < 0 or a.max() >= n):
                raise IndexError('{}: {} entries must lie in [0, {}) (input axis of size {}), got '
                                 '[{}, {}]'.format(func, name, n, n, a.min(), a.max()))
        nt, nu, nv = src_shape
        flat = ((t * nu + u) * nv + v).reshape(t.shape[0], -1)
        index = IndexGather(flat, nt * nu * nv)
        _tables[key] = index
        if len(_tables) > _CACHE_SIZE:
            _tables.popitem(last=False)
    return index


def _check(big, small, T, func, big_name, small_name):
    """Validate the filter-bank (5-d) and transformed (3 + T.ndim - 1 axes) arrays."""
    if small.ndim != 5:
        raise ValueError('{}: {} must have 5 axes (no, ni, nt, nu, nv), got shape {}'.format(
            func, small_name, small.shape))
    expected = (small.shape[0], T.shape[0], small.shape[1]) + tuple(T.shape[1:])
    if tuple(big.shape) != expected:
        raise ValueError('{}: {} must have shape (no, nto, ni) + T.shape[1:] = {}, got {}'.format(
            func, big_name, expected, big.shape))
    for name, a in ((small_name, small), (big_name, big)):
        float_dtype(a.dtype, '{}: {}'.format(func, name))
    if big.dtype != small.dtype:
        raise ValueError('{}: {} and {} must have one dtype, got {} and {}'.format(
            func, small_name, big_name, small.dtype, big.dtype))


def _prepare(big, small, T, U, V, func, big_name, small_name):
    """(array module, IndexGather) of one call, after checking its five arrays."""
    xp = _module((small, T, U, V, big), func)
    _check(big, small, T, func, big_name, small_name)
    return xp, _index_gather(tuple(small.shape[2:]), T, U, V, func)


def index_group_func_kernel(input, T, U, V, output) -> None:
    """``output[...] = input[..., T, U, V].swapaxes(1, 2)`` (see the module docstring).

    >>> import numpy
    >>> x = numpy.arange(4.).reshape(1, 1, 1, 2, 2)
    >>> T = numpy.zeros((1, 2), numpy.int32)
    >>> U, V = numpy.array([[1, 0]], numpy.int32), numpy.array([[1, 1]], numpy.int32)
    >>> out = numpy.empty((1, 1, 1, 2))
    >>> index_group_func_kernel(x, T, U, V, out); out.tolist()
    [[[[3.0, 1.0]]]]
    """
    xp, index = _prepare(output, input, T, U, V, 'index_group_func_kernel', 'output', 'input')
    w = input.reshape(input.shape[0], input.shape[1], -1)
    if xp is numpy:
        output[...] = index.apply_cpu(w).reshape(output.shape)
    else:
        with xp.cuda.Device(input.device.id):
            index.apply_gpu(w, out=output)


def grad_index_group_func_kernel(grad_output, T, U, V, grad_input) -> None:
    """``grad_input += adjoint(grad_output)`` (see the module docstring); deterministic."""
    xp, index = _prepare(grad_output, grad_input, T, U, V, 'grad_index_group_func_kernel',
                         'grad_output', 'grad_input')
    gy = grad_output.reshape(grad_output.shape[:3] + (-1,))
    if xp is numpy:
        grad_input += index.adjoint_cpu(gy).reshape(grad_input.shape)
    else:
        with xp.cuda.Device(grad_input.device.id):
            grad_input += index.adjoint_gpu(gy).reshape(grad_input.shape)

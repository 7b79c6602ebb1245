"""Pooling over the stabiliser axis (orientations / roto-reflections) of plane-group feature maps.

A feature map f on p4 (or p4m) stores at pixel x the values f(s, x) for the G stabiliser
elements s. A stabiliser element acts by permuting that axis and moving pixels, so a symmetric
function of the axis (max, mean) gives a plain Z2 map that only moves its pixels: pooling turns
p4/p4m-equivariant features into rotation(/flip)-equivariant planar ones, and combined with a
global spatial pooling into invariant ones.

With ``mask`` the pooling takes only some planes (e.g. the kept elements K of a partial
G-convolution, :mod:`~groupy.gconv.chainer_gconv.partial`): a function symmetric in the planes
of K, which stays invariant under the elements g with g K = K.
"""
from __future__ import annotations

import numpy

from chainer import functions as F

from groupy.fast_cpu import orientation_max
from groupy._checks import check_gfeature_map

__all__ = ['orientation_max_pooling', 'orientation_mean_pooling']

__all__ = ['orientation_max_pooling', 'orientation_mean_pooling', 'plane_indices']


def plane_indices(mask, g_size: int, name: str = 'mask'):
    """The plane indices (a sorted list of ints) selected by ``mask``: a boolean sequence of
    length ``g_size``, a sequence of plane indices, or an object with an ``indices`` attribute
    (a partial link's ``kept_elements()``). None if every plane is selected."""
    mask = getattr(mask, 'indices', mask)
    try:
        m = numpy.asarray(mask.get() if hasattr(mask, 'get') else mask)  # cupy: to the host
    except (TypeError, ValueError):
        m = numpy.asarray([object()])
    if m.dtype == numpy.bool_:
        if m.shape != (g_size,):
            raise ValueError('{}: a boolean mask must have one entry per plane ({},), got shape '
                             '{}'.format(name, g_size, m.shape))
        indices = numpy.flatnonzero(m)
    elif m.ndim == 1 and (m.size == 0 or numpy.issubdtype(m.dtype, numpy.integer)):
        indices = numpy.unique(m)
        if indices.size and not (0 <= indices[0] and indices[-1] < g_size):
            raise ValueError('{}: plane indices must be in 0..{}, got {}'.format(
                name, g_size - 1, m.tolist()))
    else:
        raise ValueError('{}: expected a boolean mask of length {} or a sequence of plane '
                         'indices, got {!r}'.format(name, g_size, mask))
    if indices.size == 0:
        raise ValueError('{}: selects no plane; keep at least one'.format(name))
    if indices.size == g_size:
        return None
    return [int(i) for i in indices]


def _select(x, mask, name):
    check_gfeature_map(x, name + ': x')
    if mask is None:
        return x
    indices = plane_indices(mask, x.shape[2], name + ': mask')
    return x if indices is None else F.get_item(x, (slice(None), slice(None), indices))


def orientation_max_pooling(x, mask=None):
    """Max over the stabiliser axis: (N, C, G, H, W) -> (N, C, H, W) (groupy.fast_cpu's node on
    NumPy arrays, F.max(x, axis=2) elsewhere; the same numbers bit for bit).

    mask: None (every plane), a boolean mask of length G, or the plane indices to pool over
    (a list, or a partial link's ``kept_elements()``)."""
    return orientation_max(_select(x, mask, 'orientation_max_pooling'))


def orientation_mean_pooling(x, mask=None):
    """Mean over the stabiliser axis: (N, C, G, H, W) -> (N, C, H, W); ``mask`` as in
    :func:`orientation_max_pooling` (the mean of the selected planes)."""
    return F.mean(_select(x, mask, 'orientation_mean_pooling'), axis=2)

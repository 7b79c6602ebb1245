"""Pooling over the stabiliser axis (orientations / roto-reflections) of plane-group feature maps.

A feature map f on p4 (or p4m) stores at pixel x the values f(s, x) for the G stabiliser
elements s. A stabiliser element acts by permuting that axis and moving pixels, so a symmetric
function of the axis (max, mean) gives a plain Z2 map that only moves its pixels: pooling turns
p4/p4m-equivariant features into rotation(/flip)-equivariant planar ones, and combined with a
global spatial pooling into invariant ones.
"""
from chainer import functions as F

from groupy.fast_cpu import orientation_max
from groupy._checks import check_gfeature_map

__all__ = ['orientation_max_pooling', 'orientation_mean_pooling']


def orientation_max_pooling(x):
    """Max over the stabiliser axis: (N, C, G, H, W) -> (N, C, H, W) (groupy.fast_cpu's node on
    NumPy arrays, F.max(x, axis=2) elsewhere; the same numbers bit for bit)."""
    check_gfeature_map(x, 'orientation_max_pooling: x')
    return orientation_max(x)


def orientation_mean_pooling(x):
    """Mean over the stabiliser axis: (N, C, G, H, W) -> (N, C, H, W)."""
    check_gfeature_map(x, 'orientation_mean_pooling: x')
    return F.mean(x, axis=2)

"""Pooling for plane-group feature maps (N, C, G, H, W): spatial max pooling per stabiliser
channel, and max/mean pooling over the stabiliser axis."""
from groupy.gconv.chainer_gconv.pooling.orientation_pooling import (  # noqa: F401
    orientation_max_pooling, orientation_mean_pooling)
from groupy.gconv.chainer_gconv.pooling.plane_group_spatial_max_pooling import (  # noqa: F401
    plane_group_spatial_max_pooling)

__all__ = ['orientation_max_pooling', 'orientation_mean_pooling', 'plane_group_spatial_max_pooling']

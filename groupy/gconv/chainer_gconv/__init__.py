"""Chainer G-convolution layers for the plane groups p4 and p4m.

* :class:`SplitGConv2D` and its subclasses :class:`P4ConvZ2`, :class:`P4ConvP4`,
  :class:`P4MConvZ2`, :class:`P4MConvP4M` (links);
* :class:`TransformGFilter` (the differentiable filter transform; the function
  ``transform_filter`` lives in the submodule of that name, which ``chainer_gconv.transform_filter``
  is, as in the original GrouPy);
* pooling over the plane group: :func:`plane_group_spatial_max_pooling`,
  :func:`orientation_max_pooling`, :func:`orientation_mean_pooling`;
* :func:`check_equivariance`, to measure how equivariant a link or chain is
  (:func:`equivariant_elements`: to which stabiliser elements);
* partial G-convolutions that learn which stabiliser elements they keep:
  :class:`PartialP4ConvP4`, :class:`PartialP4MConvP4M` (module ``partial``; their training
  helpers in ``partial_training``);
* :func:`exactness`, which input sizes keep a network exactly equivariant (per layer);
* :func:`gpu_available`, a CuPy device check that never raises.
"""
from groupy.gconv.chainer_gconv.check_equivariance import (  # noqa: F401
    check_equivariance, equivariant_elements, transform_feature_map)
from groupy.gconv.chainer_gconv.gpu import gpu_available  # noqa: F401
from groupy.gconv.chainer_gconv.p4_conv import P4ConvP4, P4ConvZ2  # noqa: F401
from groupy.gconv.chainer_gconv.p4m_conv import P4MConvP4M, P4MConvZ2  # noqa: F401
from groupy.gconv.chainer_gconv.partial import PartialP4ConvP4, PartialP4MConvP4M  # noqa: F401
from groupy.gconv.chainer_gconv.pooling import (  # noqa: F401
    orientation_max_pooling, orientation_mean_pooling, plane_group_spatial_max_pooling)
from groupy.gconv.chainer_gconv.splitgconv2d import SplitGConv2D  # noqa: F401
from groupy.gconv.chainer_gconv.transform_filter import (  # noqa: F401
    GFilterIndex, TransformGFilter, TransformGFilterAdjoint)
# Not the function ``transform_filter``: it would hide the submodule of the same name, which
# ``import groupy.gconv.chainer_gconv.transform_filter as tf`` must give.
from groupy.gconv.chainer_gconv.exactness_analysis import ExactnessReport, exactness  # noqa: F401

__all__ = ['ExactnessReport', 'GFilterIndex', 'P4ConvP4', 'P4ConvZ2', 'P4MConvP4M', 'P4MConvZ2',
           'SplitGConv2D', 'TransformGFilter', 'TransformGFilterAdjoint', 'check_equivariance',
           'exactness', 'gpu_available', 'orientation_max_pooling', 'orientation_mean_pooling',
           'plane_group_spatial_max_pooling', 'transform_feature_map']

"""Spatial max pooling of feature maps on a plane group (p4, p4m), each stabiliser channel
pooled on its own."""
from chainer import functions as F

from groupy._checks import check_gfeature_map
from groupy.gconv.chainer_gconv._deprecated import ignore_use_cudnn
from groupy.fast_cpu.pooling import max_pooling_2d

__all__ = ['plane_group_spatial_max_pooling']


def plane_group_spatial_max_pooling(x, ksize, stride=None, pad=0, cover_all=True, use_cudnn=None):
    """Max-pool the two spatial axes of a plane-group feature map.

    Args:
        x (:class:`~chainer.Variable` or ndarray): shape (N, C, G, H, W), G the stabiliser size
            (4 for p4, 8 for p4m).
        ksize, stride, pad, cover_all: as in :func:`chainer.functions.max_pooling_2d`
            (``stride=None`` means ``stride=ksize``); 2x2 windows with stride 2 take the fast
            CPU path of :mod:`~groupy.fast_cpu.pooling`.
        use_cudnn: the original GrouPy's argument; ignored with a DeprecationWarning (use
            ``chainer.using_config('use_cudnn', ...)``).

    Returns:
        ~chainer.Variable: shape (N, C, G, H', W').

    Pooling commutes with rotations/flips about the map centre when the pooling windows are laid
    out symmetrically about it (e.g. ksize == stride dividing H and W, ``pad=0``).
    """
    ignore_use_cudnn(use_cudnn, 'plane_group_spatial_max_pooling')
    check_gfeature_map(x, 'plane_group_spatial_max_pooling: x')
    n, c, g, h, w = x.shape
    y = max_pooling_2d(F.reshape(x, (n, c * g, h, w)), ksize, stride=stride, pad=pad,
                       cover_all=cover_all)
    return F.reshape(y, (n, c, g) + y.shape[2:])

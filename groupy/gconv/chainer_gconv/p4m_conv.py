"""G-convolutions for p4m (translations, rotations by multiples of 90 degrees and mirrors);
the 8 stabiliser elements (m, r) are indexed m * 4 + r."""
import numpy

from groupy.gconv import make_gconv_indices
from groupy.gconv.chainer_gconv.splitgconv2d import SplitGConv2D

__all__ = ['P4MConvP4M', 'P4MConvZ2']


class P4MConvZ2(SplitGConv2D):
    """Lifting layer Z2 -> p4m: images (N, in, H, W) or (N, in, 1, H, W) ->
    (N, out, 8, H', W'); output plane m * 4 + r uses the filter rotated by r quarter turns and
    then, if m = 1, flipped along the rows. ``W``: (out, in, 1, k, k). Arguments: SplitGConv2D.

    >>> import numpy
    >>> P4MConvZ2(3, 2, ksize=3, pad=1)(numpy.zeros((1, 3, 5, 5), numpy.float32)).shape
    (1, 2, 8, 5, 5)
    """

    input_stabilizer_size = 1
    output_stabilizer_size = 8

    @staticmethod
    def make_transformation_indices(ksize: int) -> numpy.ndarray:
        return make_gconv_indices.make_d4_z2_indices(ksize)


class P4MConvP4M(SplitGConv2D):
    """p4m -> p4m: (N, in, 8, H, W) -> (N, out, 8, H', W'); ``W``: (out, in, 8, k, k).
    Arguments: SplitGConv2D.

    >>> import numpy
    >>> P4MConvP4M(2, 2, ksize=3)(numpy.zeros((1, 2, 8, 5, 5), numpy.float32)).shape
    (1, 2, 8, 3, 3)
    """

    input_stabilizer_size = 8
    output_stabilizer_size = 8

    @staticmethod
    def make_transformation_indices(ksize: int) -> numpy.ndarray:
        return make_gconv_indices.make_d4_p4m_indices(ksize)

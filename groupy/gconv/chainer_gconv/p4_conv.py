"""G-convolutions for p4 (translations and rotations by multiples of 90 degrees)."""
import numpy

from groupy.gconv import make_gconv_indices
from groupy.gconv.chainer_gconv.splitgconv2d import SplitGConv2D

__all__ = ['P4ConvP4', 'P4ConvZ2']


class P4ConvZ2(SplitGConv2D):
    """Lifting layer Z2 -> p4: images (N, in, H, W) or (N, in, 1, H, W) ->
    (N, out, 4, H', W'); output plane r is the correlation with the filter rotated by r
    quarter turns (np.rot90's direction). ``W``: (out, in, 1, k, k). Arguments: SplitGConv2D.

    >>> import numpy
    >>> P4ConvZ2(1, 2, ksize=3)(numpy.zeros((1, 1, 6, 6), numpy.float32)).shape
    (1, 2, 4, 4, 4)
    """

    input_stabilizer_size = 1
    output_stabilizer_size = 4

    @staticmethod
    def make_transformation_indices(ksize: int) -> numpy.ndarray:
        return make_gconv_indices.make_c4_z2_indices(ksize)


class P4ConvP4(SplitGConv2D):
    """p4 -> p4: (N, in, 4, H, W) -> (N, out, 4, H', W'); ``W``: (out, in, 4, k, k).
    Arguments: SplitGConv2D.

    >>> import numpy
    >>> P4ConvP4(2, 3, ksize=2, stride=2)(numpy.zeros((1, 2, 4, 6, 6), numpy.float32)).shape
    (1, 3, 4, 3, 3)
    """

    input_stabilizer_size = 4
    output_stabilizer_size = 4

    @staticmethod
    def make_transformation_indices(ksize: int) -> numpy.ndarray:
        return make_gconv_indices.make_c4_p4_indices(ksize)

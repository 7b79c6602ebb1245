"""G-convolutions for p4m (translations, rotations by multiples of 90 degrees and mirrors);
the 8 stabiliser elements (m, r) are indexed m * 4 + r."""
from groupy.gconv import make_gconv_indices
from groupy.gconv.chainer_gconv.splitgconv2d import SplitGConv2D

__all__ = ['P4MConvP4M', 'P4MConvZ2']


class P4MConvZ2(SplitGConv2D):
    """Lifting layer Z2 -> p4m: images (N, in, H, W) or (N, in, 1, H, W) ->
    (N, out, 8, H', W'); output plane m * 4 + r uses the filter rotated by r quarter turns and
    then, if m = 1, flipped along the rows. ``W``: (out, in, 1, k, k). Arguments: SplitGConv2D."""

    input_stabilizer_size = 1
    output_stabilizer_size = 8

    @staticmethod
    def make_transformation_indices(ksize):
        return make_gconv_indices.make_d4_z2_indices(ksize)


class P4MConvP4M(SplitGConv2D):
    """p4m -> p4m: (N, in, 8, H, W) -> (N, out, 8, H', W'); ``W``: (out, in, 8, k, k).
    Arguments: SplitGConv2D."""

    input_stabilizer_size = 8
    output_stabilizer_size = 8

    @staticmethod
    def make_transformation_indices(ksize):
        return make_gconv_indices.make_d4_p4m_indices(ksize)

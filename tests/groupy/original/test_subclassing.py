"""A G-conv subclass written as the original GrouPy README describes (stabiliser sizes and an
*instance* method make_transformation_indices(self, ksize)) works, and equals the built-in link."""
import numpy as np

import chainer

from groupy.gconv.chainer_gconv import P4ConvZ2
from groupy.gconv.chainer_gconv.splitgconv2d import SplitGConv2D
from groupy.gconv.make_gconv_indices import make_c4_z2_indices


class OriginalStyleP4ConvZ2(SplitGConv2D):
    input_stabilizer_size = 1
    output_stabilizer_size = 4

    def make_transformation_indices(self, ksize):
        return make_c4_z2_indices(ksize=ksize)


def test_instance_method_subclass_matches_builtin_link():
    rng = np.random.RandomState(0)
    w = rng.randn(3, 2, 1, 3, 3).astype(np.float64)
    x = rng.randn(2, 2, 7, 7).astype(np.float64)
    ours = OriginalStyleP4ConvZ2(2, 3, ksize=3, pad=1, initialW=w, dtype=np.float64)
    builtin = P4ConvZ2(2, 3, ksize=3, pad=1, initialW=w, dtype=np.float64)
    with chainer.using_config('train', False):
        y_ours, y_builtin = ours(x).array, builtin(x).array
    assert y_ours.shape == (2, 3, 4, 7, 7)
    np.testing.assert_allclose(y_ours, y_builtin, rtol=0, atol=0)
    # the four output planes are the input correlated with the four rotations of the filter
    assert not np.allclose(y_ours[:, :, 0], y_ours[:, :, 1])

"""All-CNN-C on p4 (rotations by multiples of 90 degrees): ``AllCNNC`` with a P4ConvZ2 first
layer, P4ConvP4 layers after it, and widths 48/96 (half the planar 96/192, since each p4
feature map has 4 orientation channels) for 1.37M parameters, as in Cohen & Welling's table.

Shapes: x (N, 3, H, W) -> G-feature maps (N, C, 4, H', W') -> average over the 4 orientations
and the plane -> logits (N, 10), invariant to 90-degree rotations of x (exactly when the
stride-2 sizes are odd; see ``AllCNNC``).
"""
from groupy.gconv.chainer_gconv import P4ConvP4, P4ConvZ2

from gconv_experiments.CIFAR10.models.AllCNNC import AllCNNC


class P4AllCNNC(AllCNNC):
    __doc__ = AllCNNC.__doc__.replace('All-CNN-C on planar feature maps', 'All-CNN-C on p4')
    in_conv = P4ConvZ2
    conv = P4ConvP4
    default_widths = (48, 96)

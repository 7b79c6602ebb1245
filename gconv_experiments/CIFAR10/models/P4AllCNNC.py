"""All-CNN-C on p4 (rotations by multiples of 90 degrees), as
gconv_experiments/CIFAR10/models/P4AllCNNC.py of the release: ``AllCNNC`` with a P4ConvZ2 first
layer, P4ConvP4 layers after it, widths 48/96 (1,371,006 parameters) and normal initial
filters of std 0.035.

Shapes: x (N, 3, H, W) -> G-feature maps (N, C, 4, H', W') -> mean over the 4 orientations
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
    default_init_std = 0.035  # release: wtscale = 0.035 (P4AllCNNC.py)

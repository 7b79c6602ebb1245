"""All-CNN-C on p4m (rotations by multiples of 90 degrees and mirror reflections), as
gconv_experiments/CIFAR10/models/P4MAllCNNC.py of the release: ``AllCNNC`` with a P4MConvZ2
first layer, P4MConvP4M layers after it, widths 32/64 (1,219,678 parameters) and normal
initial filters of std 0.035.

Shapes: x (N, 3, H, W) -> G-feature maps (N, C, 8, H', W') -> mean over the 8 stabiliser
channels and the plane -> logits (N, 10), invariant to 90-degree rotations and flips of x
(exactly when the stride-2 sizes are odd; see ``AllCNNC``).
"""
from groupy.gconv.chainer_gconv import P4MConvP4M, P4MConvZ2

from gconv_experiments.CIFAR10.models.AllCNNC import AllCNNC


class P4MAllCNNC(AllCNNC):
    __doc__ = AllCNNC.__doc__.replace('All-CNN-C on planar feature maps', 'All-CNN-C on p4m')
    in_conv = P4MConvZ2
    conv = P4MConvP4M
    default_widths = (32, 64)
    default_init_std = 0.035  # release: wtscale = 0.035 (P4MAllCNNC.py)

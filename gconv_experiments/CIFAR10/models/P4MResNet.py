"""Pre-activation ResNet on p4m (rotations by multiples of 90 degrees and mirror reflections):
``ResNet`` with a P4MConvZ2 first layer and P4MConvP4M residual blocks. Widths from Cohen &
Welling's table: ResNet44 11/23/45 (2.62M parameters, default), ResNet26 25/50/100 (7.17M,
``--net_kwargs "{'depth': 26}"``).

Shapes: x (N, 3, H, W) -> G-feature maps (N, C, 8, H', W') -> BN-ReLU -> average over the 8
stabiliser channels and the plane -> linear -> logits (N, 10), invariant to 90-degree
rotations and flips of x (exactly when the stride-2 sizes are odd; see ``AllCNNC``).
"""
from groupy.gconv.chainer_gconv import P4MConvP4M, P4MConvZ2

from gconv_experiments.CIFAR10.models.ResNet import ResNet


class P4MResNet(ResNet):
    __doc__ = ResNet.__doc__.replace('Pre-activation ResNet', 'Pre-activation p4m-ResNet', 1)
    in_conv = P4MConvZ2
    conv = P4MConvP4M
    default_widths = {44: (11, 23, 45), 26: (25, 50, 100)}

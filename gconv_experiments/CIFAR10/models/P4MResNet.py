"""Pre-activation ResNet on p4m (rotations by multiples of 90 degrees and mirror reflections),
as gconv_experiments/CIFAR10/models/P4MResNet.py of the release: ``ResNet`` with a P4MConvZ2
first layer and P4MConvP4M residual blocks (G-convolutions with wscale sqrt(2), He's init).

The head is the release's: BN (one statistic per feature map, over its 8 stabiliser
channels) -> ReLU -> the (N, nc8, 8, 8, 8) map reshaped to (N, nc8 * 8, 8, 8) -> average over
the plane -> 1x1 convolution over the nc8 * 8 channels -> logits (N, 10). That last layer has
its own weight for each stabiliser channel, so the logits are NOT invariant to rotations and
flips of the input (only the features before it are equivariant).

Release constructor arguments (``--net_kwargs``): the paper's p4m-ResNet44 is
``{'num_blocks': 7, 'nc32': 11, 'nc16': 23, 'nc8': 45}`` (2,622,878 parameters), p4m-ResNet26
``{'num_blocks': 4, 'nc32': 25, 'nc16': 50, 'nc8': 100}`` (7,173,110); the defaults
(18, 6, 11, 23) are the release's.
"""
from groupy.gconv.chainer_gconv import P4MConvP4M, P4MConvZ2

from gconv_experiments.CIFAR10.models.ResNet import ResNet


class P4MResNet(ResNet):
    __doc__ = ResNet.__doc__.replace('Pre-activation ResNet', 'Pre-activation p4m-ResNet', 1)
    in_conv = P4MConvZ2
    conv = P4MConvP4M
    stabiliser = 8

    def __init__(self, num_blocks=18, nc32=6, nc16=11, nc8=23, num_classes=10,
                 final_bn_batch_stats=True, planar_init='he'):
        super().__init__(num_blocks=num_blocks, nc32=nc32, nc16=nc16, nc8=nc8,
                         num_classes=num_classes, final_bn_batch_stats=final_bn_batch_stats,
                         planar_init=planar_init)

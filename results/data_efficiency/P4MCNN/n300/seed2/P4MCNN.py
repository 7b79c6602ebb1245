"""P4MCNN: the p4m (rotations and mirrors) version of P4CNN for MNIST-rot. NOT in the release
(tscohen/gconv_experiments has Z2CNN, P4CNN and P4CNN_RP only): an addition of this project.

Same seven-layer architecture as P4CNN (no dropout by default) with P4MConvZ2 / P4MConvP4M
layers, whose feature maps have 8 roto-reflection channels. A p4m layer with c input and c
output feature maps has c*c*8*9 weights against c*c*4*9 for p4, so the default `channels` = 7
(7*7*8 = 392 ~ 10*10*4) keeps the parameter count close to P4CNN's. The final max over the 8
stabiliser channels makes the class scores invariant to 90-degree rotations and to mirroring.
"""
from gconv_experiments.MNIST_ROT.models.P4CNN import P4CNN
from groupy.gconv.chainer_gconv import P4MConvP4M, P4MConvZ2


class P4MCNN(P4CNN):
    """x (N, in_channels, 28, 28) -> logits (N, n_classes), invariant to the dihedral group D4.

    Args: as P4CNN; `channels` (default 7) counts feature maps of 8 stabiliser channels each.
    """
    lifting_conv, group_conv = P4MConvZ2, P4MConvP4M

    def __init__(self, channels=7, dropout=0.0, in_channels=1, n_classes=10,
                 dropout_after=P4CNN.DROPOUT_AFTER):
        super().__init__(channels=channels, dropout=dropout, in_channels=in_channels, n_classes=n_classes,
                         dropout_after=dropout_after)

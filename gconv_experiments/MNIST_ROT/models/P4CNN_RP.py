"""P4CNN_RP: P4CNN with rotation pooling after every layer (Cohen & Welling 2016, section 8.1).

Each layer is a P4ConvZ2 on planar feature maps followed by batch normalisation, ReLU and a
max over the 4 orientations, which returns a planar map that rotates with the input (a
rotation-equivariant CNN whose filters are shared over the four rotations). With `channels` = 20
(Z2CNN's width) the parameter count equals Z2CNN's. Layers, pooling, dropout and the final 4x4
layer (followed by a max over orientations, so the scores are rotation invariant) as in Z2CNN.
"""
import chainer.functions as F

from gconv_experiments.conv_bn_act import ConvBNAct
from gconv_experiments.training import Classifier
from groupy.gconv.chainer_gconv import P4ConvZ2, orientation_max_pooling
from groupy.fast_cpu import dropout, max_pooling_2d  # Chainer's ops, faster on CPU


class P4CNN_RP(Classifier):
    """x (N, in_channels, 28, 28) -> logits (N, n_classes), invariant to 90-degree rotations.

    Args:
        channels: feature maps per hidden layer after rotation pooling (default 20).
        dropout: dropout ratio after every hidden layer (0 disables it).
        in_channels, n_classes: input channels and number of classes.
    """

    def __init__(self, channels=20, dropout=0.3, in_channels=1, n_classes=10):
        super().__init__()
        self.dropout = dropout
        with self.init_scope():
            self.l1 = ConvBNAct(P4ConvZ2(in_channels, channels, ksize=3))
            self.l2 = ConvBNAct(P4ConvZ2(channels, channels, ksize=3))
            self.l3 = ConvBNAct(P4ConvZ2(channels, channels, ksize=3))
            self.l4 = ConvBNAct(P4ConvZ2(channels, channels, ksize=3))
            self.l5 = ConvBNAct(P4ConvZ2(channels, channels, ksize=3))
            self.l6 = ConvBNAct(P4ConvZ2(channels, channels, ksize=3))
            self.top = P4ConvZ2(channels, n_classes, ksize=4)

    def logits(self, x):
        h = x
        for i, layer in enumerate((self.l1, self.l2, self.l3, self.l4, self.l5, self.l6), 1):
            h = orientation_max_pooling(layer(h))  # (N, channels, H, W)
            if i == 2:
                h = max_pooling_2d(h, 2, 2)
            if self.dropout:
                h = dropout(h, self.dropout)
        h = orientation_max_pooling(self.top(h))
        return F.mean(h, axis=(2, 3))

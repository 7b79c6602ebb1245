"""P4CNN: the p4 G-CNN for MNIST-rot (Cohen & Welling 2016, section 8.1).

The Z2CNN architecture with its convolutions replaced by p4 convolutions: a P4ConvZ2 lifting
layer, five P4ConvP4 layers (3x3, `channels` = 10 feature maps of 4 orientations each, so the
parameter count stays close to Z2CNN's), batch normalisation (one statistic per feature map,
shared over orientations), ReLU and dropout after each, 2x2 spatial max pooling after layer 2,
a final 4x4 P4ConvP4 to the 10 classes, and a max over the 4 orientations of the final layer.

Every layer is equivariant to rotations by multiples of 90 degrees about the image centre (a
28x28 input shrinks 26-24-(12)-10-8-6-4-1, and each pooling window maps onto a pooling window
under np.rot90), and the final orientation max turns equivariance into invariance: the class
scores of an image and of its 90-degree rotations agree (in test mode).
"""
import chainer.functions as F

from gconv_experiments.conv_bn_act import ConvBNAct
from gconv_experiments.training import Classifier
from groupy.gconv.chainer_gconv import (P4ConvP4, P4ConvZ2, orientation_max_pooling,
                                        plane_group_spatial_max_pooling)
from groupy.fast_cpu import dropout  # Chainer's ops, faster on CPU


class P4CNN(Classifier):
    """x (N, in_channels, 28, 28) -> logits (N, n_classes), invariant to 90-degree rotations.

    Args:
        channels: feature maps per hidden layer, each with 4 orientation channels (paper: 10).
        dropout: dropout ratio after every hidden layer (0 disables it).
        in_channels, n_classes: input channels and number of classes.
    """
    lifting_conv, group_conv = P4ConvZ2, P4ConvP4  # P4MCNN swaps in the p4m layers

    def __init__(self, channels=10, dropout=0.3, in_channels=1, n_classes=10):
        super().__init__()
        self.dropout = dropout
        gconv = self.group_conv
        with self.init_scope():
            self.l1 = ConvBNAct(self.lifting_conv(in_channels, channels, ksize=3))
            self.l2 = ConvBNAct(gconv(channels, channels, ksize=3))
            self.l3 = ConvBNAct(gconv(channels, channels, ksize=3))
            self.l4 = ConvBNAct(gconv(channels, channels, ksize=3))
            self.l5 = ConvBNAct(gconv(channels, channels, ksize=3))
            self.l6 = ConvBNAct(gconv(channels, channels, ksize=3))
            self.top = gconv(channels, n_classes, ksize=4)

    def logits(self, x):
        h = x
        for i, layer in enumerate((self.l1, self.l2, self.l3, self.l4, self.l5, self.l6), 1):
            h = layer(h)  # (N, channels, G, H, W)
            if i == 2:
                h = plane_group_spatial_max_pooling(h, ksize=2, stride=2)
            if self.dropout:
                h = dropout(h, self.dropout)
        h = orientation_max_pooling(self.top(h))  # (N, n_classes, 1, 1) for 28x28 inputs
        return F.mean(h, axis=(2, 3))

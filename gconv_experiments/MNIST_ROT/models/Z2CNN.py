"""Z2CNN: the planar baseline for MNIST-rot (Cohen & Welling 2016, section 8.1).

Seven convolution layers: six 3x3 layers with `channels` (20) feature maps, each followed by
batch normalisation, ReLU and dropout, 2x2 max pooling after layer 2, and a final 4x4
convolution to the 10 class scores. A 28x28 input shrinks 26-24-(12)-10-8-6-4-1.
"""
import chainer.functions as F

from gconv_experiments.conv_bn_act import ConvBNAct
from gconv_experiments.training import Classifier
from groupy.fast_cpu import Convolution2D, dropout, max_pooling_2d  # Chainer's ops, faster on CPU


class Z2CNN(Classifier):
    """x (N, in_channels, 28, 28) -> logits (N, n_classes).

    Args:
        channels: feature maps per hidden layer (paper: 20).
        dropout: dropout ratio after every hidden layer (0 disables it).
        in_channels, n_classes: input channels and number of classes.
    """

    def __init__(self, channels=20, dropout=0.3, in_channels=1, n_classes=10):
        super().__init__()
        self.dropout = dropout
        with self.init_scope():
            self.l1 = ConvBNAct(Convolution2D(in_channels, channels, 3))
            self.l2 = ConvBNAct(Convolution2D(channels, channels, 3))
            self.l3 = ConvBNAct(Convolution2D(channels, channels, 3))
            self.l4 = ConvBNAct(Convolution2D(channels, channels, 3))
            self.l5 = ConvBNAct(Convolution2D(channels, channels, 3))
            self.l6 = ConvBNAct(Convolution2D(channels, channels, 3))
            self.top = Convolution2D(channels, n_classes, 4)

    def logits(self, x):
        h = x
        for i, layer in enumerate((self.l1, self.l2, self.l3, self.l4, self.l5, self.l6), 1):
            h = layer(h)
            if i == 2:
                h = max_pooling_2d(h, 2, 2)
            if self.dropout:
                h = dropout(h, self.dropout)
        h = self.top(h)  # (N, n_classes, 1, 1) for 28x28 inputs
        return F.mean(h, axis=(2, 3))

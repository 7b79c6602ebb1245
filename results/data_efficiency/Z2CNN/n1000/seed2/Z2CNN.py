"""Z2CNN: the planar CNN baseline for MNIST-rot (Cohen & Welling 2016, section 8.1), as in
gconv_experiments/MNIST_ROT/models/Z2CNN.py of the release (tscohen/gconv_experiments ca88c58).

    l1..l6: 3x3 convolution (no padding, with bias) -> batch normalisation -> ReLU,
            `channels` (20) feature maps each
    2x2 max pooling (stride 2) after l2
    dropout (`dropout`, 0.3) after l1, l3, l4, l5 and l6 -- NOT after l2 and its pooling
    top:    4x4 convolution (with bias) to the 10 class scores, then a max over the plane

A 28x28 input shrinks 26-24-(12)-10-8-6-4-1. Weights start normal with std 1/sqrt(fan_in)
(Chainer 1's Convolution2D default, wscale 1; Chainer 7's LeCunNormal is the same), biases 0;
batch normalisation keeps one statistic per feature map (decay 0.9).
"""
import chainer
import chainer.functions as F

from gconv_experiments.layers import model_args
from gconv_experiments.layers.conv_bn_act import ConvBNAct
from gconv_experiments.layers import Classifier
from groupy.fast_cpu import Convolution2D, dropout, max_pooling_2d  # Chainer's ops, faster on CPU


class Z2CNN(Classifier):
    """x (N, in_channels, 28, 28) -> logits (N, n_classes).

    Args:
        channels: feature maps per hidden layer (release: 20).
        dropout: dropout ratio in [0, 1) after layers 1, 3, 4, 5, 6 (release: 0.3; 0 = off).
        in_channels, n_classes: input channels and number of classes.
    """
    #: the hidden layers followed by dropout in the release
    DROPOUT_AFTER = (1, 3, 4, 5, 6)

    def __init__(self, channels=20, dropout=0.3, in_channels=1, n_classes=10):
        super().__init__()
        c, cin, ncls, self.dropout = model_args.mnist_cnn(type(self).__name__, channels, dropout,
                                                          in_channels, n_classes)
        init = chainer.initializers.LeCunNormal  # N(0, 1/sqrt(fan_in)), Chainer 1's wscale=1
        with self.init_scope():
            self.l1 = ConvBNAct(Convolution2D(cin, c, 3, initialW=init()))
            self.l2 = ConvBNAct(Convolution2D(c, c, 3, initialW=init()))
            self.l3 = ConvBNAct(Convolution2D(c, c, 3, initialW=init()))
            self.l4 = ConvBNAct(Convolution2D(c, c, 3, initialW=init()))
            self.l5 = ConvBNAct(Convolution2D(c, c, 3, initialW=init()))
            self.l6 = ConvBNAct(Convolution2D(c, c, 3, initialW=init()))
            self.top = Convolution2D(c, ncls, 4, initialW=init())

    def logits(self, x):
        h = x
        for i, layer in enumerate((self.l1, self.l2, self.l3, self.l4, self.l5, self.l6), 1):
            h = layer(h)
            if i == 2:
                h = max_pooling_2d(h, 2, 2)
            if self.dropout and i in self.DROPOUT_AFTER:
                h = dropout(h, self.dropout)
        h = self.top(h)  # (N, n_classes, 1, 1) for 28x28 inputs
        return F.max(h, axis=(2, 3))

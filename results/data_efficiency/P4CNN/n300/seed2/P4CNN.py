"""P4CNN: the p4 G-CNN for MNIST-rot (Cohen & Welling 2016, section 8.1), as in
gconv_experiments/MNIST_ROT/models/P4CNN.py of the release (tscohen/gconv_experiments ca88c58).

    l1:     P4ConvZ2 3x3 (no padding, with bias) -> batch normalisation -> ReLU
    l2..l6: P4ConvP4 3x3 -> batch normalisation -> ReLU, `channels` (10) feature maps of
            4 orientation channels each
    2x2 spatial max pooling (stride 2) after l2, per orientation channel
    top:    P4ConvP4 4x4 (with bias) to the 10 classes, then a max over the 4 orientations
            and a max over the plane

NO dropout by default: every dropout line of the release's P4CNN is commented out. With
``dropout > 0`` it is applied where those commented lines stand, after l1, l3, l4 and l5, or
after the layers listed in ``dropout_after`` (e.g. ``(1, 3, 4, 5, 6)``, Z2CNN's places).

Weights start normal with std 1/sqrt(4 * 9 * in_channels) (P4ConvP4; 1/sqrt(9 * in) for the
lifting layer): GrouPy's default, wscale 1. Batch normalisation keeps one statistic per
feature map, shared over the 4 orientations. Every layer is equivariant to rotations by
multiples of 90 degrees (a 28x28 input shrinks 26-24-(12)-10-8-6-4-1 and each pooling window
maps onto a pooling window under np.rot90), so the class scores are invariant to them.
"""
import chainer.functions as F

from gconv_experiments.layers import model_args
from gconv_experiments.layers.conv_bn_act import ConvBNAct
from gconv_experiments.layers import Classifier
from groupy.gconv.chainer_gconv import (P4ConvP4, P4ConvZ2, orientation_max_pooling,
                                        plane_group_spatial_max_pooling)
from groupy.fast_cpu import dropout  # Chainer's ops, faster on CPU


class P4CNN(Classifier):
    """x (N, in_channels, 28, 28) -> logits (N, n_classes), invariant to 90-degree rotations.

    Args:
        channels: feature maps per hidden layer, each with 4 orientation channels (release: 10).
        dropout: dropout ratio in [0, 1) (release: none, 0).
        dropout_after: the hidden layers (1..6) followed by dropout when ``dropout > 0``
            (default: 1, 3, 4, 5, where the release's commented-out lines stand).
        in_channels, n_classes: input channels and number of classes.
    """
    lifting_conv, group_conv = P4ConvZ2, P4ConvP4  # P4MCNN swaps in the p4m layers
    #: where the release's commented-out dropout lines stand
    DROPOUT_AFTER = (1, 3, 4, 5)

    def __init__(self, channels=10, dropout=0.0, in_channels=1, n_classes=10, dropout_after=DROPOUT_AFTER):
        super().__init__()
        c, cin, ncls, self.dropout = model_args.mnist_cnn(type(self).__name__, channels, dropout,
                                                          in_channels, n_classes)
        self.dropout_after = model_args.layers(type(self).__name__, "dropout_after", dropout_after, 6)
        gconv = self.group_conv
        with self.init_scope():
            self.l1 = ConvBNAct(self.lifting_conv(cin, c, ksize=3))
            self.l2 = ConvBNAct(gconv(c, c, ksize=3))
            self.l3 = ConvBNAct(gconv(c, c, ksize=3))
            self.l4 = ConvBNAct(gconv(c, c, ksize=3))
            self.l5 = ConvBNAct(gconv(c, c, ksize=3))
            self.l6 = ConvBNAct(gconv(c, c, ksize=3))
            self.top = gconv(c, ncls, ksize=4)

    def logits(self, x):
        h = x
        for i, layer in enumerate((self.l1, self.l2, self.l3, self.l4, self.l5, self.l6), 1):
            h = layer(h)  # (N, channels, G, H, W)
            if i == 2:
                h = plane_group_spatial_max_pooling(h, ksize=2, stride=2)
            if self.dropout and i in self.dropout_after:
                h = dropout(h, self.dropout)
        h = self.pool_orientations(self.top(h))  # (N, n_classes, 1, 1) for 28x28 inputs
        return F.max(h, axis=(2, 3))

    def pool_orientations(self, h):
        """The max over the stabiliser axis of the top layer's output (N, n_classes, G, H, W)."""
        return orientation_max_pooling(h)

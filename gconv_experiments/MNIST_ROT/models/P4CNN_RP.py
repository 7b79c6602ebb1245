"""P4CNN_RP: P4CNN with rotation pooling after every layer (Cohen & Welling 2016, section 8.1),
as in gconv_experiments/MNIST_ROT/models/P4CNN_RP.py of the release (ca88c58).

    l1..l6: P4ConvZ2 3x3 on planar maps (no padding, with bias) -> batch normalisation (one
            statistic per feature map, shared over the 4 orientations) -> ReLU -> max over
            the 4 orientations, `channels` (20) planar feature maps each
    2x2 max pooling (stride 2) after l2
    top:    P4ConvZ2 4x4 (with bias) to the 10 classes, max over orientations and the plane

NO dropout by default: every dropout line of the release's P4CNN_RP is commented out. With
``dropout > 0`` it is applied where those lines stand: after l1, l3, l4 and l5.
Weights start normal with std 1/sqrt(9 * in_channels) (GrouPy's default, wscale 1). With 20
channels the parameter count equals Z2CNN's. Each layer is rotation-equivariant (filters shared
over the 4 rotations) and the final orientation max makes the class scores invariant to
rotations by multiples of 90 degrees.
"""
import chainer.functions as F

from gconv_experiments.layers import model_args
from gconv_experiments.layers.conv_bn_act import ConvBNAct
from gconv_experiments.layers import Classifier
from groupy.gconv.chainer_gconv import P4ConvZ2, orientation_max_pooling
from groupy.fast_cpu import dropout, max_pooling_2d  # Chainer's ops, faster on CPU


class P4CNN_RP(Classifier):
    """x (N, in_channels, 28, 28) -> logits (N, n_classes), invariant to 90-degree rotations.

    Args:
        channels: feature maps per hidden layer after rotation pooling (release: 20).
        dropout: dropout ratio in [0, 1) after layers 1, 3, 4, 5 (release: none, 0).
        in_channels, n_classes: input channels and number of classes.
    """
    #: where the release's commented-out dropout lines stand
    DROPOUT_AFTER = (1, 3, 4, 5)

    def __init__(self, channels=20, dropout=0.0, in_channels=1, n_classes=10):
        super().__init__()
        c, cin, ncls, self.dropout = model_args.mnist_cnn(type(self).__name__, channels, dropout,
                                                          in_channels, n_classes)
        with self.init_scope():
            self.l1 = ConvBNAct(P4ConvZ2(cin, c, ksize=3))
            self.l2 = ConvBNAct(P4ConvZ2(c, c, ksize=3))
            self.l3 = ConvBNAct(P4ConvZ2(c, c, ksize=3))
            self.l4 = ConvBNAct(P4ConvZ2(c, c, ksize=3))
            self.l5 = ConvBNAct(P4ConvZ2(c, c, ksize=3))
            self.l6 = ConvBNAct(P4ConvZ2(c, c, ksize=3))
            self.top = P4ConvZ2(c, ncls, ksize=4)

    def logits(self, x):
        h = x
        for i, layer in enumerate((self.l1, self.l2, self.l3, self.l4, self.l5, self.l6), 1):
            h = orientation_max_pooling(layer(h))  # (N, channels, H, W)
            if i == 2:
                h = max_pooling_2d(h, 2, 2)
            if self.dropout and i in self.DROPOUT_AFTER:
                h = dropout(h, self.dropout)
        h = orientation_max_pooling(self.top(h))
        return F.max(h, axis=(2, 3))

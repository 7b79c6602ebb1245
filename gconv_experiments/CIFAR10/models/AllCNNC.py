"""All-CNN-C (Springenberg et al., "Striving for Simplicity", 2015), the planar (Z2) baseline
of Cohen & Welling's CIFAR10 table; also the shared implementation of its G-versions.

Layers (3x3 convolutions padded by 1 unless stated; every convolution but the last is
followed by batch normalisation with one statistic per feature map and a ReLU):

    dropout 0.2 (input)
    conv  w1          conv  w1          conv  w1, stride 2      dropout 0.5
    conv  w2          conv  w2          conv  w2, stride 2      dropout 0.5
    conv  w2 (3x3, no padding)          conv  w2 (1x1)          conv  10 (1x1, bias, no BN/ReLU)
    global average pooling -> logits (N, 10)

Z2: w1, w2 = 96, 192 (1.37M parameters). The G-versions (``P4AllCNNC``, ``P4MAllCNNC``) swap
the first convolution for a Z2 -> G one and the others for G -> G ones, divide the widths by
about sqrt(|stabiliser|) to keep the parameter count, and average the final (N, 10, G, H, W)
over the stabiliser and the plane, so their logits are invariant to the stabiliser's rotations
(and flips) of the input. The invariance is exact when every stride-2 subsampling grid is
symmetric about the image centre, i.e. for odd spatial sizes at the stride-2 layers (e.g. 33x33
or 9x9 inputs); on 32x32 inputs the stride-2 grids shift by one pixel under rotation, so
invariance is approximate, as in the paper.

Batch normalisation (not in Springenberg's original, used by the G-CNN paper's experiments)
can be switched off with ``bn=False`` (the convolutions then get biases); dropout with
``dropout=False``; both through ``--net_kwargs``.
"""
import chainer.functions as F

from gconv_experiments.conv_bn_act import ConvBNAct
from gconv_experiments.training import Classifier
from groupy.fast_cpu import Convolution2D, dropout  # Chainer's ops, faster on CPU


class AllCNNC(Classifier):
    """All-CNN-C on planar feature maps.

    Args:
        widths (tuple of 2 ints or None): channels (w1, w2); None for the class default.
        bn (bool): batch normalisation after every convolution but the last.
        dropout (bool): dropout 0.2 on the input and 0.5 after each stride-2 convolution.
        num_classes (int): outputs of the last convolution.

    Shapes: x (N, 3, H, W) float32 -> logits (N, num_classes).
    """

    in_conv = Convolution2D  # maps the (N, 3, H, W) image to feature maps
    conv = Convolution2D     # feature maps -> feature maps
    default_widths = (96, 192)

    def __init__(self, widths=None, bn=True, dropout=True, num_classes=10):
        super().__init__()
        w1, w2 = self.default_widths if widths is None else widths
        self.dropout = dropout

        def cba(cls, cin, cout, ksize=3, stride=1, pad=1):
            return ConvBNAct(cls(cin, cout, ksize=ksize, stride=stride, pad=pad, nobias=bn), bn=bn)

        with self.init_scope():
            self.l1 = cba(self.in_conv, 3, w1)
            self.l2 = cba(self.conv, w1, w1)
            self.l3 = cba(self.conv, w1, w1, stride=2)
            self.l4 = cba(self.conv, w1, w2)
            self.l5 = cba(self.conv, w2, w2)
            self.l6 = cba(self.conv, w2, w2, stride=2)
            self.l7 = cba(self.conv, w2, w2, pad=0)
            self.l8 = cba(self.conv, w2, w2, ksize=1, pad=0)
            self.l9 = self.conv(w2, num_classes, ksize=1, stride=1, pad=0)

    def _drop(self, h, ratio):
        return dropout(h, ratio) if self.dropout else h

    def logits(self, x):
        """Class scores (N, num_classes) for images x (N, 3, H, W)."""
        h = self._drop(x, 0.2)
        h = self._drop(self.l3(self.l2(self.l1(h))), 0.5)
        h = self._drop(self.l6(self.l5(self.l4(h))), 0.5)
        h = self.l9(self.l8(self.l7(h)))
        # global average over every axis after the channels: the plane, and for
        # G-feature maps (N, C, G, H, W) also the stabiliser (invariant pooling)
        return F.mean(h, axis=tuple(range(2, h.ndim)))

"""All-CNN-C (Springenberg et al., "Striving for Simplicity", 2015) with batch normalisation,
the planar (Z2) baseline of Cohen & Welling's CIFAR10 table, as
gconv_experiments/CIFAR10/models/AllCNNC.py of the release (tscohen/gconv_experiments ca88c58)
builds it; also the shared implementation of its G-versions.

Nine convolutions, each with a bias and followed by batch normalisation (one statistic per
feature map) and a ReLU -- the last one too, as in the release:

    dropout 0.2 (input)
    l1 3x3 w1     l2 3x3 w1     l3 3x3 w1, stride 2      dropout 0.5
    l4 3x3 w2     l5 3x3 w2     l6 3x3 w2, stride 2      dropout 0.5
    l7 3x3 w2     l8 1x1 w2     l9 1x1 num_classes       (3x3 layers padded by 1)
    mean over the 8x8 plane (and the stabiliser of G-feature maps) -> logits (N, 10)

Z2: w1, w2 = 96, 192 (1,372,254 parameters). Every filter starts normal with the release's
fixed std ``init_std`` (0.05 for Z2, 0.035 for the G-versions), every bias 0.

The G-versions (``P4AllCNNC``, ``P4MAllCNNC``) swap l1 for a Z2 -> G convolution and the others
for G -> G ones, with the release's widths; their logits are invariant to the stabiliser's
rotations (and flips) of the input when every stride-2 grid is symmetric about the image
centre (odd sizes at the stride-2 layers, e.g. 33x33 inputs); on 32x32 inputs the stride-2
grids shift by one pixel under rotation, so the invariance is approximate, as in the paper.
"""
import chainer
import chainer.functions as F

from gconv_experiments.layers import model_args
from gconv_experiments.layers.conv_bn_act import ConvBNAct
from gconv_experiments.layers import Classifier
from groupy.fast_cpu import Convolution2D, dropout  # Chainer's ops, faster on CPU


class AllCNNC(Classifier):
    """All-CNN-C on planar feature maps.

    Args:
        widths (tuple of 2 ints or None): channels (w1, w2); None for the class default.
        bn (bool): batch normalisation after every convolution (release: True).
        dropout (bool): dropout 0.2 on the input and 0.5 after l3 and l6 (release: True).
        init_std (float or None): std of the normal initial filters; None for the release's.
        num_classes (int): outputs of the last convolution.

    Shapes: x (N, 3, H, W) float32 -> logits (N, num_classes).
    """

    in_conv = Convolution2D  # maps the (N, 3, H, W) image to feature maps
    conv = Convolution2D     # feature maps -> feature maps
    default_widths = (96, 192)
    default_init_std = 0.05  # release: wtscale = 0.05 (AllCNNC.py)

    def __init__(self, widths=None, bn=True, dropout=True, init_std=None, num_classes=10):
        super().__init__()
        name = type(self).__name__
        widths = self.default_widths if widths is None else widths
        if not isinstance(widths, (tuple, list)) or len(widths) != 2:
            raise ValueError(f"{name}: widths must be 2 integers (w1, w2), got {widths!r}")
        w1, w2 = (model_args.positive_int(name, "widths", w) for w in widths)
        bn = model_args.flag(name, "bn", bn)
        self.dropout = model_args.flag(name, "dropout", dropout)
        ncls = model_args.positive_int(name, "num_classes", num_classes)
        std = self.default_init_std if init_std is None else init_std
        if isinstance(std, bool) or not isinstance(std, (int, float)) or not std > 0:
            raise ValueError(f"{name}: init_std must be a number > 0, got {init_std!r}")

        def cba(cls, cin, cout, ksize=3, stride=1, pad=1):
            return ConvBNAct(cls(cin, cout, ksize=ksize, stride=stride, pad=pad,
                                 initialW=chainer.initializers.Normal(std)), bn=bn)

        with self.init_scope():
            self.l1 = cba(self.in_conv, 3, w1)
            self.l2 = cba(self.conv, w1, w1)
            self.l3 = cba(self.conv, w1, w1, stride=2)
            self.l4 = cba(self.conv, w1, w2)
            self.l5 = cba(self.conv, w2, w2)
            self.l6 = cba(self.conv, w2, w2, stride=2)
            self.l7 = cba(self.conv, w2, w2)
            self.l8 = cba(self.conv, w2, w2, ksize=1, pad=0)
            self.l9 = cba(self.conv, w2, ncls, ksize=1, pad=0)

    def _drop(self, h, ratio):
        return dropout(h, ratio) if self.dropout else h

    def logits(self, x):
        """Class scores (N, num_classes) for images x (N, 3, H, W)."""
        h = self._drop(x, 0.2)
        h = self._drop(self.l3(self.l2(self.l1(h))), 0.5)
        h = self._drop(self.l6(self.l5(self.l4(h))), 0.5)
        h = self.l9(self.l8(self.l7(h)))
        # the release sums over the 8x8 plane (and the stabiliser) and divides by the count
        return F.mean(h, axis=tuple(range(2, h.ndim)))

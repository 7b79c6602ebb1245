"""Pre-activation ResNet for CIFAR10 (He et al. 2016) on planar feature maps, as
gconv_experiments/CIFAR10/models/ResNet.py of the release (tscohen/gconv_experiments ca88c58)
builds it; also the shared implementation of its G-version ``P4MResNet``.

    conv 3x3 (3 -> nc32, bias)
    stage 1: num_blocks residual blocks, nc32 channels, 32x32
    stage 2: num_blocks residual blocks, nc16 channels, the first with stride 2 (16x16)
    stage 3: num_blocks residual blocks, nc8 channels, the first with stride 2 (8x8)
    BN -> ReLU -> average pooling over the plane -> 1x1 convolution (bias) -> logits (N, 10)

Blocks are ``gconv_experiments.layers.residual_block_2d.ResBlock2D`` (BN-ReLU-conv-BN-ReLU-conv, a
bias on every convolution; a linear 1x1 shortcut of the block input where a stage begins,
identity elsewhere). 6 * num_blocks + 2 layers. The release's constructor arguments are the
``--net_kwargs``: the paper's ResNet44 is ``{'num_blocks': 7, 'nc32': 32, 'nc16': 64,
'nc8': 128}`` (2,639,434 parameters), ResNet26 ``{'num_blocks': 4, 'nc32': 71, 'nc16': 142,
'nc8': 284}`` (7,236,046); the defaults (18, 16, 32, 64) are the release's.

Initialisation: the release passes wscale = sqrt(2) to every convolution, "equal to He et al."
Chainer <= 1.8 drew N(0, wscale / sqrt(fan_in)), i.e. He's sqrt(2 / fan_in) (``planar_init=
'he'``, default); Chainer 1.9 and later v1 releases (at least to 1.17) drew
N(0, sqrt(wscale) / sqrt(fan_in)) = 2**0.25 / sqrt(fan_in) for planar convolutions
(chainer/chainer#1806; ``planar_init='chainer_v1.9'``).
GrouPy's G-convolutions always draw wscale / sqrt(fan_in). Biases start at 0.

The final BN: the release calls it without its test flag, so it normalises with the statistics
of the batch at hand in evaluation too (``final_bn_batch_stats=True``, default); ``False``
uses the population statistics like every other BN.
"""
import math

import chainer
import chainer.functions as F

from gconv_experiments.layers import model_args
from gconv_experiments.layers.residual_block_2d import ResBlock2D
from gconv_experiments.layers import Classifier
from groupy.fast_cpu import BatchNormalization, Convolution2D, batch_normalization, relu

WSCALE = math.sqrt(2.0)  # release: ws = sqrt(2.) in ResNet.py / P4MResNet.py
PLANAR_INITS = ('he', 'chainer_v1.9')


class ResNet(Classifier):
    """Pre-activation ResNet with three stages (see the module docstring).

    Args:
        num_blocks (int): residual blocks per stage (release default 18).
        nc32, nc16, nc8 (int): channels of the 32x32, 16x16 and 8x8 stages.
        num_classes (int): outputs of the final 1x1 convolution.
        final_bn_batch_stats (bool): the final BN uses batch statistics in evaluation too
            (the release's behaviour, default) or, if False, its population statistics.
        planar_init (str): 'he' (default) or 'chainer_v1.9', see the module docstring.

    Shapes: x (N, 3, H, W) float32 -> logits (N, num_classes).
    """

    in_conv = Convolution2D  # maps the (N, 3, H, W) image to feature maps
    conv = Convolution2D     # feature maps -> feature maps
    stabiliser = 1           # channels per feature map entering the final 1x1 convolution

    def __init__(self, num_blocks=18, nc32=16, nc16=32, nc8=64, num_classes=10,
                 final_bn_batch_stats=True, planar_init='he'):
        super().__init__()
        name = type(self).__name__
        n = model_args.positive_int(name, 'num_blocks', num_blocks)
        widths = [model_args.positive_int(name, k, v)
                  for k, v in (('nc32', nc32), ('nc16', nc16), ('nc8', nc8))]
        ncls = model_args.positive_int(name, 'num_classes', num_classes)
        self.final_bn_batch_stats = model_args.flag(name, 'final_bn_batch_stats',
                                                    final_bn_batch_stats)
        self.planar_init = model_args.choice(name, 'planar_init', planar_init, PLANAR_INITS)
        blocks = []
        cin = widths[0]
        for stage, width in enumerate(widths):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(ResBlock2D(cin, width, conv=self.conv, stride=stride,
                                         **self._init_kwargs(self.conv)))
                cin = width
        with self.init_scope():
            self.conv1 = self.in_conv(3, widths[0], ksize=3, stride=1, pad=1,
                                      **self._init_kwargs(self.in_conv))
            self.blocks = chainer.ChainList(*blocks)
            self.bn_out = BatchNormalization(widths[-1])
            self.top = Convolution2D(widths[-1] * self.stabiliser, ncls, ksize=1,
                                     **self._init_kwargs(Convolution2D))

    def _init_kwargs(self, cls):
        """The release's wscale = sqrt(2) initialisation for a convolution class."""
        if issubclass(cls, chainer.links.Convolution2D):  # planar: Chainer's wscale rule
            if self.planar_init == 'he':
                return dict(initialW=chainer.initializers.HeNormal())
            return dict(initialW=chainer.initializers.LeCunNormal(scale=math.sqrt(WSCALE)))
        return dict(wscale=WSCALE)  # GrouPy: N(0, wscale / sqrt(fan_in))

    def logits(self, x):
        """Class scores (N, num_classes) for images x (N, 3, H, W)."""
        h = self.conv1(x)
        for block in self.blocks:
            h = block(h)
        bn = self.bn_out
        if self.final_bn_batch_stats and not chainer.config.train:
            h = batch_normalization(h, bn.gamma, bn.beta, eps=bn.eps)  # this batch's statistics
        else:
            h = bn(h)
        h = relu(h)
        if h.ndim == 5:  # (N, C, G, H, W): the release folds the stabiliser into the channels
            h = F.reshape(h, (h.shape[0], h.shape[1] * h.shape[2]) + h.shape[3:])
        h = self.top(F.mean(h, axis=(2, 3), keepdims=True))  # (N, num_classes, 1, 1)
        return F.reshape(h, h.shape[:2])

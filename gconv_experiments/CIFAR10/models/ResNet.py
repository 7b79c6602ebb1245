"""Pre-activation ResNet for CIFAR10 (He et al. 2016) on planar feature maps; also the shared
implementation of its G-version ``P4MResNet``.

    conv 3x3 (3 -> w1)
    stage 1: n residual blocks, w1 channels, 32x32
    stage 2: n residual blocks, w2 channels, the first with stride 2 (16x16)
    stage 3: n residual blocks, w3 channels, the first with stride 2 (8x8)
    BN -> ReLU -> global average pooling -> linear (w3 -> 10)

Depth 6n + 2 counts the convolutions plus the classifier: 44 -> n = 7, 26 -> n = 4. Blocks are
``gconv_experiments.residual_block_2d.ResBlock2D`` (BN-ReLU-conv-BN-ReLU-conv; a 1x1 projection
shortcut where the stage changes width and resolution, identity elsewhere).

Widths from Cohen & Welling's table: ResNet44 Z2 32/64/128 (2.64M parameters), ResNet26 Z2
71/142/284 (7.24M); ``--net_kwargs "{'depth': 26}"`` picks the latter, ``'widths'`` overrides.
In the G-version the global average runs over the stabiliser axis too, so the logits are
invariant to the stabiliser's transformations of the input (exactly for odd sizes at the
stride-2 layers, approximately on 32x32; see ``AllCNNC``).
"""
import chainer
import chainer.functions as F
import chainer.links as L

from gconv_experiments.residual_block_2d import ResBlock2D
from gconv_experiments.training import Classifier
from groupy.fast_cpu import BatchNormalization, Convolution2D  # Chainer's ops, faster on CPU


class ResNet(Classifier):
    """Pre-activation ResNet with three stages.

    Args:
        depth (int): 6n + 2 layers (n blocks per stage); 44 and 26 have default widths.
        widths (tuple of 3 ints or None): channels per stage; None for the depth's default.
        num_classes (int): outputs of the linear classifier.

    Shapes: x (N, 3, H, W) float32 -> logits (N, num_classes).
    """

    in_conv = Convolution2D  # maps the (N, 3, H, W) image to feature maps
    conv = Convolution2D     # feature maps -> feature maps
    default_widths = {44: (32, 64, 128), 26: (71, 142, 284)}

    def __init__(self, depth=44, widths=None, num_classes=10):
        super().__init__()
        if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
            raise ValueError(f'{type(self).__name__}: depth must be 6n + 2 with n >= 1 '
                             f'(e.g. 26, 44), got {depth!r}')
        if widths is None:
            if depth not in self.default_widths:
                raise ValueError(f'{type(self).__name__}: no default widths for depth {depth} '
                                 f'(have {sorted(self.default_widths)}); pass widths=(w1, w2, w3)')
            widths = self.default_widths[depth]
        if len(widths) != 3:
            raise ValueError(f'{type(self).__name__}: widths must be 3 ints, got {widths!r}')
        n = (depth - 2) // 6
        blocks = []
        cin = widths[0]
        for stage, width in enumerate(widths):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(ResBlock2D(cin, width, conv=self.conv, stride=stride))
                cin = width
        with self.init_scope():
            self.conv1 = self.in_conv(3, widths[0], ksize=3, stride=1, pad=1, nobias=True)
            self.blocks = chainer.ChainList(*blocks)
            self.bn_out = BatchNormalization(widths[-1])
            self.fc = L.Linear(widths[-1], num_classes)

    def logits(self, x):
        """Class scores (N, num_classes) for images x (N, 3, H, W)."""
        h = self.conv1(x)
        for block in self.blocks:
            h = block(h)
        h = F.relu(self.bn_out(h))
        # global average over the plane (and the stabiliser axis of G-feature maps)
        return self.fc(F.mean(h, axis=tuple(range(2, h.ndim))))

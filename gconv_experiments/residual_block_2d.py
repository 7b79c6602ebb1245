"""Pre-activation residual block (He et al., "Identity Mappings in Deep Residual Networks")
for planar and group feature maps.

    h   = relu(bn1(x))
    out = conv2(relu(bn2(conv1(h)))) + shortcut

``conv1`` has the block's stride; ``conv2`` has stride 1. The shortcut is ``x`` itself when the
block keeps the shape (same channels, stride 1, same kind of feature map), otherwise a linear
projection of the pre-activated input: a 1x1 convolution with the block's stride applied to
``h`` (no bias, no activation).

The convolutions are any link class with the keyword signature of
``chainer.links.Convolution2D`` / the G-convolutions of ``groupy.gconv.chainer_gconv``:
``cls(in_channels, out_channels, ksize=..., stride=..., pad=..., nobias=...)``.

* planar:  ``conv=L.Convolution2D``,     x (N, C, H, W)    -> (N, C', H', W')
* p4:      ``conv=P4ConvP4``,            x (N, C, 4, H, W) -> (N, C', 4, H', W')
* p4m:     ``conv=P4MConvP4M``,          x (N, C, 8, H, W) -> (N, C', 8, H', W')
* Z2 -> G: ``in_conv=P4ConvZ2`` (or ``P4MConvZ2``) for conv1 and the projection, ``conv`` for
  conv2; x (N, C, H, W) -> (N, C', G, H', W') (the shortcut is then always a projection).

Batch normalisation keeps one statistic per (G-)feature map (shared over the stabiliser axis,
as in ``gconv_experiments.conv_bn_act``), so a block built from equivariant convolutions is
itself equivariant: transforming x by a rotation/flip g transforms the output by g.
With ``pad = ksize // 2``, H' = ceil(H / stride).
"""
import chainer
import chainer.functions as F
import chainer.links as L

from gconv_experiments.conv_bn_act import ConvBNAct
from groupy.fast_cpu import BatchNormalization  # Chainer's ops, faster on CPU


class ResBlock2D(chainer.Chain):
    """Pre-activation residual block; see the module docstring.

    Args:
        in_channels (int): feature maps C of the input.
        out_channels (int): feature maps C' of the output.
        conv (type): convolution link class for conv2 (and conv1/projection unless ``in_conv``).
        in_conv (type or None): class for conv1 and the projection when the input is a
            different kind of feature map (e.g. ``P4ConvZ2`` on planar input); default ``conv``.
        ksize (int): kernel size of conv1 and conv2 (odd; padding ``ksize // 2``).
        stride (int): stride of conv1 and of the projection (2 to halve H and W).
        shortcut (str or None): 'identity', 'projection' or None (identity where the shape is
            kept, projection otherwise). 'identity' with a shape change is a ValueError.
        **conv_kwargs: further keywords for every convolution (e.g. ``initialW``, or
            ``dtype`` for the G-convolutions; batch normalisation follows
            ``chainer.config.dtype``).
    """

    def __init__(self, in_channels, out_channels, conv=L.Convolution2D, in_conv=None,
                 ksize=3, stride=1, shortcut=None, **conv_kwargs):
        super().__init__()
        for name, v in (('in_channels', in_channels), ('out_channels', out_channels),
                        ('ksize', ksize), ('stride', stride)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f'ResBlock2D: {name} must be a positive int, got {v!r}')
        if ksize % 2 == 0:
            raise ValueError(f'ResBlock2D: ksize must be odd (padding ksize // 2 keeps the '
                             f'centre), got {ksize}')
        if shortcut not in (None, 'identity', 'projection'):
            raise ValueError(f"ResBlock2D: shortcut must be None, 'identity' or 'projection', "
                             f'got {shortcut!r}')
        in_conv = conv if in_conv is None else in_conv
        same_shape = in_channels == out_channels and stride == 1 and in_conv is conv
        if shortcut is None:
            shortcut = 'identity' if same_shape else 'projection'
        elif shortcut == 'identity' and not same_shape:
            raise ValueError(
                f'ResBlock2D: identity shortcut needs the shape kept, but in_channels='
                f'{in_channels}, out_channels={out_channels}, stride={stride}'
                + ('' if in_conv is conv else f', input kind {in_conv.__name__}'))
        self.shortcut = shortcut
        self.out_channels = out_channels
        kw = conv_kwargs
        with self.init_scope():
            self.bn1 = BatchNormalization(in_channels)
            # conv1 -> bn2 -> relu is exactly a ConvBNAct
            self.conv1 = ConvBNAct(in_conv(in_channels, out_channels, ksize=ksize,
                                           stride=stride, pad=ksize // 2, nobias=True, **kw))
            self.conv2 = conv(out_channels, out_channels, ksize=ksize, stride=1,
                              pad=ksize // 2, nobias=True, **kw)
            if shortcut == 'projection':
                self.proj = in_conv(in_channels, out_channels, ksize=1, stride=stride, pad=0,
                                    nobias=True, **kw)

    def forward(self, x):
        h = F.relu(self.bn1(x))
        skip = self.proj(h) if self.shortcut == 'projection' else x
        return self.conv2(self.conv1(h)) + skip

"""Pre-activation residual block (He et al., "Identity Mappings in Deep Residual Networks") for
planar and group feature maps, as gconv_experiments/residual_block_2d.py of the release
(tscohen/gconv_experiments ca88c58) builds it:

    h   = conv1(relu(bn1(x)))            conv1: ksize, the block's stride, pad ksize // 2
    h   = conv2(relu(bn2(h)))            conv2: ksize, stride 1
    out = h + shortcut(x)

The shortcut is ``x`` itself ('identity') or, where the block changes the width or the
resolution, a 1x1 convolution with the block's stride applied to the block INPUT x ('linear',
the release's fiber_map='linear'). Every convolution has a bias (initially 0), as in the release.

The convolutions are any link class with the keyword signature of
``chainer.links.Convolution2D`` / the G-convolutions of ``groupy.gconv.chainer_gconv``:

* planar: ``conv=Convolution2D`` (groupy.fast_cpu), x (N, C, H, W)    -> (N, C', H', W')
* p4:     ``conv=P4ConvP4``,                        x (N, C, 4, H, W) -> (N, C', 4, H', W')
* p4m:    ``conv=P4MConvP4M``,                      x (N, C, 8, H, W) -> (N, C', 8, H', W')

Batch normalisation keeps one statistic per (G-)feature map (shared over the stabiliser axis,
as in ``gconv_experiments.conv_bn_act``), so a block of equivariant convolutions is itself
equivariant. With pad = ksize // 2, H' = ceil(H / stride).
"""
import chainer

from gconv_experiments.layers.conv_bn_act import ConvBNAct
from groupy.fast_cpu import BatchNormalization, Convolution2D, relu  # Chainer's ops, faster on CPU

__all__ = ["ResBlock2D"]


class ResBlock2D(chainer.Chain):
    """Pre-activation residual block; see the module docstring.

    Args:
        in_channels (int): feature maps C of the input.
        out_channels (int): feature maps C' of the output.
        conv (type): convolution link class of conv1, conv2 and the linear shortcut.
        ksize (int): kernel size of conv1 and conv2 (odd; padding ksize // 2).
        stride (int): stride of conv1 and of the linear shortcut (2 halves H and W).
        shortcut (str or None): 'identity', 'linear' or None (identity where the shape is
            kept, linear otherwise). 'identity' with a shape change is a ValueError.
        **conv_kwargs: further keywords for every convolution (``initialW`` for planar
            convolutions, ``wscale`` for G-convolutions, ``dtype``, ...).
    """

    def __init__(self, in_channels: int, out_channels: int, conv: type = Convolution2D, ksize: int = 3,
                 stride: int = 1, shortcut: "str | None" = None, **conv_kwargs) -> None:
        super().__init__()
        for name, v in (('in_channels', in_channels), ('out_channels', out_channels),
                        ('ksize', ksize), ('stride', stride)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f'ResBlock2D: {name} must be a positive int, got {v!r}')
        if ksize % 2 == 0:
            raise ValueError(f'ResBlock2D: ksize must be odd (padding ksize // 2 keeps the '
                             f'centre), got {ksize}')
        if shortcut not in (None, 'identity', 'linear'):
            raise ValueError(f"ResBlock2D: shortcut must be None, 'identity' or 'linear', "
                             f'got {shortcut!r}')
        same_shape = in_channels == out_channels and stride == 1
        if shortcut is None:
            shortcut = 'identity' if same_shape else 'linear'
        elif shortcut == 'identity' and not same_shape:
            raise ValueError(
                f'ResBlock2D: identity shortcut needs the shape kept, but in_channels='
                f'{in_channels}, out_channels={out_channels}, stride={stride}')
        self.shortcut = shortcut
        self.out_channels = out_channels
        kw = conv_kwargs
        with self.init_scope():
            self.bn1 = BatchNormalization(in_channels)
            # conv1 -> bn2 -> relu is exactly a ConvBNAct
            self.conv1 = ConvBNAct(conv(in_channels, out_channels, ksize=ksize, stride=stride,
                                        pad=ksize // 2, **kw))
            self.conv2 = conv(out_channels, out_channels, ksize=ksize, stride=1,
                              pad=ksize // 2, **kw)
            if shortcut == 'linear':
                self.fiber_map = conv(in_channels, out_channels, ksize=1, stride=stride, pad=0, **kw)

    def forward(self, x) -> chainer.Variable:
        h = self.conv2(self.conv1(relu(self.bn1(x))))
        return h + (self.fiber_map(x) if self.shortcut == 'linear' else x)

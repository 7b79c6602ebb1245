"""Convolution -> batch normalisation -> activation, the building block of every model here.

`ConvBNAct` wraps any convolution link: a plain `chainer.links.Convolution2D` producing planar
feature maps (N, C, H, W), or a G-convolution (`P4ConvZ2`, `P4ConvP4`, `P4MConvZ2`, ...)
producing G-feature maps (N, C, G, H, W) with G = 4 (p4) or 8 (p4m) stabiliser channels.

Batch normalisation keeps ONE mean/variance/gamma/beta per feature map C. On a G-feature map the
statistics are pooled over the batch, the stabiliser axis and the plane, i.e. over axes
(0, 2, 3, 4). Normalising each of the G orientation channels separately would break
equivariance (a rotated input permutes the G channels, so it must see the same statistics);
sharing them keeps `ConvBNAct` exactly as equivariant as its convolution.

The mode follows `chainer.config.train`: batch statistics (and running-average updates) in
training, the running averages in test mode. With groupy's compiled kernels switched on
(``GROUPY_FAST_CPU_NUMBA=1``), BN followed by groupy's ReLU runs as one node
(`BatchNormalization.forward_relu`), except where the BN link must be called as a link: while a
link hook is registered (e.g. the BN re-estimation pass) or when the BN link has been replaced
(e.g. by a synchronised multi-process BN).
"""
import chainer

from groupy.fast_cpu import BatchNormalization, relu  # Chainer's ops, faster on CPU

__all__ = ["ConvBNAct"]


class ConvBNAct(chainer.Chain):
    """conv(x) -> BatchNormalization (per feature map) -> act.

    Args:
        conv (chainer.Link): the convolution. It must expose `out_channels` (the number of
            feature maps C it produces); `L.Convolution2D` and the G-conv links do.
        bn (bool): whether to batch-normalise the convolution's output.
        act (callable or None): the activation applied last; None for none.

    Shapes: x -> conv -> (N, C, H, W) or (N, C, G, H, W); the output has the same shape.
    """

    def __init__(self, conv: chainer.Link, bn: bool = True, act=relu) -> None:
        super().__init__()
        if not isinstance(conv, chainer.Link):
            raise TypeError(f"ConvBNAct: conv must be a chainer.Link, got {type(conv).__name__}")
        if act is not None and not callable(act):
            raise TypeError(f"ConvBNAct: act must be callable or None, got {type(act).__name__}")
        self.act = act
        with self.init_scope():
            self.conv = conv
            if bn:
                channels = getattr(conv, "out_channels", None)
                if not isinstance(channels, int) or channels <= 0:
                    raise TypeError(
                        f"ConvBNAct: {type(conv).__name__} has no positive integer "
                        f"'out_channels' attribute; batch normalisation needs the channel count")
                # With axis=None chainer reduces over every axis except axis 1, so a 5-D
                # G-feature map (N, C, G, H, W) shares statistics over G as required.
                self.bn = BatchNormalization(channels)  # L.BatchNormalization, faster on CPU
            else:
                self.bn = None

    def _fused_bn_relu(self) -> bool:
        """Whether BN + ReLU may run as one node: kernels on, groupy's own BN and ReLU, no hooks."""
        return (getattr(chainer.config, "groupy_fast_cpu_numba", False) and self.act is relu
                and type(self.bn) is BatchNormalization and not self.bn.local_link_hooks
                and not self.local_link_hooks and not chainer._get_link_hooks())

    def forward(self, x) -> chainer.Variable:
        h = self.conv(x)
        if self.bn is not None and self._fused_bn_relu():
            return self.bn.forward_relu(h)
        if self.bn is not None:
            h = self.bn(h)
        if self.act is not None:
            h = self.act(h)
        return h

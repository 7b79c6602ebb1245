"""The conditional (projection) discriminator of the rotated-MNIST GAN, for the groups z2, p4
and p4m (the 'rotmnist' discriminators of Dey, Chen & Ghafurian, ICLR 2021).

Three blocks of spectrally normalised 3x3 convolution (z2) or G-convolution (p4: P4ConvZ2 then
P4ConvP4; p4m: P4MConvZ2 then P4MConvP4M) with a bias per G-channel, LeakyReLU(0.2) and 2x2
average pooling (28 -> 14 -> 7); for p4/p4m a max over the stabiliser; global average pooling
to a feature vector phi (N, C); the output ``w . phi + b + <embed(y), phi>`` (a spectrally
normalised linear map plus the projection on a label embedding, Miyato & Koyama 2018).

Widths: ``ch, 2 ch, 4 ch`` channels for z2 (Dey et al.: ch = 128), and ``g_channels`` of these
(``ch / sqrt(|H|)``: half for p4) G-channels for p4/p4m.

One departure: Dey et al. average-pool after the third block as well (7 -> 3, dropping the last
row and column) before the global average; here the third block is not pooled, so the global
average covers the whole 7x7 map. On square inputs of even size (28) every step is then exactly
equivariant, and the p4 (p4m) discriminator is exactly invariant under rotations by multiples of
90 degrees (and flips) of its input.
"""
from __future__ import annotations

import chainer
import chainer.functions as F
import chainer.links as L

from gconv_experiments.GAN.leaky_relu import leaky_relu
from gconv_experiments.GAN.group_layers import (
    conv3x3, g_channels, spectral_norm, stabiliser_max, stabiliser_size)

__all__ = ["Discriminator"]


class Discriminator(chainer.Chain):
    """D(x, y): images x (N, in_channels, H, W) (H = W, even: 28 for MNIST), labels y int32
    (N,) in [0, n_classes) -> logits (N,).

    Args:
        group: 'z2', 'p4' or 'p4m'.
        ch: width of the first z2 block (the blocks have ch, 2 ch, 4 ch; G-blocks have
            ``g_channels`` of these).
        n_classes, in_channels: of the images.
        sn: spectral normalisation of every convolution and of the output layer.

    >>> import numpy
    >>> d = Discriminator('p4', ch=4)
    >>> d.widths
    (2, 4, 8)
    >>> d(numpy.zeros((3, 1, 28, 28), numpy.float32), numpy.array([0, 1, 2], numpy.int32)).shape
    (3,)
    """

    def __init__(self, group: str = "z2", ch: int = 128, n_classes: int = 10,
                 in_channels: int = 1, sn: bool = True):
        super().__init__()
        self.group, self.n_classes, self.in_channels = group, n_classes, in_channels
        self.nis = stabiliser_size(group)
        if not isinstance(ch, int) or ch < 1:
            raise ValueError(f"Discriminator: ch must be a positive int, got {ch!r}")
        self.widths = tuple(g_channels(c, group) for c in (ch, 2 * ch, 4 * ch))
        init = chainer.initializers.Orthogonal(scale=1.0, dtype=chainer.get_dtype())
        with self.init_scope():
            self.conv0 = conv3x3(group, in_channels, self.widths[0], first=True, sn=sn)
            self.conv1 = conv3x3(group, self.widths[0], self.widths[1], first=False, sn=sn)
            self.conv2 = conv3x3(group, self.widths[1], self.widths[2], first=False, sn=sn)
            self.embed = L.EmbedID(n_classes, self.widths[2], initialW=init)
            self.out = spectral_norm(L.Linear(self.widths[2], 1, initialW=init), sn)

    def _check(self, x, y):
        shape = tuple(x.shape)
        if len(shape) != 4 or shape[1] != self.in_channels or shape[2] != shape[3]:
            raise ValueError(f"Discriminator: expected images (N, {self.in_channels}, H, H), "
                             f"got shape {shape}")
        if tuple(y.shape) != shape[:1] or y.dtype.kind not in "iu":
            raise ValueError(f"Discriminator: expected integer labels of shape ({shape[0]},), got "
                             f"{y.dtype} {tuple(y.shape)}")

    def features(self, x) -> chainer.Variable:
        """phi (N, 4 ch'): the pooled features of images x (N, in_channels, H, H)."""
        h = x
        for i, conv in enumerate((self.conv0, self.conv1, self.conv2)):
            h = leaky_relu(conv(h), 0.2)
            if i < 2:
                h = F.average_pooling_2d(h, 2)
        h = stabiliser_max(h, self.group)
        return F.mean(h, axis=(2, 3))

    def forward(self, x, y) -> chainer.Variable:
        """Logits (N,) of images x (N, in_channels, H, H) with labels y (N,)."""
        self._check(x, y)
        phi = self.features(x)
        projection = F.sum(self.embed(y) * phi, axis=1)
        return F.reshape(self.out(phi), (-1,)) + projection

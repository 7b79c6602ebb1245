"""The conditional generator of the rotated-MNIST GAN, for the groups z2 and p4 (the 'rotmnist'
generators of Dey, Chen & Ghafurian, ICLR 2021).

The conditioning vector is c = [z, embed(y)] (noise z (N, latent_dim), a learnt label
embedding of embed_dim). A spectrally normalised linear map sends c to ch x 7 x 7 maps; then

* conv0: 3x3 convolution (p4: P4ConvZ2) to 4 ch channels, bias, ReLU;
* x2 nearest upsampling, conv1 to 2 ch channels (no bias), batch normalisation with
  conditional scale and shift, ReLU (14 x 14);
* x2 nearest upsampling, conv2 to ch channels, the same normalisation, ReLU (28 x 28);
* conv_out to ``out_channels`` (no bias); for p4 the max over the 4 rotations; tanh.

Every convolution and linear map is spectrally normalised, except the label embedding (as Dey
et al., whose generators collapse with it). p4 layers have half the G-channels of the z2 layer
they stand for (``g_channels``), the normalisation has one mean/variance and one conditional
(1 + gamma, beta) per G-channel, shared over the rotations; its running statistics (decay 0.1,
as Dey et al.'s Keras momentum 0.1) are what test mode uses. Like Dey et al., the scale and
shift are functions of the whole conditioning vector c (noise and label embedding).
"""
from __future__ import annotations

import numpy

import chainer
import chainer.functions as F
import chainer.links as L

from gconv_experiments.GAN.group_layers import (
    ConditionalGroupBatchNorm, conv3x3, g_channels, spectral_norm, stabiliser_max,
    stabiliser_size)

__all__ = ["Generator"]

_GROUPS = ("z2", "p4")


class Generator(chainer.Chain):
    """G(z, y): noise z (N, latent_dim), labels y int32 (N,) -> images (N, out_channels, 28, 28)
    in (-1, 1).

    Args:
        group: 'z2' or 'p4'.
        ch: width of the last z2 block (the blocks have 4 ch, 2 ch, ch; Dey et al.: ch = 128);
            also the channels of the 7 x 7 projection.
        n_classes, latent_dim, embed_dim: of the conditioning (Dey et al.: 10, 128, 64).
        out_channels: image channels.
        sn: spectral normalisation.

    >>> import numpy
    >>> g = Generator('p4', ch=4, latent_dim=8, embed_dim=4)
    >>> g.widths
    (8, 4, 2)
    >>> z = numpy.zeros((2, 8), numpy.float32)
    >>> g(z, numpy.array([3, 7], numpy.int32)).shape
    (2, 1, 28, 28)
    """

    def __init__(self, group: str = "z2", ch: int = 128, n_classes: int = 10,
                 latent_dim: int = 128, embed_dim: int = 64, out_channels: int = 1,
                 sn: bool = True):
        super().__init__()
        if group not in _GROUPS:
            raise ValueError(f"Generator: group must be one of {', '.join(_GROUPS)}, got {group!r}")
        for name, value in (("ch", ch), ("latent_dim", latent_dim), ("embed_dim", embed_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Generator: {name} must be a positive int, got {value!r}")
        self.group, self.nis, self.ch = group, stabiliser_size(group), ch
        self.n_classes, self.latent_dim, self.out_channels = n_classes, latent_dim, out_channels
        self.widths = tuple(g_channels(c, group) for c in (4 * ch, 2 * ch, ch))
        cond = latent_dim + embed_dim
        dtype = chainer.get_dtype()
        init = chainer.initializers.Orthogonal(scale=1.0, dtype=dtype)
        w0, w1, w2 = self.widths
        with self.init_scope():
            self.embed = L.EmbedID(n_classes, embed_dim, initialW=chainer.initializers.Normal(1.0))
            self.linear = spectral_norm(L.Linear(cond, ch * 7 * 7, initialW=init), sn)
            self.conv0 = conv3x3(group, ch, w0, first=True, sn=sn)
            self.conv1 = conv3x3(group, w0, w1, first=False, nobias=True, sn=sn)
            self.bn1 = ConditionalGroupBatchNorm(w1, self.nis, cond, sn=sn)
            self.conv2 = conv3x3(group, w1, w2, first=False, nobias=True, sn=sn)
            self.bn2 = ConditionalGroupBatchNorm(w2, self.nis, cond, sn=sn)
            self.conv_out = conv3x3(group, w2, out_channels, first=False, nobias=True, sn=sn)

    def forward(self, z, y) -> chainer.Variable:
        """Images (N, out_channels, 28, 28) in (-1, 1) of noise z (N, latent_dim), labels y."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"Generator: expected noise (N, {self.latent_dim}), got shape "
                             f"{tuple(z.shape)}")
        if tuple(y.shape) != (z.shape[0],) or y.dtype.kind not in "iu":
            raise ValueError(f"Generator: expected integer labels of shape ({z.shape[0]},), got "
                             f"{y.dtype} {tuple(y.shape)}")
        c = F.concat((z, self.embed(y)), axis=1)
        h = F.reshape(self.linear(c), (z.shape[0], self.ch, 7, 7))
        h = F.relu(self.conv0(h))
        h = F.unpooling_2d(h, 2, cover_all=False)
        h = F.relu(self.bn1(self.conv1(h), c))
        h = F.unpooling_2d(h, 2, cover_all=False)
        h = F.relu(self.bn2(self.conv2(h), c))
        h = stabiliser_max(self.conv_out(h), self.group)
        return F.tanh(h)

    def sample(self, labels: numpy.ndarray, rng: numpy.random.Generator,
               batchsize: int = 500) -> numpy.ndarray:
        """Images float32 (len(labels), out_channels, 28, 28) in [0, 1] for ``labels``, noise
        from ``rng``, in test mode (running BN statistics), on the CPU."""
        labels = numpy.asarray(labels, numpy.int32)
        out = []
        with chainer.using_config("train", False), chainer.no_backprop_mode():
            for i in range(0, len(labels), batchsize):
                y = labels[i:i + batchsize]
                z = rng.standard_normal((len(y), self.latent_dim)).astype(self.linear.W.dtype)
                x = self(self.device.send(z), self.device.send(y)).array
                out.append(numpy.asarray(chainer.backend.CpuDevice().send(x)))
        if not out:
            return numpy.zeros((0, self.out_channels, 28, 28), numpy.float32)
        return ((numpy.concatenate(out) + 1) / 2).astype(numpy.float32)

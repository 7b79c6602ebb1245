"""Layers the GAN models share, for the groups 'z2', 'p4' and 'p4m'.

Feature maps are kept *flat*: a p4 map of C G-channels is (N, C * 4, H, W), a p4m map
(N, C * 8, H, W), the stabiliser folded into the channel axis with the G-channel major (the
layout of ``flat_channels=True`` in :mod:`groupy.gconv.chainer_gconv`). Spatial pooling and
upsampling then act on every orientation plane alike, which keeps them equivariant.

* :func:`g_channels`: the width rule of Dey et al. (2021): a G-layer gets ``c / sqrt(|H|)``
  G-channels where the Z2 layer has ``c``, which keeps the parameter count close (p4: c // 2,
  p4m: int(c // sqrt(8))).
* :func:`conv3x3`: a spectrally normalised 3x3 'same' convolution (Z2) or G-convolution
  (P4ConvZ2 / P4ConvP4, P4MConvZ2 / P4MConvP4M).
* :func:`stabiliser_max`: ``(N, C * |H|, H, W) -> (N, C, H, W)``, the max over the stabiliser.
* :class:`ConditionalGroupBatchNorm`: batch normalisation whose statistics are shared over the
  stabiliser (one mean and variance per G-channel), then a conditional scale and shift
  ``(1 + gamma(c)) * x + beta(c)`` per G-channel.
"""
from __future__ import annotations

import math

import numpy

import chainer
import chainer.functions as F
import chainer.link_hooks
import chainer.links as L

from groupy.fast_cpu import Convolution2D, batch_normalization
from groupy.gconv.chainer_gconv import P4ConvP4, P4ConvZ2, P4MConvP4M, P4MConvZ2

__all__ = ["GROUPS", "stabiliser_size", "g_channels", "spectral_norm", "conv3x3",
           "stabiliser_max", "ConditionalGroupBatchNorm"]

#: the groups and the size of their stabiliser (rotations / roto-reflections about a point)
GROUPS = {"z2": 1, "p4": 4, "p4m": 8}
_GCONVS = {"p4": (P4ConvZ2, P4ConvP4), "p4m": (P4MConvZ2, P4MConvP4M)}


def stabiliser_size(group: str) -> int:
    """The stabiliser size ``|H|`` of ``group`` ('z2' 1, 'p4' 4, 'p4m' 8); ValueError naming
    the value otherwise.

    >>> stabiliser_size('p4m')
    8
    """
    if group not in GROUPS:
        raise ValueError(f"group must be one of {', '.join(GROUPS)}, got {group!r}")
    return GROUPS[group]


def g_channels(z2_channels: int, group: str) -> int:
    """G-channels of a ``group`` layer standing for a Z2 layer of ``z2_channels`` channels:
    ``z2_channels / sqrt(|H|)`` rounded down (at least 1), as Dey et al. scale their models.

    >>> [g_channels(128, g) for g in ('z2', 'p4', 'p4m')]
    [128, 64, 45]
    """
    n = stabiliser_size(group)
    return max(1, int(z2_channels // math.sqrt(n)))


def spectral_norm(link: chainer.Link, enabled: bool = True) -> chainer.Link:
    """Attach :class:`chainer.link_hooks.SpectralNormalization` (one power iteration per
    training-mode call) to ``link`` and return it. The hook divides ``W`` by the largest singular
    value of ``W`` reshaped to (out, -1), so it fits the 5-D ``W`` (out, in, nis, k, k) of a
    G-convolution as well; its vector ``W_u`` (out,) is a persistent of the link, so it is
    saved and restored with the link by Chainer's serializers.

    >>> l = spectral_norm(L.Linear(3, 2))
    >>> l.W_u.shape
    (2,)
    """
    if enabled:
        link.add_hook(chainer.link_hooks.SpectralNormalization())
    return link


def conv3x3(group: str, in_channels: int, out_channels: int, first: bool,
            nobias: bool = False, sn: bool = True) -> chainer.Link:
    """A 3x3 convolution with pad 1 of ``group`` ('z2': Z2 -> Z2; 'p4'/'p4m': from Z2 maps if
    ``first`` else from G-maps), orthogonal initial weights, spectrally normalised when ``sn``.
    Flat maps in and out: (N, in * nis, H, W) -> (N, out * nos, H, W).

    >>> c = conv3x3('p4', 1, 2, first=True)
    >>> c(numpy.zeros((5, 1, 8, 8), numpy.float32)).shape
    (5, 8, 8, 8)
    """
    stabiliser_size(group)
    dtype = chainer.get_dtype()
    init = chainer.initializers.Orthogonal(scale=1.0, dtype=dtype)
    if group == "z2":
        link = Convolution2D(in_channels, out_channels, 3, pad=1, nobias=nobias, initialW=init)
    else:
        cls = _GCONVS[group][0 if first else 1]
        link = cls(in_channels, out_channels, 3, pad=1, nobias=nobias, initialW=init,
                   flat_channels=True, dtype=dtype)
    return spectral_norm(link, sn)


def stabiliser_max(h: chainer.Variable, group: str) -> chainer.Variable:
    """Max over the stabiliser of flat maps: ``(N, C * |H|, H, W) -> (N, C, H, W)`` (identity for
    'z2'): the pooled maps transform like Z2 maps.

    >>> stabiliser_max(numpy.arange(8.).reshape(1, 4, 1, 2), 'p4').array.ravel().tolist()
    [6.0, 7.0]
    """
    n = stabiliser_size(group)
    if n == 1:
        return chainer.as_variable(h)
    b, cn, height, width = h.shape
    if cn % n:
        raise ValueError(f"stabiliser_max: {cn} channels is not a multiple of |H| = {n}")
    return F.max(F.reshape(h, (b, cn // n, n, height, width)), axis=2)


class ConditionalGroupBatchNorm(chainer.Chain):
    """Batch normalisation with one mean/variance per G-channel (shared over the ``nis``
    stabiliser planes and the pixels), no learnt affine part, followed by the conditional
    affine map ``(1 + gamma) * x + beta`` with gamma, beta (N, channels) spectrally normalised
    linear functions of a conditioning vector c (N, cond_dim).

    Args:
        channels: G-channels C; the input is (N, C * nis, H, W).
        nis: stabiliser size of the maps (1 for Z2).
        cond_dim: length of the conditioning vector.
        decay, eps: of the running statistics (test mode) and the variance.
        sn: spectral normalisation of the two linear maps.

    >>> bn = ConditionalGroupBatchNorm(2, 4, 3)
    >>> bn(numpy.ones((5, 8, 6, 6), numpy.float32), numpy.ones((5, 3), numpy.float32)).shape
    (5, 8, 6, 6)
    """

    def __init__(self, channels: int, nis: int, cond_dim: int, decay: float = 0.1,
                 eps: float = 1e-3, sn: bool = True):
        super().__init__()
        self.channels, self.nis, self.decay, self.eps = channels, nis, decay, eps
        dtype = chainer.get_dtype()
        init = chainer.initializers.Orthogonal(scale=1.0, dtype=dtype)
        with self.init_scope():
            self.gamma = spectral_norm(L.Linear(cond_dim, channels, initialW=init), sn)
            self.beta = spectral_norm(L.Linear(cond_dim, channels, initialW=init), sn)
        self.add_persistent("avg_mean", numpy.zeros(channels, dtype))
        self.add_persistent("avg_var", numpy.ones(channels, dtype))
        self.add_persistent("N", 0)

    def forward(self, x, c):
        b, cn, height, width = x.shape
        if cn != self.channels * self.nis:
            raise ValueError(f"ConditionalGroupBatchNorm: expected {self.channels} x {self.nis} "
                             f"channels, got {cn}")
        h = F.reshape(x, (b, self.channels, self.nis * height, width))
        one = self.xp.ones(self.channels, dtype=h.dtype)
        zero = self.xp.zeros(self.channels, dtype=h.dtype)
        if chainer.config.train:
            self.N += 1
            h = batch_normalization(h, one, zero, eps=self.eps, running_mean=self.avg_mean,
                                    running_var=self.avg_var, decay=self.decay)
        else:
            h = F.fixed_batch_normalization(h, one, zero, self.avg_mean, self.avg_var, self.eps)
        gamma = F.reshape(self.gamma(c), (b, self.channels, 1, 1))
        beta = F.reshape(self.beta(c), (b, self.channels, 1, 1))
        h = F.broadcast_to(1 + gamma, h.shape) * h + F.broadcast_to(beta, h.shape)
        return F.reshape(h, (b, cn, height, width))

"""A cheaper CPU dropout for Chainer, a drop-in for :func:`chainer.functions.dropout`.

Chainer draws the CPU dropout mask as float64 uniforms (``numpy.random.rand``), eight random
bytes per element from numpy's global RNG; most of its time goes there. Here each call draws ONE
seed from the global RNG (``numpy.random.randint``) and takes the mask's 16-bit integers from a
PCG64 generator with that seed (raw 64-bit output cut into four 16-bit draws, 2-3x faster than
the global RNG). Seeding ``numpy.random`` or saving/restoring its state therefore reproduces the
masks exactly, as with Chainer's dropout (on machines of the same byte order). An element is
kept when its integer is >= ``round(ratio * 2**16)``: the drop probability is ``ratio`` rounded to
a multiple of 2**-16 (off by at most 7.7e-6), and kept elements are scaled by the inverse of the
exact keep probability, so E[y] = x still holds.

Only the mask generation changes: :class:`Dropout` is Chainer's Dropout FunctionNode (its
``DropoutGrad`` backward gives exact gradients of any order). The fast mask is used for NumPy
float32/float64 inputs in training mode while the fast CPU paths are on
(:mod:`groupy.fast_cpu.switch`); everything else is Chainer's dropout.
"""
import numpy

import chainer
from chainer.functions.noise import dropout as _dropout

from groupy.fast_cpu.switch import fast_cpu_enabled

__all__ = ['Dropout', 'dropout', 'keep_mask', 'uint16_draws']

_LEVELS = 1 << 16


def _threshold(ratio):
    return int(round(ratio * _LEVELS))


def uint16_draws(shape):
    """Uniform 16-bit integers of ``shape`` from a PCG64 generator seeded by one draw of numpy's
    global RNG."""
    size = int(numpy.prod(shape, dtype=numpy.int64))
    seed = numpy.random.randint(0, numpy.iinfo(numpy.int64).max, dtype=numpy.int64)
    raw = numpy.random.PCG64(seed).random_raw(-(-size // 4))
    return raw.view(numpy.uint16)[:size].reshape(shape)


def keep_mask(shape, ratio, dtype):
    """A dropout mask (``shape``, ``dtype``): 0 where dropped, 1 / keep probability where kept."""
    threshold = _threshold(ratio)
    scale = _LEVELS / (_LEVELS - threshold)
    mask = numpy.greater_equal(uint16_draws(shape), threshold).astype(dtype)
    mask *= dtype.type(scale)
    return mask


class Dropout(_dropout.Dropout):
    """Chainer's Dropout node with the 16-bit mask of :func:`keep_mask` on NumPy arrays."""

    def forward_cpu(self, inputs):
        x, = inputs
        if self.mask is None:
            self.mask = keep_mask(x.shape, self.dropout_ratio, x.dtype)
        return x * self.mask,


def dropout(x, ratio=.5, **kwargs):
    """Drops elements of x with probability ``ratio`` and scales the rest, in training mode;
    returns x unchanged in test mode or for ``ratio == 0``. Arguments and results as
    :func:`chainer.functions.dropout` (``mask=``, ``return_mask=`` go to Chainer's)."""
    if (kwargs or not (chainer.config.train and fast_cpu_enabled(x))
            or not 0 < _threshold(ratio) < _LEVELS):
        return chainer.functions.dropout(x, ratio, **kwargs)
    return Dropout(ratio).apply((x,))[0]

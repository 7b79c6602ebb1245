"""A cheaper CPU dropout for Chainer, a drop-in for :func:`chainer.functions.dropout`.

Chainer draws the CPU dropout mask as float64 uniforms (``numpy.random.rand``), eight random
bytes per element; most of its time goes there. Here the mask comes from 16-bit integers drawn
from the same global NumPy RNG (``numpy.random.randint(0, 2**16, dtype=uint16)``, one draw per
element, every call), so seeding ``numpy.random`` and saving/restoring its state reproduce the
masks exactly as before. An element is kept when its integer is >= ``round(ratio * 2**16)``: the
drop probability is ``ratio`` rounded to a multiple of 2**-16 (off by at most 7.7e-6), and
kept elements are scaled by the inverse of the exact keep probability, so E[y] = x still holds.

Only the mask generation changes: :class:`Dropout` is Chainer's Dropout FunctionNode (its
``DropoutGrad`` backward gives exact gradients of any order). The fast mask is used for NumPy
float32/float64 inputs in training mode while the fast CPU paths are on
(:mod:`groupy.gconv.chainer_gconv.fast_cpu`); everything else is Chainer's dropout.
"""
import numpy

import chainer
from chainer.functions.noise import dropout as _dropout

from groupy.gconv.chainer_gconv.fast_cpu import fast_cpu_enabled

_LEVELS = 1 << 16


def _threshold(ratio):
    return int(round(ratio * _LEVELS))


def keep_mask(shape, ratio, dtype):
    """A dropout mask (``shape``, ``dtype``): 0 where dropped, 1 / keep probability where kept,
    drawn from numpy's global RNG."""
    threshold = _threshold(ratio)
    scale = _LEVELS / (_LEVELS - threshold)
    draws = numpy.random.randint(0, _LEVELS, size=shape, dtype=numpy.uint16)
    mask = numpy.greater_equal(draws, threshold).astype(dtype)
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

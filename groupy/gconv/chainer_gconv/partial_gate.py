"""Hard 0/1 gates sampled from a relaxed Bernoulli distribution, with a straight-through
gradient: the gate of the partial G-convolutions (:mod:`~groupy.gconv.chainer_gconv.partial`).

A gate with logit ``a`` at temperature ``T`` is drawn as follows (the binary Concrete, or
relaxed Bernoulli, distribution of Maddison, Mnih & Teh 2017 and Jang, Gu & Poole 2017):

    u ~ Uniform(0, 1),   L = log u - log(1 - u)   (standard logistic noise),
    soft = sigmoid((a + L) / T),   hard = 1 if a + L > 0 else 0.

``hard`` is exactly a Bernoulli(sigmoid(a)) sample, whatever ``T``; ``soft`` is its smooth
relaxation, which tends to ``hard`` as ``T`` -> 0. The straight-through estimator returns
``hard`` in the forward pass and differentiates ``soft`` in the backward pass:
``d gate / d a = soft * (1 - soft) / T``.

The noise comes from the random state of the array module of the logits (``numpy.random`` or
``cupy.random``), so a training run seeded through those is reproducible.

>>> import numpy
>>> numpy.random.seed(0)
>>> a = chainer.Variable(numpy.array([8.0, -8.0], numpy.float32))
>>> g = relaxed_bernoulli_gate(a, temperature=0.5)
>>> g.array
array([1., 0.], dtype=float32)
>>> g.grad = numpy.ones(2, numpy.float32); g.backward()
>>> bool((a.grad >= 0).all())
True
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy

import chainer
from chainer import functions as F
from chainer.utils import type_check

__all__ = ['StraightThrough', 'straight_through', 'logistic_noise', 'relaxed_bernoulli_gate']

#: the uniform draws are clipped to [EPS, 1 - EPS] so that the logistic noise stays finite
EPS = 1e-6


class StraightThrough(chainer.function_node.FunctionNode):
    """y = hard (a constant given to the forward pass); dy/dsoft = identity.

    Inputs: ``soft`` (float array, differentiated) and ``hard`` (array of the same shape and
    dtype, not differentiated)."""

    def check_type_forward(self, in_types):
        type_check._argname(in_types, ('soft', 'hard'))
        soft, hard = in_types
        type_check.expect(soft.dtype.kind == 'f', hard.dtype == soft.dtype,
                          hard.shape == soft.shape)

    def forward(self, inputs):
        return inputs[1].copy(),

    def backward(self, indexes, grad_outputs):
        return grad_outputs[0], None


def straight_through(soft, hard):
    """``hard`` in the forward pass, the gradient of ``soft`` in the backward pass."""
    return StraightThrough().apply((soft, hard))[0]


def logistic_noise(xp, shape: Tuple[int, ...], dtype) -> numpy.ndarray:
    """Standard logistic noise log u - log(1 - u), u uniform in [EPS, 1 - EPS], drawn from
    ``xp.random`` (numpy or cupy), as an array of ``shape`` and ``dtype``."""
    u = xp.random.uniform(EPS, 1.0 - EPS, size=shape)
    return (xp.log(u) - xp.log1p(-u)).astype(dtype)


def relaxed_bernoulli_gate(logits, temperature: float, noise: Optional[numpy.ndarray] = None):
    """Hard Bernoulli(sigmoid(logits)) gates with the straight-through relaxed gradient.

    Args:
        logits (Variable or array): gate logits (any shape, float).
        temperature (float): the relaxation temperature T > 0.
        noise (array or None): the logistic noise L (same shape and array module as
            ``logits``); drawn with :func:`logistic_noise` if None.

    Returns:
        Variable of 0/1 values, the dtype and shape of ``logits``.
    """
    temperature = float(temperature)
    if not temperature > 0:
        raise ValueError('relaxed_bernoulli_gate: temperature must be > 0, got {!r}'.format(
            temperature))
    logits = chainer.as_variable(logits)
    xp = chainer.backend.get_array_module(logits.array)
    if noise is None:
        noise = logistic_noise(xp, logits.shape, logits.dtype)
    elif tuple(noise.shape) != tuple(logits.shape):
        raise ValueError('relaxed_bernoulli_gate: noise must have the shape of the logits {}, '
                         'got {}'.format(logits.shape, noise.shape))
    z = logits + noise.astype(logits.dtype, copy=False)
    soft = F.sigmoid(z * (1.0 / temperature))
    hard = (z.array > 0).astype(logits.dtype)
    return straight_through(soft, hard)

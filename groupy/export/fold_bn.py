"""Folding test-mode batch normalisation into the convolution or linear layer before it.

In test mode ``bn(y) = (y - mean) * s + beta`` with ``s = gamma / sqrt(var + eps)``, per
channel; for ``y = conv(x, W) + b`` this is ``conv(x, W * s) + (b - mean) * s + beta`` (W scaled
per output channel). The fold is exact up to float rounding; it is computed in float64 and
cast to the layer's dtype.
"""
import numpy

import chainer.links as L

from groupy.fast_cpu import Convolution2D

__all__ = ['fold_batch_norms', 'folded_parameters']


def folded_parameters(W, b, gamma, beta, mean, var, eps):
    """(W', b') with ``layer(x, W', b') == bn(layer(x, W, b))``; W (out, ...), b (out,) or
    None, the BN arrays (out,)."""
    s = numpy.asarray(gamma, numpy.float64) / numpy.sqrt(numpy.asarray(var, numpy.float64) + eps)
    b0 = numpy.zeros(W.shape[0]) if b is None else numpy.asarray(b, numpy.float64)
    w = numpy.asarray(W, numpy.float64) * s.reshape((-1,) + (1,) * (W.ndim - 1))
    bias = (b0 - numpy.asarray(mean, numpy.float64)) * s + numpy.asarray(beta, numpy.float64)
    return w.astype(W.dtype), bias.astype(W.dtype)


def _fold(layer, bn):
    b = None if layer.b is None else layer.b.array
    W, bias = folded_parameters(layer.W.array, b, bn.gamma.array, bn.beta.array, bn.avg_mean,
                                bn.avg_var, bn.eps)
    if isinstance(layer, L.Linear):
        return L.Linear(W.shape[1], W.shape[0], initialW=W, initial_bias=bias)
    return Convolution2D(W.shape[1] * layer.groups, W.shape[0], ksize=W.shape[2:],
                         stride=layer.stride, pad=layer.pad, initialW=W, initial_bias=bias,
                         dilate=layer.dilate, groups=layer.groups)


def fold_batch_norms(steps, step_inputs, output):
    """Fold every BatchNormalization step whose input is a Convolution2D/Linear step used by
    nothing else (and not the output). Returns the new (steps, step_inputs, output) (the
    arguments of :class:`~groupy.export.collapsed_net.CollapsedNet`)."""
    users = {}
    for i, ins in enumerate(step_inputs):
        for j in ins:
            users.setdefault(j, []).append(i)
    replaced, dropped = {}, {}  # layer step -> folded link; bn step -> layer step
    for i, (step, ins) in enumerate(zip(steps, step_inputs)):
        if not isinstance(step, L.BatchNormalization) or len(ins) != 1:
            continue
        j = ins[0]
        if (j >= 0 and isinstance(steps[j], (L.Convolution2D, L.Linear)) and j not in replaced
                and users[j] == [i] and j != output):
            replaced[j] = _fold(steps[j], step)
            dropped[i] = j
    new_index, new_steps, new_inputs = {-1: -1}, [], []
    for i, (step, ins) in enumerate(zip(steps, step_inputs)):
        if i in dropped:
            new_index[i] = new_index[dropped[i]]
            continue
        new_steps.append(replaced.get(i, step))
        new_inputs.append([new_index[j] for j in ins])
        new_index[i] = len(new_steps) - 1
    return new_steps, new_inputs, new_index[output]

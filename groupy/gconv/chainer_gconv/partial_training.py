"""What a training loop needs for partial G-convolutions (:mod:`~groupy.gconv.chainer_gconv.
partial`): the temperature schedule of the relaxed-Bernoulli gates and a separate learning rate
for the gate logits.

Defaults follow Romero & Lohit, "Learning Partial Equivariances from Data" (NeurIPS 2022,
arXiv:2110.10211): the temperature falls linearly from 0.5 to 1e-4 over the run, and the gate
logits learn with rate 1e-4 while the other parameters keep the optimiser's own rate.

Use::

    optimizer.setup(model)
    set_gate_learning_rate(model, 1e-4)          # once, after setup
    for step in range(n_steps):
        anneal_temperature(model, step / n_steps)  # before each forward pass
        ...

>>> from groupy.gconv.chainer_gconv.partial import PartialP4ConvP4
>>> model = chainer.Sequential(PartialP4ConvP4(2, 2))
>>> anneal_temperature(model, 0.5)
[0.25005]
>>> optimizer = chainer.optimizers.Adam(alpha=1e-3)
>>> optimizer.setup(model)
<chainer.optimizers.adam.Adam object at ...>
>>> set_gate_learning_rate(model, 1e-4)
1
>>> model[0].gate_logits.update_rule.hyperparam.alpha, model[0].W.update_rule.hyperparam.alpha
(0.0001, 0.001)
"""
from __future__ import annotations

from typing import List

import chainer

from groupy.gconv.chainer_gconv.partial import partial_links

__all__ = ['START_TEMPERATURE', 'END_TEMPERATURE', 'GATE_LEARNING_RATE',
           'temperature_schedule', 'anneal_temperature', 'set_gate_learning_rate']

START_TEMPERATURE = 0.5
END_TEMPERATURE = 1e-4
GATE_LEARNING_RATE = 1e-4


def temperature_schedule(progress: float, start: float = START_TEMPERATURE,
                         end: float = END_TEMPERATURE) -> float:
    """The temperature at ``progress`` in [0, 1] of the run: linear from ``start`` to ``end``."""
    progress = float(progress)
    if not 0.0 <= progress <= 1.0:
        raise ValueError('temperature_schedule: progress must be in [0, 1], got {!r}'.format(
            progress))
    start, end = float(start), float(end)
    if not (start > 0 and end > 0):
        raise ValueError('temperature_schedule: start and end must be > 0, got {!r} and '
                         '{!r}'.format(start, end))
    return start * (1.0 - progress) + end * progress


def anneal_temperature(model: chainer.Link, progress: float, start: float = START_TEMPERATURE,
                       end: float = END_TEMPERATURE) -> List[float]:
    """Set the ``temperature`` of every partial link of ``model`` to
    :func:`temperature_schedule` (progress, start, end); returns the temperatures set."""
    value = temperature_schedule(progress, start, end)
    links = partial_links(model)
    for link in links:
        link.temperature = value
    return [link.temperature for link in links]


def set_gate_learning_rate(model: chainer.Link, lr: float = GATE_LEARNING_RATE) -> int:
    """Give every ``gate_logits`` of ``model``'s partial links the learning rate ``lr``
    (the update rule's ``alpha`` for Adam-like rules, ``lr`` otherwise), leaving the other
    parameters at the optimiser's rate. Call after ``optimizer.setup(model)``; returns the
    number of parameters changed. A learning-rate schedule of the optimiser (e.g. an
    ExponentialShift of ``alpha``) does not reach these: call again to change them."""
    lr = float(lr)
    if not lr >= 0:
        raise ValueError('set_gate_learning_rate: lr must be >= 0, got {!r}'.format(lr))
    count = 0
    for link in partial_links(model):
        rule = link.gate_logits.update_rule
        if rule is None:
            raise ValueError('set_gate_learning_rate: {} has no update rule; call '
                             'optimizer.setup(model) first'.format(type(link).__name__))
        hyperparam = rule.hyperparam
        names = hyperparam.get_dict()
        if 'alpha' in names:
            hyperparam.alpha = lr
        elif 'lr' in names:
            hyperparam.lr = lr
        else:
            raise ValueError('set_gate_learning_rate: the update rule {} has neither alpha nor lr'
                             .format(type(rule).__name__))
        count += 1
    return count

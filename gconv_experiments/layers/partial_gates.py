"""The training hooks (gconv_experiments.training.hooks) of a model with partial
G-convolutions (groupy.gconv.chainer_gconv.partial): a mixin that the partial models put before
their full model class.

Following Romero & Lohit ("Learning Partial Equivariances from Data", NeurIPS 2022), the gate
logits learn with their own rate (``gate_lr``, 1e-4) while every other parameter keeps the
optimiser's, and the relaxation temperature of the gates falls linearly from
``temperature_start`` (0.5) at the first update to ``temperature_end`` (1e-4) at the last.
All three are constructor arguments of the partial models, so a run's run.json records them
with the other --net_kwargs. The BN re-estimation pass and evaluation use the deterministic
gates (logit > 0), the network that is evaluated. Each epoch's log row gets the gates'
probabilities (sigmoid of the logits) per partial layer and the temperature.

>>> import chainer
>>> from groupy.gconv.chainer_gconv.partial import PartialP4ConvP4
>>> class Tiny(PartialGateTraining, chainer.Chain):
...     def __init__(self, **kwargs):
...         super().__init__()
...         with self.init_scope():
...             self.conv = PartialP4ConvP4(1, 1, ksize=3)
...         self.init_gate_training(**kwargs)
>>> model = Tiny(temperature_start=0.5, temperature_end=0.1)
>>> model.training_progress(0.5)
>>> model.conv.temperature
0.3
>>> sorted(model.log_fields())
['gate_probabilities', 'temperature']
>>> model.log_fields()['gate_probabilities']['conv']  # sigmoid(2.0), the initial logits
[0.8808, 0.8808, 0.8808]
"""
import math

import chainer
import numpy as np

from groupy.gconv.chainer_gconv.partial import partial_links, PartialGConv
from groupy.gconv.chainer_gconv.partial_training import (
    END_TEMPERATURE, GATE_LEARNING_RATE, START_TEMPERATURE, anneal_temperature, set_gate_learning_rate)

__all__ = ["PartialGateTraining", "GATE_DIGITS", "gate_layers"]

#: gate probabilities are logged rounded to this many decimals
GATE_DIGITS = 4


def gate_layers(model: chainer.Link) -> dict:
    """{layer name: partial link} of `model` in link order; the name is the link's path without
    the leading '/' and a trailing '/conv' (e.g. 'l2', 'top')."""
    layers = {}
    for name, link in model.namedlinks(skipself=True):
        if isinstance(link, PartialGConv):
            name = name.lstrip("/")
            layers[name[:-len("/conv")] if name.endswith("/conv") else name] = link
    return layers


def _positive(name, value, zero_ok=False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"{name} must be a finite number {'>= 0' if zero_ok else '> 0'}, got {value!r}")
    return float(value)


class PartialGateTraining:
    """Mixin: the four training hooks for a chainer.Chain holding partial G-convolutions. The
    class calls :meth:`init_gate_training` at the end of its constructor."""

    def init_gate_training(self, gate_lr: float = GATE_LEARNING_RATE,
                           temperature_start: float = START_TEMPERATURE,
                           temperature_end: float = END_TEMPERATURE) -> None:
        """Check and keep the settings; the partial links start at temperature_start."""
        self.gate_lr = _positive("gate_lr", gate_lr, zero_ok=True)
        self.temperature_start = _positive("temperature_start", temperature_start)
        self.temperature_end = _positive("temperature_end", temperature_end)
        self.training_progress(0.0)

    def setup_optimizer(self, optimizer) -> None:
        """The gate logits learn at gate_lr (the optimiser's rate stays for the rest)."""
        set_gate_learning_rate(self, self.gate_lr)

    def training_progress(self, fraction: float) -> None:
        """The gates' temperature at this point of the run (linear from start to end)."""
        anneal_temperature(self, fraction, self.temperature_start, self.temperature_end)

    def evaluation_mode(self):
        """Deterministic gates (logit > 0) also in a training-mode pass."""
        return chainer.using_config("sample_partial_gates", False)

    def log_fields(self) -> dict:
        """{'gate_probabilities': {layer: [sigmoid(logit) per non-identity element]},
        'temperature': the partial links' temperature}."""
        probabilities = {}
        for name, link in gate_layers(self).items():
            logits = np.asarray(chainer.backend.CpuDevice().send(link.gate_logits.array), np.float64)
            probabilities[name] = [round(float(p), GATE_DIGITS) for p in 1.0 / (1.0 + np.exp(-logits))]
        links = partial_links(self)
        return dict(gate_probabilities=probabilities,
                    temperature=float(links[0].temperature) if links else None)

"""PartialP4CNN: P4CNN whose p4 -> p4 layers learn which rotations they keep (Romero & Lohit,
"Learning Partial Equivariances from Data", NeurIPS 2022, arXiv:2110.10211, with the discrete
gates of their released code). An addition of this project, for MNIST6-180 / MNIST6-M
(gconv_experiments/MNIST6) and MNIST-rot.

The architecture, sizes and initialisation of P4CNN, with every P4ConvP4 (l2..l6 and top)
replaced by :class:`~groupy.gconv.chainer_gconv.partial.PartialP4ConvP4` (the lifting layer l1
stays a full P4ConvZ2): the same ``W`` and ``b``, plus 3 gate logits per layer (18 in all).
The final max over the stabiliser takes only the planes the top layer kept (sampled in
training, logit > 0 in test mode), so the class scores are invariant to the rotations that
every partial layer preserves (:func:`~groupy.gconv.chainer_gconv.partial.
predicted_equivariance`); with every gate open (the initial state in test mode) they are
invariant to all four, as P4CNN's.

The planes a layer drops are zero at its output; batch normalisation (statistics shared over
the planes) and ReLU then make them a constant, which the next layer sees. That keeps the
equivariance described above but differs from the paper's implementation, where dropped
elements are absent from the later layers.

Training (the hooks of gconv_experiments/layers/partial_gates.py, which the training loop
calls): the gate logits learn at ``gate_lr`` (1e-4), the gates' temperature falls linearly from
``temperature_start`` (0.5) to ``temperature_end`` (1e-4) over the run's updates, the BN
re-estimation and evaluation use the deterministic gates, and each epoch's log row holds the
gate probabilities per layer.
"""
from gconv_experiments.layers.partial_gates import PartialGateTraining
from gconv_experiments.MNIST_ROT.models.P4CNN import P4CNN
from groupy.gconv.chainer_gconv import P4ConvZ2, orientation_max_pooling
from groupy.gconv.chainer_gconv.partial import PartialP4ConvP4, partial_links

__all__ = ["PartialP4CNN", "set_initial_gate_logit"]


def set_initial_gate_logit(model, value):
    """Every gate logit of the model's partial links = value (a finite float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(value) < float("inf"):
        raise ValueError(f"initial_gate_logit must be a finite number, got {value!r}")
    for link in partial_links(model):
        link.gate_logits.array[:] = value


class PartialP4CNN(PartialGateTraining, P4CNN):
    """x (N, in_channels, 28, 28) -> logits (N, n_classes), invariant to the rotations kept.

    Args: as P4CNN (channels 10, no dropout by default), then
        initial_gate_logit: every gate's logit at the start (2.0: open with probability 0.88).
        gate_lr, temperature_start, temperature_end: the gates' training (see above)."""
    lifting_conv, group_conv = P4ConvZ2, PartialP4ConvP4

    def __init__(self, channels=10, dropout=0.0, in_channels=1, n_classes=10,
                 dropout_after=P4CNN.DROPOUT_AFTER, initial_gate_logit=2.0, gate_lr=1e-4,
                 temperature_start=0.5, temperature_end=1e-4):
        super().__init__(channels=channels, dropout=dropout, in_channels=in_channels, n_classes=n_classes,
                         dropout_after=dropout_after)
        set_initial_gate_logit(self, initial_gate_logit)
        self.init_gate_training(gate_lr, temperature_start, temperature_end)

    def pool_orientations(self, h):
        """Max over the planes the top layer kept in its last forward pass."""
        return orientation_max_pooling(h, mask=self.top.last_kept)

"""PartialP4MCNN: P4MCNN whose p4m -> p4m layers learn which rotations and mirrors they keep
(Romero & Lohit, "Learning Partial Equivariances from Data", NeurIPS 2022, arXiv:2110.10211).
An addition of this project.

The architecture, sizes and initialisation of P4MCNN (default 7 feature maps of 8 planes),
with every P4MConvP4M replaced by :class:`~groupy.gconv.chainer_gconv.partial.
PartialP4MConvP4M` (7 gate logits per layer, 42 in all); the lifting layer stays a full
P4MConvZ2. The final max over the stabiliser takes only the planes the top layer kept; see
PartialP4CNN for the equivariance that remains, how dropped planes propagate, and the
training hooks (gate learning rate, temperature schedule, deterministic gates in evaluation,
gate probabilities in the log).
"""
from gconv_experiments.layers.partial_gates import PartialGateTraining
from gconv_experiments.MNIST_ROT.models.P4CNN import P4CNN
from gconv_experiments.MNIST_ROT.models.P4MCNN import P4MCNN
from gconv_experiments.MNIST_ROT.models.PartialP4CNN import PartialP4CNN, set_initial_gate_logit
from groupy.gconv.chainer_gconv import P4MConvZ2
from groupy.gconv.chainer_gconv.partial import PartialP4MConvP4M

__all__ = ["PartialP4MCNN"]


class PartialP4MCNN(PartialGateTraining, P4MCNN):
    """x (N, in_channels, 28, 28) -> logits (N, n_classes), invariant to the elements of D4
    kept. Args: as P4MCNN, then initial_gate_logit, gate_lr, temperature_start, temperature_end
    as PartialP4CNN."""
    lifting_conv, group_conv = P4MConvZ2, PartialP4MConvP4M
    pool_orientations = PartialP4CNN.pool_orientations

    def __init__(self, channels=7, dropout=0.0, in_channels=1, n_classes=10,
                 dropout_after=P4CNN.DROPOUT_AFTER, initial_gate_logit=2.0, gate_lr=1e-4,
                 temperature_start=0.5, temperature_end=1e-4):
        super().__init__(channels=channels, dropout=dropout, in_channels=in_channels, n_classes=n_classes,
                         dropout_after=dropout_after)
        set_initial_gate_logit(self, initial_gate_logit)
        self.init_gate_training(gate_lr, temperature_start, temperature_end)

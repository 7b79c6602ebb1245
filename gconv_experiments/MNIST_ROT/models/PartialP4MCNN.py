"""PartialP4MCNN: P4MCNN whose p4m -> p4m layers learn which rotations and mirrors they keep
(Romero & Lohit, "Learning Partial Equivariances from Data", NeurIPS 2022, arXiv:2110.10211).
An addition of this project.

The architecture, sizes and initialisation of P4MCNN (default 7 feature maps of 8 planes),
with every P4MConvP4M replaced by :class:`~groupy.gconv.chainer_gconv.partial.
PartialP4MConvP4M` (7 gate logits per layer, 42 in all); the lifting layer stays a full
P4MConvZ2. The final max over the stabiliser takes only the planes the top layer kept; see
PartialP4CNN for the equivariance that remains and how dropped planes propagate.
"""
from gconv_experiments.MNIST_ROT.models.P4MCNN import P4MCNN
from gconv_experiments.MNIST_ROT.models.PartialP4CNN import PartialP4CNN
from groupy.gconv.chainer_gconv import P4MConvZ2
from groupy.gconv.chainer_gconv.partial import PartialP4MConvP4M

__all__ = ["PartialP4MCNN"]


class PartialP4MCNN(P4MCNN):
    """x (N, in_channels, 28, 28) -> logits (N, n_classes), invariant to the elements of D4
    kept. Args: as P4MCNN."""
    lifting_conv, group_conv = P4MConvZ2, PartialP4MConvP4M
    pool_orientations = PartialP4CNN.pool_orientations

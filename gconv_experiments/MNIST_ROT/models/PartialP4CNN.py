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

Training: anneal the gates' temperature and give their logits their own learning rate with
:mod:`groupy.gconv.chainer_gconv.partial_training`.
"""
from gconv_experiments.MNIST_ROT.models.P4CNN import P4CNN
from groupy.gconv.chainer_gconv import P4ConvZ2, orientation_max_pooling
from groupy.gconv.chainer_gconv.partial import PartialP4ConvP4

__all__ = ["PartialP4CNN"]


class PartialP4CNN(P4CNN):
    """x (N, in_channels, 28, 28) -> logits (N, n_classes), invariant to the rotations kept.

    Args: as P4CNN (channels 10, no dropout by default)."""
    lifting_conv, group_conv = P4ConvZ2, PartialP4ConvP4

    def pool_orientations(self, h):
        """Max over the planes the top layer kept in its last forward pass."""
        return orientation_max_pooling(h, mask=self.top.last_kept)

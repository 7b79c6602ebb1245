"""Partial G-convolutions: a G-convolution that learns which part of the output stabiliser it
keeps (Romero & Lohit, "Learning Partial Equivariances from Data", NeurIPS 2022,
arXiv:2110.10211; here the discrete version, one learned gate per group element).

:class:`PartialP4ConvP4` and :class:`PartialP4MConvP4M` compute the G-convolution of
:class:`~groupy.gconv.chainer_gconv.P4ConvP4` / :class:`~groupy.gconv.chainer_gconv.P4MConvP4M`
(same constructor arguments, same ``W`` and ``b``) and keep its output only on a subset K of
the output stabiliser H (C4: the 4 rotations; D4: the 8 elements (m, r) = m^m r^r, plane
index m * 4 + r as everywhere in groupy):

    y(s, x) = z_s * [f * psi](s, x),   z_s in {0, 1},   z_e = 1,

i.e. the planes of the dropped elements are zero. Equivalently the filter bank's planes of the
dropped elements are zero filters (with zero bias), which is how the link computes it and what
:func:`groupy.export.collapse` of a trained network contains.

Gates. The link holds one logit per non-identity element (``gate_logits``, shape ``(|H| - 1,)``:
3 for C4, 7 for D4, in plane order); the identity is always kept. In training
(``chainer.config.train``) each forward pass draws the gates from a relaxed Bernoulli
(binary Concrete) distribution at the link's ``temperature``, hard 0/1 in the forward pass with
the relaxed sample's gradient in the backward pass (straight-through; see
:mod:`~groupy.gconv.chainer_gconv.partial_gate`); the training loop anneals the temperature
and gives the logits their own learning rate (:mod:`~groupy.gconv.chainer_gconv.
partial_training`). In test mode the gates are deterministic: element s is kept iff its logit
is > 0 (:meth:`PartialGConv.kept_elements`). ``chainer.using_config('sample_partial_gates',
False)`` gives the deterministic gates in training mode too (e.g. for a pass that re-estimates
batch-normalisation statistics for the test-mode network).

Equivariance. Transforming the input by a stabiliser element g permutes the output planes,
s -> g s, and moves the pixels. The masked output transforms along iff the mask does not
change, i.e. iff g K = K. The elements with that property form a subgroup,

    Stab(K) = {g in H : g K = K}  (contained in K, since e is in K),

and the layer is exactly equivariant to Stab(K) (and to translations). If K is a subgroup,
Stab(K) = K: e.g. K = {e, r2} gives a layer equivariant to 180-degree rotations but not to
90-degree ones. If K is not a subgroup the layer is equivariant only to the smaller Stab(K)
(K = {e, r1}: only the identity; K = {e, r1, r2}: only the identity as well; K is a union of
right cosets Stab(K) k). A network of such layers (with full layers, pointwise nonlinearities,
normalisation shared over the planes, and a final pooling over the kept planes of the last
layer) is equivariant to the intersection of the Stab(K) of its layers:
:func:`predicted_equivariance`; :func:`~groupy.gconv.chainer_gconv.check_equivariance.
equivariant_elements` measures it.

Shapes: as P4ConvP4 / P4MConvP4M, input ``(N, in, |H|, H, W)``, output
``(N, out, |H|, H', W')``, or flat with ``flat_channels=True``.

>>> import numpy
>>> conv = PartialP4ConvP4(2, 3, ksize=3)
>>> conv.gate_logits.shape
(3,)
>>> conv.gate_logits.array[:] = [-1.0, 2.0, -0.5]  # keep e and r2 only
>>> conv.kept_elements()
KeptElements(indices=(0, 2), names=('e', 'r2'))
>>> conv.equivariant_elements().names
('e', 'r2')
>>> x = numpy.random.RandomState(0).randn(1, 2, 4, 7, 7).astype(numpy.float32)
>>> with chainer.using_config('train', False):
...     y = conv(x)
>>> y.shape, float(abs(y.array[:, :, 1]).max()), bool(abs(y.array[:, :, 2]).max() > 0)
((1, 3, 4, 5, 5), 0.0, True)
"""
from __future__ import annotations

from typing import Iterable, NamedTuple, Optional, Tuple

import numpy

import chainer
from chainer import functions as F

from groupy.gconv.chainer_gconv.p4_conv import P4ConvP4
from groupy.gconv.chainer_gconv.p4m_conv import P4MConvP4M
from groupy.gconv.chainer_gconv.partial_gate import relaxed_bernoulli_gate

__all__ = ['ELEMENT_NAMES', 'KeptElements', 'PartialGConv', 'PartialP4ConvP4',
           'PartialP4MConvP4M', 'element_names', 'stabiliser_of', 'partial_links',
           'predicted_equivariance']

#: readable names of the stabiliser elements in plane order (D4: index m * 4 + r, m^m r^r)
ELEMENT_NAMES = {
    'C4': ('e', 'r1', 'r2', 'r3'),
    'D4': ('e', 'r1', 'r2', 'r3', 'm', 'm r1', 'm r2', 'm r3'),
}
_STABILISER_OF_SIZE = {4: 'C4', 8: 'D4'}


class KeptElements(NamedTuple):
    """Stabiliser elements: plane indices (increasing) and their names ('e', 'r1', 'm r2')."""
    indices: Tuple[int, ...]
    names: Tuple[str, ...]


def element_names(stabiliser: str) -> Tuple[str, ...]:
    """The names of the elements of 'C4' or 'D4' in plane order."""
    try:
        return ELEMENT_NAMES[stabiliser]
    except (KeyError, TypeError):
        raise ValueError("stabiliser must be 'C4' or 'D4', got {!r}".format(stabiliser)) from None


def _product(stabiliser: str, g: int, h: int) -> int:
    """Plane index of g h (C4: r; D4: m * 4 + r with element m^m r^r)."""
    if stabiliser == 'C4':
        return (g + h) % 4
    (m1, r1), (m2, r2) = divmod(g, 4), divmod(h, 4)
    # r^r1 m^m2 = m^m2 r^((-1)^m2 r1)
    return ((m1 + m2) % 2) * 4 + ((-r1 if m2 else r1) + r2) % 4


def _elements(indices: Iterable[int], stabiliser: str) -> KeptElements:
    names = element_names(stabiliser)
    indices = tuple(sorted(set(int(i) for i in indices)))
    if any(not 0 <= i < len(names) for i in indices):
        raise ValueError('element indices must be in 0..{}, got {}'.format(
            len(names) - 1, indices))
    return KeptElements(indices, tuple(names[i] for i in indices))


def stabiliser_of(kept: Iterable[int], stabiliser: str) -> KeptElements:
    """Stab(K) = {g : g K = K} for the set K of plane indices ``kept``: the elements a layer
    keeping K is exactly equivariant to (K itself when K is a subgroup)."""
    k = set(_elements(kept, stabiliser).indices)
    order = len(element_names(stabiliser))
    return _elements((g for g in range(order)
                      if {_product(stabiliser, g, s) for s in k} == k), stabiliser)


class PartialGConv(object):
    """The gating shared by the partial G-convolution links (mixed into a SplitGConv2D
    subclass; see the module docstring).

    Extra keyword arguments (after those of the G-convolution):
        initial_gate_logit (float or array of shape ``(|H| - 1,)``): the initial logits (default
            2.0: each gate open with probability sigmoid(2) ~ 0.88 in training, all open in
            test mode).
        temperature (float > 0): the initial relaxation temperature (default 0.5, the start of
            the default annealing schedule); a persistent value, so saved with the link.

    Attributes:
        gate_logits (chainer.Parameter): ``(|H| - 1,)`` logits of the non-identity elements.
        temperature (float): set by the training loop (``anneal_temperature``).
        last_kept (ndarray of bool or None): ``(|H|,)`` the planes kept by the last forward pass
            (sampled in training, the deterministic ones in test mode), e.g. for pooling.
    """

    def __init__(self, *args, initial_gate_logit=2.0, temperature: float = 0.5, **kwargs):
        super().__init__(*args, **kwargs)
        n = self.output_stabilizer_size - 1
        init = numpy.asarray(initial_gate_logit, dtype=self.dtype)
        if init.shape not in ((), (n,)) or not numpy.isfinite(init).all():
            raise ValueError('{}: initial_gate_logit must be a finite float or an array of shape '
                             '({},), got {!r}'.format(type(self).__name__, n, initial_gate_logit))
        with self.init_scope():
            self.gate_logits = chainer.Parameter(numpy.broadcast_to(init, (n,)).copy())
        self.add_persistent('temperature', self._check_temperature(temperature))
        self.last_kept = None

    def _check_temperature(self, temperature):
        try:
            value = float(temperature)
        except (TypeError, ValueError):
            value = float('nan')
        if not (value > 0 and numpy.isfinite(value)):
            raise ValueError('{}: temperature must be a finite float > 0, got {!r}'.format(
                type(self).__name__, temperature))
        return value

    @property
    def stabiliser(self) -> str:
        """'C4' or 'D4'."""
        return _STABILISER_OF_SIZE[self.output_stabilizer_size]

    @property
    def printable_specs(self):
        specs = getattr(super(), 'printable_specs', None)
        for spec in (specs if specs is not None else ()):
            yield spec
        yield 'temperature', self.temperature
        yield 'kept', self.kept_elements().names

    def deterministic_gates(self) -> numpy.ndarray:
        """``(|H|,)`` 0/1 gates of test mode, on the link's device (1 where kept)."""
        xp = self.xp
        keep = (self.gate_logits.array > 0).astype(self.dtype)
        return xp.concatenate([xp.ones(1, self.dtype), keep])

    def kept_elements(self) -> KeptElements:
        """The elements kept in test mode (logit > 0; the identity always), in plane order."""
        keep = numpy.asarray(chainer.backend.CpuDevice().send(self.gate_logits.array)) > 0
        return _elements([0] + [i + 1 for i in numpy.flatnonzero(keep)], self.stabiliser)

    def equivariant_elements(self) -> KeptElements:
        """Stab(K) of the test-mode kept set K: the elements the layer is equivariant to."""
        return stabiliser_of(self.kept_elements().indices, self.stabiliser)

    def sample_gates(self, noise: Optional[numpy.ndarray] = None):
        """``(|H|,)`` gates of a training step: 1 for the identity, then relaxed-Bernoulli hard
        samples of the logits at ``self.temperature`` with the straight-through gradient
        (``noise``: the logistic noise, drawn if None)."""
        gates = relaxed_bernoulli_gate(self.gate_logits, self.temperature, noise)
        return F.concat((self.xp.ones(1, self.dtype), gates), axis=0)

    def _filter_bank(self):
        tw, b = super()._filter_bank()
        if chainer.config.train and getattr(chainer.config, 'sample_partial_gates', True):
            gates = self.sample_gates()
            kept = gates.array
        else:
            kept = gates = self.deterministic_gates()
        self.last_kept = numpy.asarray(chainer.backend.CpuDevice().send(kept)) > 0
        if self.last_kept.all() and not chainer.config.train:
            return tw, b  # every gate open: exactly the full G-convolution
        out, nos = self.out_channels, self.output_stabilizer_size
        shape = tw.shape
        per_plane = shape[1] * shape[2] * shape[3]  # in * nis * k * k filter values
        g = F.broadcast_to(F.reshape(gates, (1, nos, 1)), (out, nos, per_plane))
        tw = F.reshape(F.reshape(tw, g.shape) * g, shape)
        if b is not None:
            b = F.reshape(F.reshape(b, (out, nos)) * g[:, :, 0], (out * nos,))
        if not chainer.config.enable_backprop:
            tw, b = tw.array, None if b is None else b.array
        return tw, b


class PartialP4ConvP4(PartialGConv, P4ConvP4):
    """P4ConvP4 kept on a learned subset of the 4 rotations: (N, in, 4, H, W) ->
    (N, out, 4, H', W'). Arguments: those of P4ConvP4, then ``initial_gate_logit`` and
    ``temperature`` (see :class:`PartialGConv`)."""


class PartialP4MConvP4M(PartialGConv, P4MConvP4M):
    """P4MConvP4M kept on a learned subset of the 8 roto-reflections: (N, in, 8, H, W) ->
    (N, out, 8, H', W'). Arguments: those of P4MConvP4M, then ``initial_gate_logit`` and
    ``temperature`` (see :class:`PartialGConv`)."""


def partial_links(model: chainer.Link):
    """The partial G-convolution links of ``model`` (itself included), in link order."""
    if not isinstance(model, chainer.Link):
        raise TypeError('partial_links: model must be a chainer.Link, got {}'.format(
            type(model).__name__))
    return [link for link in model.links() if isinstance(link, PartialGConv)]


def predicted_equivariance(model: chainer.Link) -> Optional[KeptElements]:
    """The stabiliser elements a network of partial G-convolutions stays exactly equivariant
    to in test mode: the intersection of Stab(K) over its partial links (None if it has none).
    Assumes the rest of the network is equivariant to the whole stabiliser and that the final
    pooling takes the kept planes of the last layer only."""
    links = partial_links(model)
    if not links:
        return None
    stabilisers = {link.stabiliser for link in links}
    if len(stabilisers) != 1:
        raise ValueError('predicted_equivariance: the model mixes stabilisers {}'.format(
            sorted(stabilisers)))
    common = set(range(len(element_names(links[0].stabiliser))))
    for link in links:
        common &= set(link.equivariant_elements().indices)
    return _elements(common, links[0].stabiliser)

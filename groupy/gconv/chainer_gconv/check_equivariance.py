"""Measure how equivariant a network is under the rotations (C4) or roto-reflections (D4) of
its feature maps.

A network ``net`` from feature maps of group A to feature maps of group B is equivariant under a
stabiliser element g if ``net(g . x) == g . net(x)``, where ``g .`` is the left translation of a
feature map, ``(g f)(h) = f(g^-1 h)`` (``g * f`` in :mod:`groupy.gfunc`):

* 'Z2' maps (N, C, H, W): the pixels move (``np.rot90`` by r, then, if m = 1, ``np.flip`` of the
  rows);
* 'p4' maps (N, C, 4, H, W) (alias 'C4'): the pixels move and the 4 orientation planes are
  cyclically shifted;
* 'p4m' maps (N, C, 8, H, W) (alias 'D4'): the pixels move and the 8 planes (m * 4 + r) are
  permuted by the D4 product;
* 'invariant': any output that must not change at all (e.g. after orientation pooling and global
  spatial pooling).

Rotations and flips act about the centre of the map (the origin of the centred grid for odd
sizes, the pixel corner (-1/2, -1/2) for even sizes: ``C4_halfshift`` / ``D4_halfshift``), so
maps must be square. The actions come from :mod:`groupy.gfunc` and :mod:`groupy.garray`.

:func:`equivariant_elements` turns the errors into the set of stabiliser elements the network
is equivariant to (e.g. a partial G-CNN that kept only some rotations: compare with
:func:`groupy.gconv.chainer_gconv.partial.predicted_equivariance`).
"""
import collections
from typing import Optional

import numpy

import chainer

from groupy.garray.C4_array import C4
from groupy.garray.D4_array import D4
from groupy.garray.p4_array import C4_halfshift
from groupy.garray.p4m_array import D4_halfshift
from groupy.gfunc.p4func_array import P4FuncArray
from groupy.gfunc.p4mfunc_array import P4MFuncArray
from groupy.gfunc.z2func_array import Z2FuncArray

__all__ = ['check_equivariance', 'equivariant_elements', 'stabiliser_labels', 'transform_feature_map']

_GROUP_NAMES = {'Z2': 'Z2', 'C4': 'p4', 'p4': 'p4', 'D4': 'p4m', 'p4m': 'p4m',
                'invariant': 'invariant'}
_FUNC_ARRAYS = {'Z2': Z2FuncArray, 'p4': P4FuncArray, 'p4m': P4MFuncArray}
_STABILISERS = {'C4': (C4, C4_halfshift), 'D4': (D4, D4_halfshift)}


def _group_name(group, argname):
    try:
        return _GROUP_NAMES[group]
    except (KeyError, TypeError):
        raise ValueError('{} must be one of {}, got {!r}'.format(
            argname, sorted(_GROUP_NAMES), group))


def stabiliser_labels(stabiliser: str) -> list:
    """Labels of the stabiliser elements in their index order: 'r=0'.. or 'm=0,r=0'.."""
    if stabiliser == 'C4':
        return ['r={}'.format(r) for r in range(4)]
    return ['m={},r={}'.format(m, r) for m in range(2) for r in range(4)]


def transform_feature_map(x, group: str, element: int, stabiliser: str = 'C4') -> numpy.ndarray:
    """Apply stabiliser element number ``element`` (C4: r; D4: m * 4 + r) to NumPy feature
    maps ``x`` of ``group`` ('Z2' (..., H, W), 'p4' (..., 4, H, W), 'p4m' (..., 8, H, W), or
    'invariant': returned unchanged), rotating/flipping about the centre of the square maps."""
    group = _group_name(group, 'group')
    if group == 'invariant':
        return x
    if stabiliser not in _STABILISERS:
        raise ValueError("stabiliser must be 'C4' or 'D4', got {!r}".format(stabiliser))
    if stabiliser == 'C4' and group == 'p4m':
        raise ValueError("p4m feature maps transform under D4: use stabiliser='D4'")
    if stabiliser == 'D4' and group == 'p4':
        raise ValueError('p4 feature maps have no mirror symmetry: use stabiliser=\'C4\'')
    x = numpy.asarray(x)
    size = x.shape[-2:]
    if len(size) != 2 or size[0] != size[1]:
        raise ValueError('transform_feature_map: maps must be square (..., H, H), got shape {}'
                         .format(x.shape))
    odd, even = _STABILISERS[stabiliser]
    g = (odd if size[0] % 2 else even)[element]
    return (g * _FUNC_ARRAYS[group](x)).v


def _run(net, x, device):
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        y = net(device.send(x))
    y = y.array if isinstance(y, chainer.Variable) else y
    return numpy.asarray(chainer.backend.CpuDevice().send(y), dtype=numpy.float64)


def check_equivariance(net, input_group: str, output_group: str, x=None, input_shape=None,
                       stabiliser: Optional[str] = None, seed: int = 0,
                       tolerance: Optional[float] = None,
                       verbose: bool = False) -> 'collections.OrderedDict[str, float]':
    """Max relative equivariance error of ``net`` for each stabiliser element.

    Args:
        net: a :class:`chainer.Link`/Chain (run on its device, in test mode) or any callable
            taking and returning an array or Variable.
        input_group, output_group: 'Z2', 'p4' (or 'C4'), 'p4m' (or 'D4'); output_group may also
            be 'invariant'. See the module docstring for the feature-map shapes.
        x: input batch (NumPy); if None, a standard-normal batch of ``input_shape`` is drawn
            (dtype of the net's parameters, float64 for a parameterless net).
        stabiliser: 'C4' or 'D4' (default: 'D4' if either group is p4m, else 'C4').
        seed: seed of the random input.
        tolerance: if given, raise AssertionError when an element's error exceeds it.
        verbose: print one line per element.

    Returns:
        collections.OrderedDict: label ('r=1' or 'm=1,r=2') -> max over the output of
        ``|net(g x) - g net(x)|`` divided by ``max |g net(x)|``.

    >>> from groupy.gconv.chainer_gconv import P4ConvZ2
    >>> errors = check_equivariance(P4ConvZ2(1, 2, ksize=3), 'Z2', 'p4',
    ...                             input_shape=(1, 1, 7, 7))
    >>> list(errors), max(errors.values()) < 1e-6
    (['r=0', 'r=1', 'r=2', 'r=3'], True)
    """
    input_group = _group_name(input_group, 'input_group')
    output_group = _group_name(output_group, 'output_group')
    if input_group == 'invariant':
        raise ValueError("input_group cannot be 'invariant'")
    if stabiliser is None:
        stabiliser = 'D4' if 'p4m' in (input_group, output_group) else 'C4'
    if x is None:
        if input_shape is None:
            raise ValueError('check_equivariance: give an input batch x or its input_shape')
        params = list(net.params()) if isinstance(net, chainer.Link) else []
        dtype = params[0].dtype if params and params[0].array is not None else numpy.float64
        x = numpy.random.RandomState(seed).standard_normal(input_shape).astype(dtype)
    x = numpy.asarray(chainer.backend.CpuDevice().send(x))
    device = net.device if isinstance(net, chainer.Link) else chainer.backend.CpuDevice()

    y = _run(net, x, device)
    errors = collections.OrderedDict()
    for element, label in enumerate(stabiliser_labels(stabiliser)):
        gx = transform_feature_map(x, input_group, element, stabiliser).astype(x.dtype)
        y_of_gx = _run(net, gx, device)
        g_y = transform_feature_map(y, output_group, element, stabiliser)
        if y_of_gx.shape != g_y.shape:
            raise ValueError('check_equivariance: net(g x) has shape {} but g net(x) has shape '
                             '{}'.format(y_of_gx.shape, g_y.shape))
        scale = max(float(numpy.abs(g_y).max()) if g_y.size else 0.0, 1e-30)
        errors[label] = float(numpy.abs(y_of_gx - g_y).max()) / scale if g_y.size else 0.0
        if verbose:
            print('{:>10}  max relative error {:.3e}'.format(label, errors[label]))
    if tolerance is not None:
        bad = {k: v for k, v in errors.items() if not v <= tolerance}
        if bad:
            raise AssertionError('not equivariant within {:g} for {}'.format(tolerance, bad))
    return errors


def equivariant_elements(net, input_group, output_group, tolerance=1e-4, x=None,
                         input_shape=None, stabiliser=None, seed=0, verbose=False):
    """The stabiliser elements ``net`` is equivariant to: those whose relative error in
    :func:`check_equivariance` (same arguments) is at most ``tolerance`` (float rounding is
    ~1e-7 in float32, a broken symmetry gives errors of order 1e-1..1).

    ``stabiliser`` defaults to 'D4' where either group is p4m or ``net`` is a Link with p4m
    layers, else 'C4'.

    Returns:
        KeptElements: ``indices`` (C4: r; D4: m * 4 + r) and ``names`` ('e', 'r2', 'm r1', ...:
        the element m^m r^r), e.g. ``(0, 2), ('e', 'r2')`` for a net invariant to 180-degree
        rotations only. The identity is always among them.
    """
    from groupy.gconv.chainer_gconv.partial import KeptElements, element_names
    tolerance = float(tolerance)
    if not tolerance >= 0:
        raise ValueError('equivariant_elements: tolerance must be >= 0, got {!r}'.format(
            tolerance))
    if stabiliser is None:  # D4 for p4m maps, or a net with p4m layers (e.g. Z2 -> invariant)
        groups = (_group_name(input_group, 'input_group'),
                  _group_name(output_group, 'output_group'))
        p4m_layers = isinstance(net, chainer.Link) and any(
            getattr(link, 'output_stabilizer_size', None) == 8 for link in net.links())
        stabiliser = 'D4' if 'p4m' in groups or p4m_layers else 'C4'
    errors = check_equivariance(net, input_group, output_group, x=x, input_shape=input_shape,
                                stabiliser=stabiliser, seed=seed, verbose=verbose)
    names = element_names(stabiliser)
    kept = tuple(i for i, error in enumerate(errors.values()) if error <= tolerance)
    return KeptElements(kept, tuple(names[i] for i in kept))

"""Which input sizes keep a network exactly equivariant: a layer-by-layer analysis.

G-convolutions are equivariant to rotations (and flips) about the centre of the map. A network
stays *exactly* equivariant only if every layer's sampling grid is symmetric about that centre:

* a convolution or pooling with kernel k, stride s and padding p on an H x H map puts its
  windows symmetrically only if ``(H + 2p - k)`` is a multiple of s (otherwise the rotated
  input is sampled on a grid shifted by a pixel: e.g. a stride-2 3x3 convolution padded by 1
  on a 32x32 map, 31 being odd, while 33x33 is fine; 2x2 pooling needs an even size);
* kernels, strides, paddings and dilations must be the same along both axes and maps square;
* the filters must transform with the group: a G-convolution of the analysed group (p4 filters
  are rotated but not flipped, so they are not equivariant to the flips of p4m), a planar
  convolution only with rotation(/flip)-invariant filters on planar maps; biases and batch
  normalisation shared over the stabiliser planes; linear layers only on invariant vectors.

:func:`exactness` traces the test-mode forward pass once (:func:`~groupy.gconv.chainer_gconv.trace.trace`),
then propagates map sizes and feature kinds through it for the given size (and for nearby
sizes, to propose the closest ones that keep exactness). Numerically, exactness means
:func:`~groupy.gconv.chainer_gconv.check_equivariance` errors at float rounding level.
"""
import numpy

import chainer

from groupy.gconv.chainer_gconv.trace import INPUT, flat_shape, trace

__all__ = ['ExactnessReport', 'LayerExactness', 'exactness']

_GROUPS = ('p4', 'p4m')
_PLANE_GROUP = {1: 'Z2', 4: 'p4', 8: 'p4m'}


class _Invalid(Exception):
    """The network cannot run on this input size."""


class _State(object):
    """What a value is: 'map' (spatial: (N, C, [G,] H, W)) or 'vector' (no spatial axes), with
    ``planes`` stabiliser planes (1: planar / invariant), map size ``size``, and ``lost`` set
    once exactness is lost on the way here."""

    def __init__(self, what, planes, size=None, lost=False):
        self.what, self.planes, self.size, self.lost = what, planes, size, lost

    def same(self, other):
        return (self.what, self.planes, self.size) == (other.what, other.planes, other.size)

    def kind(self):
        if self.what == 'vector':
            return 'invariant' if self.planes == 1 else '{} vector'.format(
                _PLANE_GROUP[self.planes])
        return _PLANE_GROUP.get(self.planes, '{}-plane'.format(self.planes))


class LayerExactness(object):
    """One operation: ``name`` (link path and function), ``kind``, map sizes ``in_size`` /
    ``out_size`` (None for vectors), ``exact`` (False from the first lost layer on) and
    ``reason`` (why exactness is lost *here*; '' if it holds or was lost before)."""

    def __init__(self, name, kind, in_size, out_size, exact, reason):
        self.name, self.kind, self.in_size, self.out_size = name, kind, in_size, out_size
        self.exact, self.reason = exact, reason

    def __repr__(self):
        return 'LayerExactness({}, {} -> {}, {})'.format(
            self.name, self.in_size, self.out_size, 'exact' if self.exact else
            (self.reason or 'lost before'))


class ExactnessReport(object):
    """Result of :func:`exactness`.

    Attributes:
        input_shape, group: as given.
        exact (bool): every layer keeps exact equivariance.
        layers (list of LayerExactness): every traced operation in order.
        first_lost (LayerExactness or None): where exactness is lost first.
        output_kind (str): what the output is: 'invariant', 'Z2', 'p4', 'p4m' (maps), or
            'p4 vector' / 'p4m vector' (features that permute with the group).
        suggested_sizes (list of int): the nearest input sizes (one below, one above, nearest
            first) that keep exactness; [] if exact, or if no size helps (e.g. p4 filters
            under flips).
    """

    def __init__(self, input_shape, group, layers, output_kind, suggested_sizes):
        self.input_shape, self.group, self.layers = input_shape, group, layers
        self.first_lost = next((l for l in layers if l.reason), None)
        self.exact = self.first_lost is None
        self.output_kind, self.suggested_sizes = output_kind, suggested_sizes

    def __str__(self):
        size = 'x'.join(str(s) for s in self.input_shape[-2:])
        lines = ['{} input, group {}: {}'.format(
            size, self.group, 'exactly equivariant (output: {})'.format(self.output_kind)
            if self.exact else 'NOT exactly equivariant')]
        for l in self.layers:
            if l.kind in ('conv', 'max_pool', 'avg_pool', 'linear') or l.reason:
                sizes = '' if l.in_size is None else '{0}x{0} -> {1}x{1}'.format(
                    l.in_size, l.out_size) if l.out_size is not None else '{0}x{0}'.format(
                    l.in_size)
                lines.append('  {:44s} {:16s} {}'.format(
                    l.name, sizes, 'ok' if l.exact else (l.reason or 'lost above')))
        if not self.exact:
            lines.append('first layer where exactness is lost: {}: {}'.format(
                self.first_lost.name, self.first_lost.reason))
            if self.suggested_sizes:
                lines.append('nearest input sizes that keep it: {}'.format(', '.join(
                    '{0}x{0}'.format(s) for s in self.suggested_sizes)))
            else:
                lines.append('no input size keeps it (the reason is not the grid)')
        return '\n'.join(lines)


def _window(p, size, what):
    """Output size of a conv/pool window on a size x size map, and the reason it is not
    symmetric about the centre ('' if it is)."""
    (kh, kw), (sy, sx), (ph, pw) = p['ksize'], p['stride'], p['pad']
    dy, dx = p.get('dilate', (1, 1))
    k = dy * (kh - 1) + 1
    if size + 2 * ph < k:
        raise _Invalid()
    span = size + 2 * ph - k
    out = (span + sy - 1) // sy + 1 if p.get('cover_all') else span // sy + 1
    if (kh, sy, ph, dy) != (kw, sx, pw, dx):
        return out, '{} with different kernel/stride/pad/dilation along the two axes'.format(what)
    if span % sy:
        return out, ('stride-{s} grid of a {k}x{k} {w} with pad {p} on a {n}x{n} map is not '
                     'symmetric about the centre ({n} + 2*{p} - {k} = {d} is not a multiple of '
                     '{s})'.format(s=sy, k=kh, w=what, p=ph, n=size, d=span))
    return out, ''


def _conv_filters_reason(op, planes, group):
    """(output planes, reason) for a convolution on maps with ``planes`` planes."""
    if op.params['groups'] != 1:
        return planes, 'grouped convolution (groups={})'.format(op.params['groups'])
    W, b = op.consts['W'], op.consts['b']
    if op.filter_group is None:  # a planar convolution
        if planes != 1:
            return 1, 'planar convolution over {}-plane G-feature maps'.format(planes)
        def same(a):  # equal up to float rounding
            tol = 8 * numpy.finfo(W.dtype).eps * float(numpy.abs(W).max(initial=0))
            return a.shape == W.shape and float(numpy.abs(a - W).max(initial=0)) <= tol

        ok = same(numpy.rot90(W, 1, axes=(2, 3)))
        if group == 'p4m':
            ok = ok and same(W[:, :, ::-1])
        return 1, '' if ok else ('planar convolution whose filters are not invariant under '
                                 '{}'.format('rotations' if group == 'p4' else
                                             'rotations and flips'))
    nti, nto = op.filter_group
    if nti != planes:
        return nto, 'G-convolution expects {}-plane input, got {} planes'.format(nti, planes)
    if group == 'p4m' and nto != 8:
        return nto, 'p4 G-convolution: filters are rotated but not flipped (not p4m)'
    if b is not None and not (b.reshape(-1, nto) == b.reshape(-1, nto)[:, :1]).all():
        return nto, 'bias differs between the stabiliser planes'
    return nto, ''


def _reduce(op, s):
    """State after a max/mean/sum over op.params['axis'] of a value in state s."""
    axes = set(op.params['axis'])
    ndim = len(op.in_shapes[0])
    if 0 in axes:
        return s, 'reduction over the batch axis'
    if s.what == 'vector':
        plane_axis = 2 if ndim == 3 else 1
        return _State('vector', 1 if plane_axis in axes else s.planes), ''
    grouped = ndim == 5
    plane_axes = {2} if grouped else {1}
    space = {3, 4} if grouped else {2, 3}
    if len(axes & space) == 1:
        return s, 'reduction over one spatial axis only'
    planes = 1 if axes & plane_axes else s.planes
    if axes & space:
        if op.params['keepdims']:  # a 1x1 map
            return _State('map', planes, 1), ''
        return _State('vector', planes), ''
    return _State('map', planes, s.size), ''


def _reshape(op, s, traced_size):
    src, dst = op.in_shapes[0], op.out_shape
    if s.what == 'map' and flat_shape(src) == flat_shape(dst):
        if len(dst) == 5 and dst[2] != s.planes:
            return s, 'reshape splits {} planes into {}'.format(s.planes, dst[2])
        return s, ''
    if s.what == 'vector':
        return s, ''
    if s.size != traced_size:
        raise _Invalid()  # the reshape's target size only fits the traced map size
    if s.size == 1:
        return _State('vector', s.planes), ''
    return s, 'flattens {0}x{0} maps into vectors'.format(s.size)


def _analyse(t, size, group):
    """(list of LayerExactness, output state) for square inputs of ``size``."""
    states = {INPUT: _State(  # the network input
        'map', t.input_shape[2] if len(t.input_shape) == 5 else 1, size)}
    if t.input_shape[-1] != t.input_shape[-2]:
        raise ValueError('exactness: input maps must be square, got {}'.format(t.input_shape))
    layers = []
    for i, op in enumerate(t.ops):
        ins = [states[j] for j in op.inputs]
        s = ins[0]
        in_traced = op.in_shapes[0][-1] if len(op.in_shapes[0]) >= 4 else None
        reason = ''
        if op.kind == 'conv':
            out, reason = _window(op.params, s.size, 'convolution')
            planes, filt = _conv_filters_reason(op, s.planes, group)
            reason = filt or reason
            new = _State('map', planes, out)
        elif op.kind in ('max_pool', 'avg_pool'):
            out, reason = _window(op.params, s.size, op.kind.replace('_', ' ') + 'ing')
            new = _State('map', s.planes, out)
        elif op.kind in ('bn', 'batch_stat_bn'):
            new = s
            if s.planes > 1 and len(op.in_shapes[0]) == 4 and s.what == 'map':
                if op.kind == 'batch_stat_bn':
                    reason = 'batch normalisation with separate statistics per plane'
                rows = numpy.stack([op.consts[k] for k in op.consts])
                rows = rows.reshape(len(op.consts), -1, s.planes)
                if not (rows == rows[:, :, :1]).all():
                    reason = 'batch normalisation with separate statistics per plane'
        elif op.kind == 'add':
            new = s
            if not ins[0].same(ins[1]):
                if ins[0].what == ins[1].what == 'map' and ins[0].size != ins[1].size:
                    raise _Invalid()
                reason = 'adds a {} to a {}'.format(ins[0].kind(), ins[1].kind())
        elif op.kind in ('max', 'mean', 'sum'):
            new, reason = _reduce(op, s)
        elif op.kind == 'reshape':
            new, reason = _reshape(op, s, in_traced)
        elif op.kind == 'linear':
            new = _State('vector', 1)
            if s.what != 'vector' or s.planes != 1:
                reason = 'linear layer on {} features'.format(s.kind())
        else:  # elementwise activations
            new = s
        lost_before = any(x.lost for x in ins)
        if lost_before:
            reason = ''
        new = _State(new.what, new.planes, new.size, lost_before or bool(reason))
        states[i] = new
        layers.append(LayerExactness(
            op.name, op.kind, s.size if s.what == 'map' else None,
            new.size if new.what == 'map' else None, not new.lost, reason))
    return layers, states[t.output]


def exactness(model: chainer.Link, input_shape: tuple, group: str = 'p4', forward=None,
              search: int = 32) -> 'ExactnessReport':
    """Analyse whether the 90-degree rotations (group 'p4') or rotations and flips ('p4m') of
    an input of ``input_shape`` map exactly onto transformed outputs, layer by layer.

    Args:
        model (chainer.Link): the network; ``model.logits`` (or ``forward``) is traced once on
            a random batch of ``input_shape`` ((N, C, H, W) images, H == W).
        group (str): 'p4' or 'p4m'.
        search (int): how far (in pixels) to look for nearby sizes that keep exactness.

    Returns:
        ExactnessReport (``print`` it for a per-layer table). Raises UnsupportedLayerError for a
        function the analysis does not know (see :mod:`~groupy.gconv.chainer_gconv.trace`).

    >>> from groupy.gconv.chainer_gconv import P4ConvZ2
    >>> net = P4ConvZ2(1, 2, ksize=3, stride=2)
    >>> exactness(net, (1, 1, 9, 9)).exact
    True
    >>> report = exactness(net, (1, 1, 8, 8))
    >>> report.exact, report.suggested_sizes
    (False, [7, 9])
    """
    if group not in _GROUPS:
        raise ValueError("exactness: group must be 'p4' or 'p4m', got {!r}".format(group))
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) not in (4, 5):
        raise ValueError('exactness: input_shape must be (N, C, H, W), got {}'.format(
            input_shape))
    params = [p for p in model.params() if p.array is not None]
    dtype = params[0].dtype if params else numpy.float32
    x = numpy.random.RandomState(0).standard_normal(input_shape).astype(dtype)
    t = trace(model, model.device.send(x), forward=forward)
    size = input_shape[-1]
    layers, out = _analyse(t, size, group)
    report_kind = out.kind()
    suggestions = []
    if out.lost:
        below = above = None
        for d in range(1, search + 1):
            for cand in (size - d, size + d):
                if cand < 1 or (cand < size and below) or (cand > size and above):
                    continue
                try:
                    cand_layers, cand_out = _analyse(t, cand, group)
                except _Invalid:
                    continue
                if not cand_out.lost:
                    if cand < size:
                        below = cand
                    else:
                        above = cand
        suggestions = sorted((s for s in (below, above) if s), key=lambda s: (abs(s - size), s))
    return ExactnessReport(input_shape, group, layers, report_kind, suggestions)

"""A faster CPU 2-D convolution for Chainer (NCHW, float32/float64).

Chainer's own CPU convolution builds the whole im2col matrix of the batch,
multiplies it with ``numpy.tensordot`` (which copies both operands again to
transpose them) and loops over the kernel taps in ``col2im``.  Here the batch is
cut into chunks whose im2col matrix fits in the CPU cache; each chunk is copied
once, from a stride-trick view, into a reused buffer laid out as
``(C, kh, kw, n, Ho, Wo)`` and multiplied by ``W`` with ONE matrix product
``(O, C*kh*kw) @ (C*kh*kw, n*Ho*Wo)`` (bias added in place).  Chunks run on a
few Python threads (``numpy`` releases the GIL) with the BLAS pinned to one
thread meanwhile, which is faster than BLAS threading for these thin matrices.

The operation is split into three linear :class:`chainer.FunctionNode` s, each
of whose backward is written with the other two, so gradients of any order are
exact:

* :class:`Convolution2DCPU`: ``y = conv(x, W) + b``;
* :class:`ConvTranspose2DCPU`: ``x = conv^T(y, W)`` (the adjoint in ``x``);
* :class:`Convolution2DGradWCPU`: ``gW = d<conv(x, W), gy>/dW``.

:func:`convolution_2d` has the semantics of
:func:`chainer.functions.convolution_2d` for ``stride >= 1``, ``pad >= 0``
(int or pair), ``cover_all=False``, no dilation and no groups.  It falls back to
Chainer's implementation for non-NumPy arrays (CuPy), for dtypes other than
float32/float64, and when disabled with ``GROUPY_FAST_CPU_CONV=0`` in the
environment or ``chainer.config.groupy_fast_cpu_conv = False``.  The number of
worker threads is ``GROUPY_CPU_CONV_THREADS`` (default: the usable cores, at
most 8), or :func:`set_num_threads`.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy
from numpy.lib.stride_tricks import as_strided

import chainer
from chainer import function_node
from chainer.utils import type_check

from groupy.gconv.chainer_gconv._checks import int_pair
from groupy.gconv.chainer_gconv.fast_cpu import array_of as _data, fast_cpu_enabled

try:  # optional: pins the BLAS to one thread while our workers run
    import threadpoolctl
except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
    threadpoolctl = None

# Bytes of im2col buffer per chunk: small enough to stay in the L2/L3 cache.
_CHUNK_BYTES = 1 << 21
# Below this many multiply-adds a single thread is faster than dispatching.
_MIN_PARALLEL_MACS = 4_000_000


def _default_num_threads():
    env = os.environ.get('GROUPY_CPU_CONV_THREADS')
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError('GROUPY_CPU_CONV_THREADS must be a positive integer, '
                             'got {!r}'.format(env)) from None
        if n < 1:
            raise ValueError('GROUPY_CPU_CONV_THREADS must be a positive integer, '
                             'got {!r}'.format(env))
        return n
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))


_state = {'num_threads': _default_num_threads(), 'pool': None, 'blas': None}
_state_lock = threading.Lock()


def set_num_threads(n):
    """Sets how many threads the CPU convolution uses (1 = no threads)."""
    if isinstance(n, bool) or not isinstance(n, (int, numpy.integer)) or n < 1:
        raise ValueError('set_num_threads: n must be a positive integer, got {!r}'.format(n))
    with _state_lock:
        if _state['pool'] is not None:
            _state['pool'].shutdown(wait=True)
            _state['pool'] = None
        _state['num_threads'] = int(n)


def get_num_threads():
    """Returns how many threads the CPU convolution uses."""
    return _state['num_threads']


def _pool():
    with _state_lock:
        if _state['pool'] is not None and _state.get('pid') != os.getpid():
            _state['pool'] = None  # a forked child: the parent's worker threads do not exist here
        if _state['pool'] is None:
            _state['pid'] = os.getpid()
            _state['pool'] = ThreadPoolExecutor(
                _state['num_threads'], thread_name_prefix='groupy-cpu-conv')
        if _state['blas'] is None and threadpoolctl is not None:
            _state['blas'] = threadpoolctl.ThreadpoolController()
        return _state['pool']


class _Geometry:
    """Shapes of one convolution: x (n, c, h, w), W (o, c, kh, kw) -> y (n, o, ho, wo)."""

    def __init__(self, x_shape, w_shape, stride, pad):
        self.n, self.c, self.h, self.w = x_shape
        self.o, _, self.kh, self.kw = w_shape
        self.sy, self.sx = stride
        self.ph, self.pw = pad
        self.hp, self.wp = self.h + 2 * self.ph, self.w + 2 * self.pw
        self.ho = (self.hp - self.kh) // self.sy + 1
        self.wo = (self.wp - self.kw) // self.sx + 1
        if self.ho < 1 or self.wo < 1:
            raise ValueError(
                'convolution_2d: the kernel {}x{} does not fit in the padded input {}x{} '
                '(input {}x{}, pad {})'.format(self.kh, self.kw, self.hp, self.wp,
                                               self.h, self.w, pad))
        self.k = self.c * self.kh * self.kw
        self.p = self.ho * self.wo

    def chunk(self, itemsize):
        return max(1, min(self.n, _CHUNK_BYTES // (self.k * self.p * itemsize)))


def _parallel(g, itemsize, work):
    """Runs work(n0, n1, bb) over the batch, chunk by chunk, on the worker threads.

    Returns the list of the workers' return values."""
    bb = g.chunk(itemsize)
    n_chunks = -(-g.n // bb)
    workers = min(_state['num_threads'], n_chunks)
    if workers <= 1 or g.n * g.p * g.k * g.o < _MIN_PARALLEL_MACS:
        return [work(0, g.n, bb)]
    per = -(-n_chunks // workers) * bb
    ranges = [(s, min(g.n, s + per)) for s in range(0, g.n, per)]
    pool = _pool()
    blas = _state['blas']
    limit = blas.limit(limits=1, user_api='blas') if blas is not None else None
    try:
        futures = [pool.submit(work, s, e, bb) for s, e in ranges[1:]]
        results = [work(ranges[0][0], ranges[0][1], bb)]
        results += [f.result() for f in futures]
    finally:
        if limit is not None:
            limit.restore_original_limits()
    return results


def map_batch_slices(n, work, parallel=True):
    """Runs ``work(n0, n1)`` on contiguous slices of ``range(n)``, one per worker thread, and
    returns the results in slice order (one slice, inline, when ``parallel`` is false or there
    is one thread). For memory-bound NumPy code, which releases the GIL: the elementwise passes
    of the fast CPU batch normalisation, for instance."""
    workers = min(_state['num_threads'], n) if parallel else 1
    if workers <= 1:
        return [work(0, n)]
    per = -(-n // workers)
    ranges = [(s, min(n, s + per)) for s in range(0, n, per)]
    pool = _pool()
    futures = [pool.submit(work, s, e) for s, e in ranges[1:]]
    return [work(*ranges[0])] + [f.result() for f in futures]


_scratch = threading.local()


def _buffer(name, size, dtype):
    """A flat scratch array of ``size`` items, kept per thread and reused between calls (fresh
    multi-megabyte allocations would cost page faults on every call)."""
    store = _scratch.__dict__
    buf = store.get((name, dtype))
    if buf is None or buf.size < size:
        buf = numpy.empty(max(size, 1), dtype)
        store[(name, dtype)] = buf
    return buf[:size]


def _im2col_chunk(g, x, n0, n1, dtype):
    """The patches of x[n0:n1] as a matrix (c * kh * kw, nb * ho * wo), rows ordered (c, i, j)
    and columns (n, u, v): one copy from a stride-trick view of a zero-padded scratch copy."""
    nb = n1 - n0
    xp = _buffer('padded', g.c * nb * g.hp * g.wp, dtype).reshape(g.c, nb, g.hp, g.wp)
    if g.ph or g.pw:
        xp.fill(0)
    xp[:, :, g.ph:g.ph + g.h, g.pw:g.pw + g.w] = x[n0:n1].transpose(1, 0, 2, 3)
    s_c, s_n, s_h, s_w = xp.strides
    patches = as_strided(xp, (g.c, g.kh, g.kw, nb, g.ho, g.wo),
                         (s_c, s_h, s_w, s_n, s_h * g.sy, s_w * g.sx), writeable=False)
    col = _buffer('col', g.k * nb * g.p, dtype).reshape(g.c, g.kh, g.kw, nb, g.ho, g.wo)
    numpy.copyto(col, patches)
    return col.reshape(g.k, nb * g.p)


def _channel_major_chunk(a, n0, n1, name):
    """a[n0:n1] (nb, ch, h, w) copied to a scratch matrix (ch, nb * h * w)."""
    nb, ch = n1 - n0, a.shape[1]
    out = _buffer(name, a[0].size * nb, a.dtype).reshape(ch, nb, a.shape[2], a.shape[3])
    out[...] = a[n0:n1].transpose(1, 0, 2, 3)
    return out.reshape(ch, -1)


def conv2d_forward(x, W, b, stride, pad):
    """y[n, o] = sum_{c,i,j} W[o, c, i, j] x_pad[n, c, sy*u + i, sx*v + j] + b[o] (NumPy)."""
    g = _Geometry(x.shape, W.shape, stride, pad)
    y = numpy.empty((g.n, g.o, g.ho, g.wo), x.dtype)
    w2 = W.reshape(g.o, g.k)

    def work(n_start, n_stop, bb):
        for n0 in range(n_start, n_stop, bb):
            n1 = min(n_stop, n0 + bb)
            out = _buffer('out', g.o * (n1 - n0) * g.p, x.dtype).reshape(g.o, -1)
            numpy.matmul(w2, _im2col_chunk(g, x, n0, n1, x.dtype), out=out)
            if b is not None:
                out += b[:, None]
            y[n0:n1] = out.reshape(g.o, n1 - n0, g.ho, g.wo).transpose(1, 0, 2, 3)

    _parallel(g, x.dtype.itemsize, work)
    return y


def conv2d_transpose(gy, W, stride, pad, out_hw):
    """The adjoint of conv2d_forward in x: gy (n, o, ho, wo) -> gx (n, c, h, w) (NumPy).

    Each chunk is one matrix product W^T gy -> columns (c, i, j, n, u, v), then a scatter-add
    of the kh * kw taps (col2im) into a padded scratch map."""
    n, _, ho, wo = gy.shape
    g = _Geometry((n, W.shape[1]) + tuple(out_hw), W.shape, stride, pad)
    if (g.ho, g.wo) != (ho, wo):
        raise ValueError('conv2d_transpose: gy has spatial size {}x{} but a {}x{} output is '
                         'expected for input {}x{}'.format(ho, wo, g.ho, g.wo, g.h, g.w))
    gx = numpy.empty((g.n, g.c, g.h, g.w), gy.dtype)
    w2t = W.reshape(g.o, g.k).T
    ey, ex = g.sy * (g.ho - 1) + 1, g.sx * (g.wo - 1) + 1

    def work(n_start, n_stop, bb):
        for n0 in range(n_start, n_stop, bb):
            nb = min(n_stop, n0 + bb) - n0
            gcol = _buffer('col', g.k * nb * g.p, gy.dtype).reshape(g.k, -1)
            numpy.matmul(w2t, _channel_major_chunk(gy, n0, n0 + nb, 'gy'), out=gcol)
            gcol = gcol.reshape(g.c, g.kh, g.kw, nb, g.ho, g.wo)
            acc = _buffer('padded', g.c * nb * g.hp * g.wp, gy.dtype).reshape(
                g.c, nb, g.hp, g.wp)
            acc.fill(0)
            for i in range(g.kh):
                for j in range(g.kw):
                    acc[:, :, i:i + ey:g.sy, j:j + ex:g.sx] += gcol[:, i, j]
            gx[n0:n0 + nb] = acc[:, :, g.ph:g.ph + g.h, g.pw:g.pw + g.w].transpose(1, 0, 2, 3)

    _parallel(g, gy.dtype.itemsize, work)
    return gx


def conv2d_grad_w(x, gy, stride, pad, ksize):
    """gW[o, c, i, j] = sum_{n,u,v} gy[n, o, u, v] x_pad[n, c, sy*u + i, sx*v + j] (NumPy)."""
    g = _Geometry(x.shape, (gy.shape[1], x.shape[1]) + tuple(ksize), stride, pad)
    if (g.n, g.ho, g.wo) != (gy.shape[0],) + gy.shape[2:]:
        raise ValueError('conv2d_grad_w: gy has shape {} but {} is expected for x of shape {}'
                         .format(gy.shape, (g.n, g.o, g.ho, g.wo), x.shape))

    def work(n_start, n_stop, bb):
        gw = numpy.zeros((g.o, g.k), x.dtype)
        for n0 in range(n_start, n_stop, bb):
            n1 = min(n_stop, n0 + bb)
            gyb = _channel_major_chunk(gy, n0, n1, 'gy')
            gw += gyb @ _im2col_chunk(g, x, n0, n1, x.dtype).T
        return gw

    parts = _parallel(g, x.dtype.itemsize, work)
    gw = parts[0]
    for part in parts[1:]:
        gw += part
    return gw.reshape(g.o, g.c, g.kh, g.kw)


def _require_numpy(node, inputs):
    for a in inputs:
        if not isinstance(a, numpy.ndarray):
            raise TypeError('{} runs on NumPy arrays only, got {}; use '
                            'groupy.gconv.chainer_gconv.cpu_conv2d.convolution_2d, which '
                            'falls back to Chainer for other arrays'
                            .format(node.label, type(a).__name__))


class Convolution2DCPU(function_node.FunctionNode):
    """y = conv(x, W) + b for x (N, C, H, W), W (O, C, kh, kw), b (O,) -> y (N, O, Ho, Wo)."""

    def __init__(self, stride, pad):
        self.stride, self.pad = stride, pad

    @property
    def label(self):
        return 'Convolution2DCPU'

    def check_type_forward(self, in_types):
        n_in = in_types.size()
        type_check.expect(2 <= n_in, n_in <= 3)
        x_type, w_type = in_types[:2]
        type_check.expect(
            x_type.dtype.kind == 'f',
            w_type.dtype == x_type.dtype,
            x_type.ndim == 4,
            w_type.ndim == 4,
            x_type.shape[1] == w_type.shape[1],
        )
        if type_check.eval(n_in) == 3:
            b_type = in_types[2]
            type_check.expect(b_type.dtype == x_type.dtype, b_type.ndim == 1,
                              b_type.shape[0] == w_type.shape[0])

    def forward(self, inputs):
        _require_numpy(self, inputs)
        self.retain_inputs((0, 1))
        x, W = inputs[:2]
        b = inputs[2] if len(inputs) == 3 else None
        return conv2d_forward(x, W, b, self.stride, self.pad),

    def backward(self, indexes, grad_outputs):
        x, W = self.get_retained_inputs()
        gy, = grad_outputs
        ret = []
        if 0 in indexes:
            ret.append(ConvTranspose2DCPU(self.stride, self.pad, x.shape[2:]).apply((gy, W))[0])
        if 1 in indexes:
            ret.append(Convolution2DGradWCPU(self.stride, self.pad, W.shape[2:])
                       .apply((x, gy))[0])
        if 2 in indexes:
            ret.append(chainer.functions.sum(gy, axis=(0, 2, 3)))
        return ret


class ConvTranspose2DCPU(function_node.FunctionNode):
    """x = conv^T(y, W): the adjoint of Convolution2DCPU in its input.

    y (N, O, Ho, Wo), W (O, C, kh, kw) -> x (N, C, *out_hw)."""

    def __init__(self, stride, pad, out_hw):
        self.stride, self.pad, self.out_hw = stride, pad, tuple(out_hw)

    @property
    def label(self):
        return 'ConvTranspose2DCPU'

    def check_type_forward(self, in_types):
        type_check._argname(in_types, ('gy', 'W'))
        gy_type, w_type = in_types
        type_check.expect(gy_type.dtype.kind == 'f', w_type.dtype == gy_type.dtype,
                          gy_type.ndim == 4, w_type.ndim == 4,
                          gy_type.shape[1] == w_type.shape[0])

    def forward(self, inputs):
        _require_numpy(self, inputs)
        self.retain_inputs((0, 1))
        gy, W = inputs
        return conv2d_transpose(gy, W, self.stride, self.pad, self.out_hw),

    def backward(self, indexes, grad_outputs):
        gy, W = self.get_retained_inputs()
        ggx, = grad_outputs
        ret = []
        if 0 in indexes:
            ret.append(Convolution2DCPU(self.stride, self.pad).apply((ggx, W))[0])
        if 1 in indexes:
            ret.append(Convolution2DGradWCPU(self.stride, self.pad, W.shape[2:])
                       .apply((ggx, gy))[0])
        return ret


class Convolution2DGradWCPU(function_node.FunctionNode):
    """gW = gradient of <conv(x, W), gy> in W: x (N, C, H, W), gy (N, O, Ho, Wo) -> (O, C, kh, kw)."""

    def __init__(self, stride, pad, ksize):
        self.stride, self.pad, self.ksize = stride, pad, tuple(ksize)

    @property
    def label(self):
        return 'Convolution2DGradWCPU'

    def check_type_forward(self, in_types):
        type_check._argname(in_types, ('x', 'gy'))
        x_type, gy_type = in_types
        type_check.expect(x_type.dtype.kind == 'f', gy_type.dtype == x_type.dtype,
                          x_type.ndim == 4, gy_type.ndim == 4,
                          x_type.shape[0] == gy_type.shape[0])

    def forward(self, inputs):
        _require_numpy(self, inputs)
        self.retain_inputs((0, 1))
        x, gy = inputs
        return conv2d_grad_w(x, gy, self.stride, self.pad, self.ksize),

    def backward(self, indexes, grad_outputs):
        x, gy = self.get_retained_inputs()
        ggw, = grad_outputs
        ret = []
        if 0 in indexes:
            ret.append(ConvTranspose2DCPU(self.stride, self.pad, x.shape[2:]).apply((gy, ggw))[0])
        if 1 in indexes:
            ret.append(Convolution2DCPU(self.stride, self.pad).apply((x, ggw))[0])
        return ret


def fast_path_applies(x, W, b=None):
    """True when convolution_2d would use the fast NumPy path for these inputs."""
    return fast_cpu_enabled(x, W, *([] if b is None else [b]))


def convolution_2d(x, W, b=None, stride=1, pad=0, cover_all=False, **kwargs):
    """Two-dimensional convolution, a drop-in for :func:`chainer.functions.convolution_2d`.

    Args:
        x: input (N, C, H, W).
        W: filters (O, C, kh, kw).
        b: bias (O,) or None.
        stride: int or (sy, sx), >= 1.
        pad: int or (ph, pw), >= 0 (zero padding on both sides).
        cover_all: only False is supported.
        dilate, groups: only 1 is supported.

    Returns:
        chainer.Variable (N, O, Ho, Wo) with Ho = (H + 2 ph - kh) // sy + 1.

    NumPy float32/float64 inputs of one dtype use the fast CPU path; anything else
    (CuPy arrays, float16, mixed dtypes) goes to Chainer's own implementation.
    """
    dilate = kwargs.pop('dilate', 1)
    groups = kwargs.pop('groups', 1)
    if kwargs:
        raise TypeError('convolution_2d: unexpected keyword arguments {}'.format(sorted(kwargs)))
    if cover_all:
        raise ValueError('convolution_2d: cover_all=True is not supported (use False)')
    if int_pair(dilate, 'convolution_2d: dilate', 1) != (1, 1):
        raise ValueError('convolution_2d: dilate={!r} is not supported (only 1)'.format(dilate))
    if groups != 1:
        raise ValueError('convolution_2d: groups={!r} is not supported (only 1)'.format(groups))
    stride = int_pair(stride, 'convolution_2d: stride', 1)
    pad = int_pair(pad, 'convolution_2d: pad', 0)
    if not fast_path_applies(x, W, b):
        return chainer.functions.convolution_2d(x, W, b, stride=stride, pad=pad)
    xs, ws = _data(x).shape, _data(W).shape
    if len(xs) != 4 or len(ws) != 4 or xs[1] != ws[1]:
        raise ValueError('convolution_2d: expected x of shape (N, C, H, W) and W of shape '
                         '(O, C, kh, kw) with the same C, got x {} and W {}'.format(xs, ws))
    inputs = (x, W) if b is None else (x, W, b)
    return Convolution2DCPU(stride, pad).apply(inputs)[0]


class Convolution2D(chainer.links.Convolution2D):
    """:class:`chainer.links.Convolution2D` (same arguments, parameters and serialisation) whose
    forward runs :func:`convolution_2d` of this module: the fast CPU path for NumPy
    float32/float64, Chainer's own convolution otherwise (CuPy, float16, or switched off with
    ``GROUPY_FAST_CPU_CONV=0`` / ``chainer.config.groupy_fast_cpu_conv = False``).

    x (N, in_channels, H, W) -> (N, out_channels, H', W'), H' = (H + 2 pad - k) // stride + 1.
    ``dilate`` and ``groups`` other than 1 are rejected (ValueError)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if tuple(self.dilate) != (1, 1) or self.groups != 1:
            raise ValueError('Convolution2D: dilate={!r}, groups={!r} are not supported by '
                             'the fast CPU convolution (only 1)'.format(self.dilate, self.groups))

    def forward(self, x):
        if self.W.raw_array is None:
            self._initialize_params(x.shape[1])
        return convolution_2d(x, self.W, self.b, self.stride, self.pad)

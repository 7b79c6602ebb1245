"""A faster CPU 2-D convolution for Chainer (NCHW, float32/float64), a drop-in for
:func:`chainer.functions.convolution_2d` and :class:`chainer.links.Convolution2D`.

The operation is split into three linear :class:`chainer.FunctionNode` s, each of whose backward
is written with the other two, so gradients of any order are exact (the NumPy kernels are in
:mod:`groupy.fast_cpu.conv2d_kernels`):

* :class:`Convolution2DCPU`: ``y = conv(x, W) + b``;
* :class:`ConvTranspose2DCPU`: ``x = conv^T(y, W)`` (the adjoint in ``x``);
* :class:`Convolution2DGradWCPU`: ``gW = d<conv(x, W), gy>/dW``.

:func:`convolution_2d` has the semantics of :func:`chainer.functions.convolution_2d` for
``stride >= 1``, ``pad >= 0`` (int or pair), ``cover_all=False``, no dilation and no groups. It
falls back to Chainer's implementation for non-NumPy arrays (CuPy), for dtypes other than
float32/float64, and when the switch of :mod:`groupy.fast_cpu.switch` is off.
"""
import numpy

import chainer
from chainer import function_node
from chainer.utils import type_check

from groupy._checks import int_pair
from groupy.fast_cpu.conv2d_kernels import conv2d_forward, conv2d_grad_w, conv2d_transpose
from groupy.fast_cpu.switch import array_of as _data, fast_cpu_enabled
from groupy.fast_cpu.threads import get_num_threads, set_num_threads  # noqa: F401


def _require_numpy(node, inputs):
    for a in inputs:
        if not isinstance(a, numpy.ndarray):
            raise TypeError('{} runs on NumPy arrays only, got {}; use '
                            'groupy.fast_cpu.conv2d, which '
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

"""A faster CPU 2-D convolution for Chainer (NCHW, float32/float64), a drop-in for
:func:`chainer.functions.convolution_2d` and :class:`chainer.links.Convolution2D`.

The three nodes are Chainer's own convolution nodes, subclassed, and keep their names (tools
keyed on class names, such as onnx-chainer, see Chainer's convolution):

* :class:`Convolution2DFunction`: ``y = conv(x, W) + b``;
* :class:`Deconvolution2DFunction`: ``x = conv^T(gy, W)`` (the adjoint in ``x``);
* :class:`Convolution2DGradW`: ``gW = d<conv(x, W), gy>/dW``.

Each replaces ``forward_cpu`` with the kernels of :mod:`groupy.fast_cpu.conv2d_kernels` where
they apply (NumPy float32/float64 arrays of one dtype, no dilation, no groups, no
``cover_all``, the switch of :mod:`groupy.fast_cpu.switch` on) and sets ``fast_path``; its
``backward`` is then written with the other two nodes, so gradients of any order are exact.
Anything else (CuPy, float16, mixed dtypes, the other options, the switch off) is Chainer's own
code, forward and backward.
"""
import chainer
from chainer.functions.connection import convolution_2d as _conv
from chainer.functions.connection import deconvolution_2d as _deconv

from groupy._checks import check_conv_inputs, int_pair, positive_int
from groupy.fast_cpu.conv2d_kernels import conv2d_forward, conv2d_grad_w, conv2d_transpose
from groupy.fast_cpu.switch import fast_cpu_enabled
from groupy.fast_cpu.threads import get_num_threads, set_num_threads  # noqa: F401

__all__ = ['Convolution2D', 'Convolution2DFunction', 'Convolution2DGradW',
           'Deconvolution2DFunction', 'convolution_2d']


def _plain(node, inputs):
    """True when ``node`` (a convolution node of Chainer's) may take the fast path on
    ``inputs``: no dilation, no groups, no cover_all, NumPy float32/float64 of one dtype."""
    return ((node.dy, node.dx) == (1, 1) and node.groups == 1 and not node.cover_all
            and fast_cpu_enabled(*inputs))


def _geometry(node):
    return (node.sy, node.sx), (node.ph, node.pw)


def _grad_w(node, W):
    """The weight-gradient node of a convolution with ``node``'s stride and padding."""
    return Convolution2DGradW(node, W.shape, W.dtype, None)


class Convolution2DFunction(_conv.Convolution2DFunction):
    """Chainer's convolution node with the fast NumPy forward pass; x (N, C, H, W),
    W (O, C, kh, kw), b (O,) -> y (N, O, Ho, Wo)."""

    fast_path = False

    def forward_cpu(self, inputs):
        if self.cudnn_fast or not _plain(self, inputs):
            return super().forward_cpu(inputs)
        self.fast_path = True
        self.retain_inputs((0, 1))
        x, W = inputs[:2]
        b = inputs[2] if len(inputs) == 3 else None
        return conv2d_forward(x, W, b, *_geometry(self)),

    def backward(self, indexes, grad_outputs):
        if not self.fast_path:
            return super().backward(indexes, grad_outputs)
        x, W = self.get_retained_inputs()
        gy, = grad_outputs
        stride, pad = _geometry(self)
        ret = []
        if 0 in indexes:
            ret.append(Deconvolution2DFunction(stride, pad, x.shape[2:]).apply((gy, W))[0])
        if 1 in indexes:
            ret.append(_grad_w(self, W).apply((x, gy))[0])
        if 2 in indexes:
            ret.append(chainer.functions.sum(gy, axis=(0, 2, 3)))
        return ret


class Deconvolution2DFunction(_deconv.Deconvolution2DFunction):
    """Chainer's transposed convolution node with the fast NumPy forward pass (the adjoint of
    :class:`Convolution2DFunction` in its input): gy (N, O, Ho, Wo), W (O, C, kh, kw) ->
    x ``(N, C, *outsize)``."""

    fast_path = False

    def forward_cpu(self, inputs):
        if len(inputs) != 2 or not _plain(self, inputs):
            return super().forward_cpu(inputs)
        self.fast_path = True
        self.retain_inputs((0, 1))
        gy, W = inputs
        return conv2d_transpose(gy, W, *_geometry(self), (self.outh, self.outw)),

    def backward(self, indexes, grad_outputs):
        if not self.fast_path:
            return super().backward(indexes, grad_outputs)
        gy, W = self.get_retained_inputs()
        ggx, = grad_outputs
        ret = []
        if 0 in indexes:
            ret.append(Convolution2DFunction(*_geometry(self)).apply((ggx, W))[0])
        if 1 in indexes:
            ret.append(_grad_w(self, W).apply((ggx, gy))[0])
        return ret


class Convolution2DGradW(_conv.Convolution2DGradW):
    """Chainer's weight-gradient node with the fast NumPy forward pass: x (N, C, H, W),
    gy (N, O, Ho, Wo) -> gW (O, C, kh, kw)."""

    fast_path = False

    def forward_cpu(self, inputs):
        if not _plain(self, inputs):
            return super().forward_cpu(inputs)
        self.fast_path = True
        self.retain_inputs((0, 1))
        x, gy = inputs
        return conv2d_grad_w(x, gy, *_geometry(self), (self.kh, self.kw)),

    def backward(self, indexes, grad_outputs):
        if not self.fast_path:
            return super().backward(indexes, grad_outputs)
        x, gy = self.get_retained_inputs()
        ggw, = grad_outputs
        stride, pad = _geometry(self)
        ret = []
        if 0 in indexes:
            ret.append(Deconvolution2DFunction(stride, pad, x.shape[2:]).apply((gy, ggw))[0])
        if 1 in indexes:
            ret.append(Convolution2DFunction(stride, pad).apply((x, ggw))[0])
        return ret


def convolution_2d(x, W, b=None, stride=1, pad=0, cover_all: bool = False, *, dilate=1,
                   groups: int = 1) -> chainer.Variable:
    """Two-dimensional convolution, a drop-in for :func:`chainer.functions.convolution_2d`.

    Args:
        x: input (N, C, H, W).
        W: filters (O, C / groups, kh, kw).
        b: bias (O,) or None.
        stride: int or (sy, sx), >= 1.
        pad: int or (ph, pw), >= 0 (zero padding on both sides).
        cover_all, dilate, groups: as in Chainer (other values than False, 1 and 1 always run
            Chainer's own code).

    Returns:
        chainer.Variable (N, O, Ho, Wo) with Ho = (H + 2 ph - kh) // sy + 1.

    >>> import numpy
    >>> x = numpy.ones((1, 2, 5, 5), numpy.float32)
    >>> W = numpy.ones((3, 2, 3, 3), numpy.float32)
    >>> y = convolution_2d(x, W, pad=1)
    >>> y.shape, float(y.array[0, 0, 2, 2]), y.creator.fast_path
    ((1, 3, 5, 5), 18.0, True)
    """
    stride = int_pair(stride, 'convolution_2d: stride', 1)
    pad = int_pair(pad, 'convolution_2d: pad', 0)
    dilate = int_pair(dilate, 'convolution_2d: dilate', 1)
    groups = positive_int(groups, 'convolution_2d: groups')
    check_conv_inputs(x, W, b, groups, 'convolution_2d')
    node = Convolution2DFunction(stride, pad, bool(cover_all), dilate=dilate, groups=groups)
    return node.apply((x, W) if b is None else (x, W, b))[0]


class Convolution2D(chainer.links.Convolution2D):
    """:class:`chainer.links.Convolution2D` (same arguments, parameters and serialisation) whose
    forward runs :func:`convolution_2d` of this module: the fast CPU path for NumPy
    float32/float64, Chainer's own convolution otherwise (CuPy, float16, dilation, groups, or
    switched off with ``GROUPY_FAST_CPU_CONV=0`` / ``chainer.config.groupy_fast_cpu_conv =
    False``).

    x (N, in_channels, H, W) -> (N, out_channels, H', W'), H' = (H + 2 pad - k) // stride + 1.

    >>> import numpy
    >>> conv = Convolution2D(2, 4, ksize=3, pad=1)
    >>> conv(numpy.zeros((1, 2, 6, 6), numpy.float32)).shape
    (1, 4, 6, 6)
    """

    def forward(self, x):
        if self.W.raw_array is None:
            self._initialize_params(x.shape[1])
        return convolution_2d(x, self.W, self.b, self.stride, self.pad, dilate=self.dilate,
                              groups=self.groups)

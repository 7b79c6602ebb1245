"""SplitGConv2D: a group convolution computed as one filter transform + one plain convolution.

A G-convolution layer from a group with input stabiliser H_in (size nis: 1 for Z2, 4 for C4,
8 for D4) to output stabiliser H_out (size nos) correlates the input with every transformed copy
``s . psi`` (s in H_out) of each filter ``psi``. The copies are obtained by
:func:`~groupy.gconv.chainer_gconv.transform_filter.transform_filter` from the index table of
the subclass (:meth:`SplitGConv2D.make_transformation_indices`); "split" because the group
convolution is then split into that gather and a single planar
:func:`chainer.functions.convolution_2d` with ``in * nis`` input and ``out * nos`` output
channels, which is where all the arithmetic happens.

Shapes: ``W`` (out, in, nis, k, k), ``b`` (out,) shared over the output stabiliser;
input (N, in, nis, H, W), output (N, out, nos, H', W'), or the flattened
(N, in * nis, H, W) -> (N, out * nos, H', W') with ``flat_channels=True``.

Equivariance: with stride 1 and any symmetric ``pad``, rotating/flipping the input about the
centre of its map (``numpy.rot90`` / ``numpy.flip`` on the spatial axes, together with the
permutation of the stabiliser axis) rotates/flips the output about the centre of *its* map. For
even ``ksize`` the filters are transformed about the centre of the k x k grid (half-shifted
stabiliser), so the output of a map of size H has size H + 2 * pad - k + 1; use
``pad = k // 2`` and ``pad = k // 2 - 1`` alternately to keep the size within one pixel.
"""
import functools
import inspect
import math
from typing import Optional

import numpy

import chainer
from chainer import functions as F
from chainer import initializers, link

from groupy._checks import check_float, float_dtype, int_pair, positive_int
from groupy.gconv.chainer_gconv._deprecated import ignore_use_cudnn
# fast CPU convolution (NumPy float32/64); falls back to F.convolution_2d otherwise
from groupy.fast_cpu.conv2d import convolution_2d
from groupy.gconv.chainer_gconv.transform_filter import GFilterIndex, transform_filter
from groupy.gconv.make_gconv_indices import check_ksize

__all__ = ['SplitGConv2D']


@functools.lru_cache(maxsize=None)
def _gfilter_index(make_indices, ksize):
    """The GFilterIndex of ``make_indices(ksize)``, built once per (table builder, ksize)."""
    return GFilterIndex(make_indices(ksize))


class SplitGConv2D(link.Link):
    """Base class of the G-convolution links (use a subclass: P4ConvZ2, P4ConvP4, ...).

    Args:
        in_channels (int or None): number of input feature maps per stabiliser element
            (``None``: inferred from the first input).
        out_channels (int): number of output feature maps per stabiliser element.
        ksize (int): filter size k (odd or even), 1 to 64
            (``groupy.gconv.make_gconv_indices.MAX_KSIZE``).
        filter_mask (array or None): 0/1 (or real) mask multiplied into ``W`` before the
            transform: of shape (out, in, nis) (as in the original GrouPy: which input
            channels/stabiliser planes each output channel sees, applied to every pixel of the
            filter), or broadcastable to ``W``'s shape (out, in, nis, k, k), e.g. a (k, k) disc,
            which must itself be invariant under the stabiliser to keep equivariance.
        flat_channels (bool): input/output with the stabiliser folded into the channel axis,
            (N, in * nis, H, W) -> (N, out * nos, H', W').
        stride (int or pair), pad (int or pair): as in :func:`chainer.functions.convolution_2d`.
        wscale (float): the default initialiser draws ``W`` from
            normal(0, wscale * sqrt(1 / (nis * k * k * in_channels))).
        nobias (bool): no bias.
        use_cudnn: the original GrouPy's argument; ignored with a DeprecationWarning (use
            ``chainer.using_config('use_cudnn', ...)``).
        initialW, initial_bias: initialisers or arrays for ``W`` (shape (out, in, nis, k, k)) and
            ``b`` (shape (out,)); ``b`` defaults to 0.
        dtype: float16, float32 or float64, the dtype of the parameters and of the inputs.

    Input (N, in, nis, H, W) (for nis == 1 also a plain image batch (N, in, H, W)); output
    (N, out, nos, H', W') with H' = (H + 2 * pad - k) // stride + 1. A wrong rank, channel
    count, stabiliser size or dtype raises ValueError naming the expected shape.

    >>> import numpy
    >>> from groupy.gconv.chainer_gconv import P4ConvP4
    >>> conv = P4ConvP4(2, 3, ksize=3, pad=1)
    >>> print(conv)
    P4ConvP4(in_channels=2, out_channels=3, ksize=3, stride=(1, 1), pad=(1, 1), \
input_stabilizer_size=4, output_stabilizer_size=4, nobias=False, flat_channels=False)
    >>> conv(numpy.zeros((1, 2, 4, 5, 5), numpy.float32)).shape
    (1, 3, 4, 5, 5)
    """

    #: size of the stabiliser of the input / output group (set by subclasses)
    input_stabilizer_size = None
    output_stabilizer_size = None

    @staticmethod
    def make_transformation_indices(ksize):
        """Index table (nos, nis, k, k, 3) of the filter transform (set by subclasses)."""
        raise NotImplementedError

    def __init__(self, in_channels: Optional[int], out_channels: int, ksize: int = 3,
                 filter_mask=None, flat_channels: bool = False, stride=1, pad=0,
                 wscale: float = 1.0, nobias: bool = False, use_cudnn=None, initialW=None,
                 initial_bias=None, dtype=numpy.float32) -> None:
        super(SplitGConv2D, self).__init__()
        ignore_use_cudnn(use_cudnn, type(self).__name__)
        if self.input_stabilizer_size is None:
            raise TypeError('SplitGConv2D is abstract: use P4ConvZ2, P4ConvP4, P4MConvZ2 or '
                            'P4MConvP4M (or a subclass defining the stabiliser sizes and '
                            'make_transformation_indices)')
        self.in_channels = positive_int(in_channels, 'in_channels', allow_none=True)
        self.out_channels = positive_int(out_channels, 'out_channels')
        self.ksize = check_ksize(ksize, '{}: ksize'.format(type(self).__name__))
        self.stride = int_pair(stride, 'stride', 1)
        self.pad = int_pair(pad, 'pad', 0)
        self.flat_channels = bool(flat_channels)
        self.wscale = float(wscale)
        self.dtype = float_dtype(dtype, 'dtype')
        if isinstance(inspect.getattr_static(type(self), 'make_transformation_indices'),
                      (staticmethod, classmethod)):
            self.index = _gfilter_index(type(self).make_transformation_indices, self.ksize)
        else:  # an instance method, as subclasses written for the original GrouPy define it
            self.index = GFilterIndex(self.make_transformation_indices(self.ksize))

        self._filter_mask_source = None
        if filter_mask is not None:
            self._filter_mask_source = numpy.asarray(filter_mask, dtype=self.dtype)
        self.filter_mask = None
        self._initialW = initialW

        with self.init_scope():
            self.W = chainer.Parameter()  # initialised in _initialize_params (maybe lazily)
            if nobias:
                self.b = None
            else:
                self.b = chainer.Parameter()
                self._initialize_param(self.b, 0 if initial_bias is None else initial_bias,
                                       (self.out_channels,), 'initial_bias')
        if self.in_channels is not None:
            self._initialize_params(self.in_channels)

    @property
    def printable_specs(self):
        """The configuration shown by ``str(link)``, as Chainer's own links do."""
        yield from (('in_channels', self.in_channels), ('out_channels', self.out_channels),
                    ('ksize', self.ksize), ('stride', self.stride), ('pad', self.pad),
                    ('input_stabilizer_size', self.input_stabilizer_size),
                    ('output_stabilizer_size', self.output_stabilizer_size),
                    ('nobias', self.b is None), ('flat_channels', self.flat_channels))

    @property
    def filter_shape(self) -> tuple:
        """(out, in, nis, k, k): the shape of ``W``."""
        return (self.out_channels, self.in_channels, self.input_stabilizer_size,
                self.ksize, self.ksize)

    def _initialize_param(self, param, init, shape, name):
        """Fill ``param`` (kept as the same object, so optimizers set up before stay attached)
        from an initializer, a scalar or an array of exactly ``shape``."""
        if numpy.isscalar(init):
            init = initializers.Constant(init, dtype=self.dtype)
        elif not callable(init):
            array = numpy.asarray(chainer.backend.CpuDevice().send(init))
            if array.shape != shape:
                raise ValueError('{} must have shape {}, got {}'.format(name, shape, array.shape))
            init = initializers.Constant(array, dtype=self.dtype)
        init_dtype = getattr(init, 'dtype', None)
        if init_dtype is not None and numpy.dtype(init_dtype) != self.dtype:
            raise ValueError('{} gives dtype {}, but the link was built with dtype={}'.format(
                name, numpy.dtype(init_dtype), self.dtype))
        param.initializer = init
        with chainer.using_config('dtype', self.dtype):
            param.initialize(shape)

    def _initialize_params(self, in_channels):
        self.in_channels = in_channels
        initialW = self._initialW
        if initialW is None:
            std = self.wscale * math.sqrt(
                1.0 / (self.input_stabilizer_size * self.ksize ** 2 * in_channels))
            initialW = initializers.Normal(std, dtype=self.dtype)
        self._initialize_param(self.W, initialW, self.filter_shape, 'initialW')
        if self._filter_mask_source is not None:
            mask = self._filter_mask_source
            if mask.shape == self.filter_shape[:3]:  # (out, in, nis): the same for every pixel
                mask = mask[..., None, None]
            try:
                mask = numpy.broadcast_to(mask, self.filter_shape).copy()
            except ValueError:
                raise ValueError('filter_mask of shape {} does not broadcast to the filter shape '
                                 '{}'.format(self._filter_mask_source.shape, self.filter_shape))
            del self.filter_mask
            self.add_persistent('filter_mask', self.device.send(mask))

    def _flat_input(self, x):
        """Validate x; return it as (N, in * nis, H, W) and the number of input channels."""
        nis = self.input_stabilizer_size
        cin = 'in_channels' if self.in_channels is None else self.in_channels
        name = type(self).__name__
        shape = tuple(x.shape)
        if self.flat_channels:
            expected = '(batch, {} * {}, height, width)'.format(cin, nis)
            ok = len(shape) == 4 and (shape[1] % nis == 0 if self.in_channels is None
                                      else shape[1] == self.in_channels * nis)
            in_channels = shape[1] // nis if ok else None
        else:
            expected = '(batch, {}, {}, height, width)'.format(cin, nis)
            if nis == 1:
                expected += ' or (batch, {}, height, width)'.format(cin)
            ok = ((len(shape) == 5 and shape[2] == nis) or (len(shape) == 4 and nis == 1)) and (
                self.in_channels is None or shape[1] == self.in_channels)
            in_channels = shape[1] if ok else None
        if not ok:
            raise ValueError('{}: expected input of shape {}, got {}'.format(
                name, expected, shape))
        check_float(x, name + ': input')
        if self.W.array is not None and numpy.dtype(x.dtype) != self.W.dtype:
            raise ValueError('{}: input dtype {} differs from the dtype of W ({}); cast the input '
                             'or build the link with dtype={}'.format(
                                 name, x.dtype, self.W.dtype, x.dtype))
        kh, kw = self.ksize, self.ksize
        h, w = shape[-2:]
        if h + 2 * self.pad[0] < kh or w + 2 * self.pad[1] < kw:
            raise ValueError('{}: input maps of size {}x{} are smaller than the {}x{} filter '
                             '(pad={})'.format(name, h, w, kh, kw, self.pad))
        if len(shape) == 5:
            x = F.reshape(x, (shape[0], shape[1] * nis, h, w))
        return x, in_channels

    #: In pure inference (``chainer.config.train`` False and ``enable_backprop`` False) keep the
    #: transformed filter bank between calls and reuse it while W, b and the filter mask hold
    #: the same values (compared with copies taken when it was built, so an optimizer update,
    #: a load or a device move is never missed). Set to False on a link to turn it off.
    cache_filters = True

    def _filter_sources(self):
        return (self.W.array, None if self.b is None else self.b.array, self.filter_mask)

    def _filter_cache_valid(self, copies):
        for old, new in zip(copies, self._filter_sources()):
            if old is None or new is None:
                if old is not new:
                    return False
            elif (type(old) is not type(new) or old.shape != new.shape or old.dtype != new.dtype
                  or chainer.backend.get_device_from_array(old)
                  != chainer.backend.get_device_from_array(new)
                  or not bool(chainer.backend.get_array_module(new).array_equal(old, new))):
                return False
        return True

    def _filter_bank(self):
        """(tw (out * nos, in * nis, k, k), b repeated to (out * nos,) or None), from the cache
        of :attr:`cache_filters` where it applies."""
        cacheable = (self.cache_filters and not chainer.config.train
                     and not chainer.config.enable_backprop)
        cached = self.__dict__.get('_filter_cache') if cacheable else None
        if cached is not None and self._filter_cache_valid(cached[0]):
            return cached[1]
        nos = self.output_stabilizer_size
        w = self.W if self.filter_mask is None else self.W * self.filter_mask
        tw = transform_filter(w, self.index)
        tw = F.reshape(tw, (self.out_channels * nos, self.in_channels * self.input_stabilizer_size,
                            self.ksize, self.ksize))
        b = None if self.b is None else F.repeat(self.b, nos)
        if cacheable:
            copies = tuple(None if a is None else a.copy() for a in self._filter_sources())
            self._filter_cache = (copies, (tw.array, None if b is None else b.array))
            return self._filter_cache[1]
        self._filter_cache = None
        return tw, b

    def forward(self, x) -> chainer.Variable:
        """x (N, in, nis, H, W) -> y (N, out, nos, H', W') (see the class docstring)."""
        x, in_channels = self._flat_input(x)
        if self.W.array is None:
            self._initialize_params(in_channels)
        nos = self.output_stabilizer_size
        tw, b = self._filter_bank()
        y = convolution_2d(x, tw, b, self.stride, self.pad)
        if not self.flat_channels:
            y = F.reshape(y, (y.shape[0], self.out_channels, nos) + y.shape[2:])
        return y

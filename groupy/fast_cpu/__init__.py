"""Faster CPU implementations of Chainer's own operations, the one place models take them from.

Each is a drop-in for the Chainer function or link of the same name and gives Chainer's results
(gradients of any order included). Their nodes are Chainer's own FunctionNodes, subclassed: they
replace the NumPy forward pass (and, where they took it, the backward pass) and run Chainer's
own code for CuPy arrays, float16, unsupported arguments, or when the switch
(:mod:`groupy.fast_cpu.switch`, ``GROUPY_FAST_CPU_CONV=0``) is off:

* :func:`convolution_2d`, :class:`Convolution2D` (im2col + one GEMM per cache-sized chunk);
* :func:`batch_normalization`, :class:`BatchNormalization` (training-mode passes; test mode:
  :func:`fixed_batch_normalization`), and BN + ReLU as one node:
  :func:`batch_normalization_relu`, :func:`fixed_batch_normalization_relu`,
  :meth:`BatchNormalization.forward_relu`;
* :func:`relu`, :func:`dropout` (threaded passes, cheaper dropout masks);
* :func:`max_pooling_2d` (2x2 windows with stride 2);
* :func:`orientation_max` (``F.max(x, axis=2)``: the max over the stabiliser axis).

Their memory-bound passes are compiled numba kernels (:mod:`groupy.fast_cpu.numba_kernels`,
:mod:`~groupy.fast_cpu.numba_pool_kernels`, :mod:`~groupy.fast_cpu.numba_conv_kernels`: compiled
on first use and cached on disk; ``GROUPY_FAST_CPU_NUMBA=0`` selects NumPy passes instead).
The worker threads they share are set by :func:`set_num_threads` /
``GROUPY_CPU_CONV_THREADS``; :func:`keep_freed_memory` tunes malloc for training loops.
"""
from groupy.fast_cpu.batchnorm import (  # noqa: F401
    BatchNormalization, batch_normalization)
from groupy.fast_cpu.batchnorm_fixed import (  # noqa: F401
    fixed_batch_normalization, fixed_batch_normalization_relu)
from groupy.fast_cpu.batchnorm_relu import batch_normalization_relu  # noqa: F401
from groupy.fast_cpu.conv2d import Convolution2D, convolution_2d  # noqa: F401
from groupy.fast_cpu.noise import dropout  # noqa: F401
from groupy.fast_cpu.orientation_pooling import orientation_max  # noqa: F401
from groupy.fast_cpu.pooling import max_pooling_2d  # noqa: F401
from groupy.fast_cpu.activation import relu  # noqa: F401
from groupy.fast_cpu.switch import fast_cpu_enabled, keep_freed_memory  # noqa: F401
from groupy.fast_cpu.threads import get_num_threads, set_num_threads  # noqa: F401

__all__ = ['BatchNormalization', 'Convolution2D', 'batch_normalization',
           'batch_normalization_relu', 'convolution_2d', 'dropout', 'fast_cpu_enabled',
           'fixed_batch_normalization', 'fixed_batch_normalization_relu', 'get_num_threads',
           'keep_freed_memory', 'max_pooling_2d', 'orientation_max', 'relu', 'set_num_threads']

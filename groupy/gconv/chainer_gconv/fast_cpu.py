"""The one switch for groupy's fast CPU code paths (convolution, max pooling, batch
normalisation, dropout).

All of them are on by default and give Chainer's results; ``GROUPY_FAST_CPU_CONV=0`` in the
environment, or ``chainer.config.groupy_fast_cpu_conv = False`` (globally or inside
``chainer.using_config``), routes every one of them back to Chainer's own implementation.
"""
import os

import numpy

import chainer

chainer.global_config.groupy_fast_cpu_conv = (
    os.environ.get('GROUPY_FAST_CPU_CONV', '1').strip() not in ('0', 'false', 'False', 'no'))

FAST_DTYPES = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float64))


def array_of(a):
    """The ndarray of a Variable, or ``a`` itself."""
    return a.array if isinstance(a, chainer.Variable) else a


def fast_cpu_enabled(*arrays):
    """True when the switch is on and every one of ``arrays`` (Variables or arrays) is a NumPy
    array of one float dtype (float32 or float64)."""
    if not getattr(chainer.config, 'groupy_fast_cpu_conv', True):
        return False
    data = [array_of(a) for a in arrays]
    return (all(isinstance(a, numpy.ndarray) for a in data)
            and (not data or (data[0].dtype in FAST_DTYPES
                              and all(a.dtype == data[0].dtype for a in data))))

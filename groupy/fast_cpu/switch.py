"""The one switch for groupy's fast CPU code paths (convolution, max pooling, batch
normalisation, dropout), and the one for their compiled kernels.

All of them are on by default and give Chainer's results; ``GROUPY_FAST_CPU_CONV=0`` in the
environment, or ``chainer.config.groupy_fast_cpu_conv = False`` (globally or inside
``chainer.using_config``), routes every one of them back to Chainer's own implementation.
:func:`keep_freed_memory` tunes glibc's malloc for training loops; importing the library never
does it: the training entry point (gconv_experiments.training.main) and the benchmarks call it.

Where the fast paths are on, their memory-bound passes run as compiled numba kernels
(:mod:`groupy.fast_cpu.numba_kernels`, :mod:`groupy.fast_cpu.numba_pool_kernels`,
:mod:`groupy.fast_cpu.numba_conv_kernels`), with the NumPy passes' results to float rounding;
``GROUPY_FAST_CPU_NUMBA=0`` / ``chainer.config.groupy_fast_cpu_numba = False`` selects the NumPy
passes. :func:`kernel_settings` names the choices that decide a run's numbers in their last bits
(a training run records them and resumes with them: :func:`using_kernel_settings`).
"""
import contextlib
import os

import numpy

import chainer

__all__ = ['CONV_ALGORITHMS', 'FAST_DTYPES', 'array_of', 'compiled_kernels', 'conv_algorithm',
           'fast_cpu_enabled', 'keep_freed_memory', 'kernel_settings', 'using_kernel_settings']

chainer.global_config.groupy_fast_cpu_conv = (
    os.environ.get('GROUPY_FAST_CPU_CONV', '1').strip() not in ('0', 'false', 'False', 'no'))

#: convolution algorithm of the fast CPU path: 'auto' (per shape), 'im2col', 'winograd'
#: (F(2x2, 3x3) wherever it applies: stride-1 3x3 layers) or 'direct' (the compiled direct
#: convolution wherever it applies: stride-1 layers, with the compiled kernels on);
#: GROUPY_FAST_CPU_CONV_ALGO or ``chainer.config.groupy_fast_cpu_conv_algo``.
CONV_ALGORITHMS = ('auto', 'im2col', 'winograd', 'direct')
chainer.global_config.groupy_fast_cpu_conv_algo = (
    os.environ.get('GROUPY_FAST_CPU_CONV_ALGO', 'auto').strip() or 'auto')


def conv_algorithm():
    """The configured convolution algorithm (one of CONV_ALGORITHMS); ValueError otherwise."""
    algo = getattr(chainer.config, 'groupy_fast_cpu_conv_algo', 'auto')
    if algo not in CONV_ALGORITHMS:
        raise ValueError('GROUPY_FAST_CPU_CONV_ALGO / chainer.config.groupy_fast_cpu_conv_algo '
                         'must be one of {}, got {!r}'.format(', '.join(CONV_ALGORITHMS), algo))
    return algo


_OFF = ('0', 'false', 'False', 'no')
chainer.global_config.groupy_fast_cpu_numba = (
    os.environ.get('GROUPY_FAST_CPU_NUMBA', '1').strip() not in _OFF)

FAST_DTYPES = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float64))

#: the configuration keys behind :func:`kernel_settings`, with their names in a settings dict
_SETTING_KEYS = {'fast_cpu': 'groupy_fast_cpu_conv', 'numba': 'groupy_fast_cpu_numba',
                 'conv_algo': 'groupy_fast_cpu_conv_algo'}


def kernel_settings() -> dict:
    """The CPU code paths in effect (this thread's ``chainer.config``): ``{'fast_cpu': bool,
    'numba': bool, 'conv_algo': str}``. They change results only by float rounding, but a run
    resumed on other paths is no longer the bit-for-bit continuation of the one it started as.

    >>> sorted(kernel_settings())
    ['conv_algo', 'fast_cpu', 'numba']
    """
    return {'fast_cpu': bool(getattr(chainer.config, 'groupy_fast_cpu_conv', True)),
            'numba': bool(getattr(chainer.config, 'groupy_fast_cpu_numba', False)),
            'conv_algo': str(getattr(chainer.config, 'groupy_fast_cpu_conv_algo', 'auto'))}


@contextlib.contextmanager
def using_kernel_settings(settings: dict):
    """Run the block on the CPU code paths of ``settings`` (a dict as :func:`kernel_settings`
    returns; keys left out keep their current value; an unknown key is a ValueError), in this
    thread only, like ``chainer.using_config``.

    >>> with using_kernel_settings({'numba': False}):
    ...     kernel_settings()['numba']
    False
    """
    unknown = sorted(set(settings) - set(_SETTING_KEYS))
    if unknown:
        raise ValueError('unknown CPU kernel setting(s) {}; expected some of {}'.format(
            ', '.join(map(repr, unknown)), ', '.join(sorted(_SETTING_KEYS))))
    with contextlib.ExitStack() as stack:
        for name, value in settings.items():
            stack.enter_context(chainer.using_config(_SETTING_KEYS[name], value))
        if 'conv_algo' in settings:
            conv_algorithm()  # a bad name fails here, not in the middle of a run
        yield


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


_kernel_modules = {}


def compiled_kernels(name: str, *arrays):
    """The numba kernel module ``groupy.fast_cpu.<name>`` (imported on first use) when its
    kernels apply to ``arrays`` (:func:`fast_cpu_enabled` and the numba switch on), else None
    (also when numba cannot be imported)."""
    if not (getattr(chainer.config, 'groupy_fast_cpu_numba', False) and fast_cpu_enabled(*arrays)):
        return None
    if name not in _kernel_modules:
        try:
            import importlib
            _kernel_modules[name] = importlib.import_module('groupy.fast_cpu.' + name)
        except ImportError as e:  # pragma: no cover - numba is a dependency
            if e.name not in ('numba', 'llvmlite'):
                raise
            _kernel_modules[name] = None
    return _kernel_modules[name]


# glibc's mallopt parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc's upper limit on 64-bit


def keep_freed_memory():
    """Asks glibc's malloc to serve arrays up to 32 MiB from the heap and to keep freed heap
    memory instead of returning it to the system, so a training step reuses the previous step's
    pages instead of page-faulting fresh ones (about 8% of a CPU training step here). Peak memory
    is unchanged; the process just does not shrink between steps. Returns True when applied
    (Linux with glibc), False elsewhere. A process-wide setting: called by training entry points
    (not on import), and a no-op while the fast CPU paths are switched off."""
    if not getattr(chainer.config, 'groupy_fast_cpu_conv', True):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
                and mallopt(_M_TRIM_THRESHOLD, 1 << 30))

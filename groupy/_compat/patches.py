"""The individual patches behind :func:`groupy._compat.apply`.

Each ``patch_*`` function checks whether what chainer 7.8.1 needs is missing, restores it if so
and returns True, else returns False and changes nothing. They touch numpy's module namespace
only, never chainer's code or numpy's behaviour.
"""
import importlib
import sys
import types
import warnings

import numpy

_applied = []

# Import-time warnings of chainer's dependencies that say nothing about the user's program:
# CuPy's notice that the optional NCCL library (multi-GPU communication) is not installed, and
# the DeprecationWarnings of numpy.distutils / pkg_resources raised by chainer's environment
# check (visible only under -W error / -W default).
QUIET_WARNINGS = (
    (r"\s*nccl library could not be loaded", UserWarning),
    (r"\s*`numpy.distutils` is deprecated", DeprecationWarning),
    (r"msvccompiler is deprecated", DeprecationWarning),
    (r"pkg_resources is deprecated", DeprecationWarning),
)


def patch_numpy_distutils():
    """Python >= 3.12 numpy has no ``numpy.distutils``; chainer's environment check imports
    ``numpy.distutils.system_info`` and, on macOS only, asks ``get_info('blas_opt')`` whether
    numpy uses Accelerate. The stub answers "no BLAS information" (``{}``), which skips that
    check."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its DeprecationWarning, raised under -W error
            importlib.import_module("numpy.distutils.system_info")
        return False
    except ImportError:  # absent (numpy 2 on Python >= 3.12) or broken (numpy 1.26 on 3.12)
        for name in [n for n in sys.modules if n.split(".")[:2] == ["numpy", "distutils"]]:
            del sys.modules[name]
    package = types.ModuleType("numpy.distutils",
                               "Stub by groupy._compat: numpy.distutils is gone from this numpy; "
                               "only system_info.get_info (always {}) is provided, for chainer.")
    package.__path__ = []
    system_info = types.ModuleType("numpy.distutils.system_info", package.__doc__)

    def get_info(name, notfound_action=0):
        return {}

    system_info.get_info = get_info
    package.system_info = system_info
    sys.modules["numpy.distutils"] = package
    sys.modules["numpy.distutils.system_info"] = system_info
    numpy.distutils = package
    return True


def patch_numpy_sctypes():
    """numpy 2 removed ``numpy.sctypes``; chainer's ``as_strided`` reads its 'int' and 'float'
    lists. Restored with numpy 1.26's content (the sized scalar types of each kind)."""
    if "sctypes" in vars(numpy):
        return False
    numpy.sctypes = {
        "int": [numpy.int8, numpy.int16, numpy.int32, numpy.int64],
        "uint": [numpy.uint8, numpy.uint16, numpy.uint32, numpy.uint64],
        "float": [numpy.float16, numpy.float32, numpy.float64, numpy.longdouble],
        "complex": [numpy.complex64, numpy.complex128, numpy.clongdouble],
        "others": [bool, object, bytes, str, numpy.void],
    }
    return True


PATCHES = (patch_numpy_distutils, patch_numpy_sctypes)


# CuPy >= 14 has no cuDNN binding at all, so chainer's "cuDNN is not enabled. Please reinstall
# CuPy after you install cudnn" (on first GPU use) gives advice that cannot be followed; chainer
# then uses its own im2col + cuBLAS convolutions.
CUDNN_WARNING = r"cuDNN is not enabled"
CUPY_DISTRIBUTIONS = ("cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x", "cupy")


def installed_cupy_major():
    """Major version of the installed CuPy (from its metadata, without importing it), or None."""
    from importlib import metadata
    for name in CUPY_DISTRIBUTIONS:
        try:
            return int(metadata.version(name).split(".")[0])
        except (metadata.PackageNotFoundError, ValueError):
            continue
    return None


def quiet_import_warnings():
    for message, category in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    major = installed_cupy_major()
    if major is not None and major >= 14:
        warnings.filterwarnings("ignore", message=CUDNN_WARNING, category=UserWarning)


def apply_all():
    """Run every patch once per process; returns the names of those applied now."""
    if _applied:
        return ()
    quiet_import_warnings()
    done = tuple(p.__name__ for p in PATCHES if p())
    _applied.append(done)
    return done


def applied():
    """Names of the patches this process applied (empty before apply_all or where none was
    needed)."""
    return _applied[0] if _applied else ()

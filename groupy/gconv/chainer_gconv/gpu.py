"""Is there a usable CUDA device for CuPy?

``cupy.is_available()`` is not safe to call on its own: on a machine whose driver is missing or
older than CuPy's CUDA runtime it *raises* (``CUDARuntimeError``) instead of returning False.
Everything in groupy that needs to know asks :func:`gpu_available` instead.
"""

__all__ = ['gpu_available']


def gpu_available():
    """True when CuPy imports and reports at least one usable CUDA device, else False.

    Never raises: a missing ``cupy``, a missing/old driver or any other CUDA error means False.
    """
    try:
        import cupy
        return bool(cupy.is_available())
    except Exception:  # ImportError, CUDARuntimeError, RuntimeError from a bad install, ...
        return False

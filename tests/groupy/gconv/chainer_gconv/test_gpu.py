"""gpu_available never raises: no CuPy, or a CuPy whose is_available() raises (no/old driver),
means False; with the real CuPy its answer follows CuPy's device query (getDeviceCount)."""
import sys
import types

import pytest

from groupy.gconv.chainer_gconv import gpu_available


def test_returns_a_bool_without_raising():
    assert isinstance(gpu_available(), bool)


def test_false_without_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, 'cupy', None)  # makes `import cupy` raise ImportError
    assert gpu_available() is False


def test_false_when_cupy_raises(monkeypatch):
    fake = types.ModuleType('cupy')

    def is_available():
        raise RuntimeError('CUDA driver version is insufficient for CUDA runtime version')

    fake.is_available = is_available
    monkeypatch.setitem(sys.modules, 'cupy', fake)
    assert gpu_available() is False
    fake.is_available = lambda: True
    assert gpu_available() is True


# --- against the real CuPy: the answer follows CuPy's own device query -------------------------

def _device_count_or_none():
    """CuPy's own answer, asked directly: the device count, or None when the query raises."""
    from cupy.cuda import runtime
    try:
        return runtime.getDeviceCount()
    except Exception:
        return None


def test_agrees_with_cupys_device_count():
    cupy = pytest.importorskip('cupy')
    count = _device_count_or_none()
    cupy.cuda._available = None  # forget a cached answer, so both ask the driver now
    assert gpu_available() is (count is not None and count > 0)


@pytest.fixture
def cupy_runtime(monkeypatch):
    """CuPy's runtime module with its cached availability cleared (restored afterwards)."""
    cupy = pytest.importorskip('cupy')
    monkeypatch.setattr(cupy.cuda, '_available', None)
    return cupy.cuda.runtime


@pytest.mark.parametrize('count, expected', [(0, False), (1, True), (4, True)])
def test_follows_the_device_count(monkeypatch, cupy_runtime, count, expected):
    monkeypatch.setattr(cupy_runtime, 'getDeviceCount', lambda: count)
    assert gpu_available() is expected


@pytest.mark.parametrize('message', [
    'cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime version',
    'cudaErrorNoDevice: no CUDA-capable device is detected',
    'cudaErrorInitializationError: initialization error',
])
def test_broken_driver_means_false(monkeypatch, cupy_runtime, message):
    """CuPy 13's own is_available() re-raises every error but 'no device'; ours says False."""
    def broken():
        raise RuntimeError(message)  # args[0] is the message, as in CuPy's CUDARuntimeError

    monkeypatch.setattr(cupy_runtime, 'getDeviceCount', broken)
    assert gpu_available() is False

"""gpu_available never raises: no CuPy, or a CuPy whose is_available() raises (no/old driver),
means False."""
import sys
import types

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

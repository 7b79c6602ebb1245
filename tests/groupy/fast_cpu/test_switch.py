"""The fast CPU switch: which arrays take the fast paths, the settings a run records and resumes
with, and the malloc tuning (the compiled kernels' environment switch: test_numba_kernels.py)."""
import platform

import numpy as np
import pytest

import chainer

from groupy.fast_cpu.switch import (
    fast_cpu_enabled, keep_freed_memory, kernel_settings, using_kernel_settings)


def test_fast_cpu_enabled():
    a32, a64 = np.zeros(3, np.float32), np.zeros(3, np.float64)
    assert fast_cpu_enabled(a32, chainer.Variable(a32)) and fast_cpu_enabled(a64)
    assert not fast_cpu_enabled(a32, a64)  # mixed dtypes
    assert not fast_cpu_enabled(a32.astype(np.float16))
    assert not fast_cpu_enabled(np.zeros(3, np.int64))
    assert not fast_cpu_enabled([1.0, 2.0])
    with chainer.using_config('groupy_fast_cpu_conv', False):
        assert not fast_cpu_enabled(a32)


@pytest.mark.skipif(platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc',
                    reason='mallopt is glibc-only')
def test_keep_freed_memory_applies_on_glibc():
    assert keep_freed_memory() is True


def test_keep_freed_memory_is_a_no_op_with_the_switch_off():
    with chainer.using_config('groupy_fast_cpu_conv', False):
        assert keep_freed_memory() is False


def test_kernel_settings_follow_the_config_and_using_kernel_settings_sets_them_in_a_block():
    with chainer.using_config('groupy_fast_cpu_numba', True), \
            chainer.using_config('groupy_fast_cpu_conv_algo', 'auto'):
        assert kernel_settings() == {'fast_cpu': True, 'numba': True, 'conv_algo': 'auto'}
        with using_kernel_settings({'numba': False, 'conv_algo': 'im2col', 'fast_cpu': False}):
            assert kernel_settings() == {'fast_cpu': False, 'numba': False, 'conv_algo': 'im2col'}
            assert not fast_cpu_enabled(np.zeros(3, np.float32))
        with using_kernel_settings({'conv_algo': 'winograd'}):  # keys left out keep their value
            assert kernel_settings() == {'fast_cpu': True, 'numba': True, 'conv_algo': 'winograd'}
        assert kernel_settings() == {'fast_cpu': True, 'numba': True, 'conv_algo': 'auto'}


@pytest.mark.parametrize('settings, message', [
    ({'numba': False, 'gpu': True}, "unknown CPU kernel setting(s) 'gpu'; expected some of "
                                    "conv_algo, fast_cpu, numba"),
    ({'conv_algo': 'fft'}, "must be one of auto, im2col, winograd, direct, got 'fft'")])
def test_using_kernel_settings_refuses_what_it_does_not_know(settings, message):
    before = kernel_settings()
    with pytest.raises(ValueError) as e:
        with using_kernel_settings(settings):
            pass
    assert message in str(e.value)
    assert kernel_settings() == before

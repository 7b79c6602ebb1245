"""The fast CPU switch: which arrays take the fast paths, and the malloc tuning."""
import platform

import numpy as np
import pytest

import chainer

from groupy.fast_cpu.switch import fast_cpu_enabled, keep_freed_memory


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

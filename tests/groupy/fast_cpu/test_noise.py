"""The cheaper CPU dropout: masks drawn from numpy's global RNG (seeding reproduces them), the
drop rate and scaling of chainer.functions.dropout, exact first and second derivatives in
float64 for a fixed mask, and Chainer's dropout wherever the fast path does not apply."""
import numpy as np
import pytest

import chainer
import chainer.functions as F
from chainer import gradient_check

from groupy.fast_cpu.noise import Dropout, dropout, keep_mask, uint16_draws


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('ratio', [0.3, 0.5, 0.9])
def test_drop_rate_scaling_and_gradient(dtype, ratio):
    x = np.random.RandomState(0).uniform(1, 2, (50, 40, 50)).astype(dtype)
    np.random.seed(1)
    xv = chainer.Variable(x)
    y = dropout(xv, ratio)
    assert isinstance(y.creator, Dropout) and y.dtype == dtype
    kept = y.array != 0
    assert abs(1 - kept.mean() - ratio) < 4 * np.sqrt(ratio * (1 - ratio) / x.size)
    scale = y.array[kept] / x[kept]
    np.testing.assert_allclose(scale, 1 / (1 - ratio), rtol=1e-4)
    # unbiased: the scale is the inverse of the exact keep probability
    threshold = round(ratio * 2 ** 16)
    np.testing.assert_allclose(scale, 2 ** 16 / (2 ** 16 - threshold), rtol=1e-6)
    gy = np.random.RandomState(2).standard_normal(x.shape).astype(dtype)
    y.grad = gy
    y.backward()
    mask = kept.astype(dtype) * dtype(2 ** 16 / (2 ** 16 - threshold))
    np.testing.assert_array_equal(y.array, x * mask)
    np.testing.assert_array_equal(xv.grad, gy * mask)


def test_masks_come_from_the_global_rng():
    x = np.ones((3, 4, 5), np.float32)
    np.random.seed(7)
    first = dropout(x, 0.4).array
    after_first = np.random.get_state()[1].copy()
    np.random.seed(7)
    np.testing.assert_array_equal(dropout(x, 0.4).array, first)
    np.random.seed(7)
    np.testing.assert_array_equal(keep_mask(x.shape, 0.4, np.dtype(np.float32)), first)
    np.random.seed(7)  # one int64 seed drawn from the global RNG per call
    np.random.randint(0, np.iinfo(np.int64).max, dtype=np.int64)
    np.testing.assert_array_equal(np.random.get_state()[1], after_first)
    assert not np.array_equal(dropout(x, 0.4).array, first)


def test_draws_are_uniform_16_bit_integers():
    np.random.seed(8)
    draws = uint16_draws((3, 1001))  # not a multiple of 4
    assert draws.shape == (3, 1001) and draws.dtype == np.uint16
    counts = np.bincount(draws.ravel() >> 12, minlength=16)  # 16 bins of 4096 values
    assert abs(counts / draws.size - 1 / 16).max() < 0.02
    assert len(np.unique(draws)) > 2500


def test_backward_and_double_backward():
    rng = np.random.RandomState(3)
    x, gy, ggx = (rng.standard_normal((2, 3, 4)) for _ in range(3))

    def f(x):  # the same mask on every call of the numerical gradient
        np.random.seed(0)
        return dropout(x, 0.3)

    gradient_check.check_backward(f, x, gy, dtype=np.float64)
    gradient_check.check_double_backward(f, x, gy, ggx, dtype=np.float64)


@pytest.mark.parametrize('case', ['test mode', 'switch off', 'float16', 'ratio 0', 'mask'])
def test_falls_back_to_chainer(case):
    x = np.random.RandomState(4).standard_normal((3, 4, 5)).astype(np.float32)
    ratio, kwargs, config = 0.3, {}, {}
    if case == 'test mode':
        config['train'] = False
    elif case == 'switch off':
        config['groupy_fast_cpu_conv'] = False
    elif case == 'float16':
        x = x.astype(np.float16)
    elif case == 'ratio 0':
        ratio = 0.0
    elif case == 'mask':
        kwargs['mask'] = np.full(x.shape, 2.0, np.float32)
    results = []
    for fn in (dropout, F.dropout):
        np.random.seed(5)
        with chainer.using_config('train', config.get('train', True)), chainer.using_config(
                'groupy_fast_cpu_conv', config.get('groupy_fast_cpu_conv', True)):
            y = fn(x, ratio, **kwargs)
        assert not isinstance(getattr(y, 'creator', None), Dropout)
        results.append(chainer.as_array(y))
    np.testing.assert_array_equal(*results)


@pytest.mark.parametrize('ratio', [-0.1, 1.0])
def test_bad_ratio(ratio):
    with pytest.raises(ValueError, match='dropout_ratio'):
        dropout(np.ones((2, 3), np.float32), ratio)

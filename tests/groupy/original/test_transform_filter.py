"""The original GrouPy's chainer_gconv/test_transform_filter.py, ported: the gradient of
``TransformGFilter(inds)(W)`` (backward with retain_grad) equals chainer's numerical gradient of
its creator's forward, for the four index tables, float32 (relative error < 1e-3) and float64
(< 1e-10). The original ran on CuPy only (gpu marker); the NumPy variant runs everywhere."""
import numpy as np
import pytest
from chainer import Variable, backend, gradient_check

from groupy.gconv.chainer_gconv.transform_filter import TransformGFilter
from groupy.gconv.make_gconv_indices import (
    make_c4_p4_indices, make_c4_z2_indices, make_d4_p4m_indices, make_d4_z2_indices)

CASES = [(make_c4_z2_indices, 5, (3, 2, 1, 5, 5)), (make_c4_p4_indices, 3, (1, 2, 4, 3, 3)),
         (make_d4_z2_indices, 5, (3, 2, 1, 5, 5)), (make_d4_p4m_indices, 3, (1, 2, 8, 3, 3))]
DTYPES = [("float32", 1e-3), ("float64", 1e-10)]


def check_transform_grad(inds, w, xp, dtype, toll):
    W = Variable(w.astype(dtype))
    R = TransformGFilter(inds)
    RW = R(W)
    RW.grad = xp.asarray(np.random.RandomState(4).randn(*RW.data.shape)).astype(dtype)
    RW.backward(retain_grad=True)
    func = RW.creator
    gW, = gradient_check.numerical_grad(lambda: func.forward((W.data,)), (W.data,), (RW.grad,))
    gan, gat = backend.CpuDevice().send(gW), backend.CpuDevice().send(W.grad)
    relerr = np.max(np.abs(gan - gat) / np.maximum(np.abs(gan), np.abs(gat)))
    assert relerr < toll


@pytest.mark.parametrize("dtype, toll", DTYPES)
@pytest.mark.parametrize("make, ksize, w_shape", CASES)
def test_transform_grad_numpy(make, ksize, w_shape, dtype, toll):
    w = np.random.RandomState(3).randn(*w_shape)
    check_transform_grad(make(ksize=ksize), w, np, dtype, toll)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype, toll", DTYPES)
@pytest.mark.parametrize("make, ksize, w_shape", CASES)
def test_transform_grad(make, ksize, w_shape, dtype, toll):
    import cupy as cp
    from chainer import cuda
    inds = cuda.to_gpu(make(ksize=ksize))  # the original moved the table to the GPU
    check_transform_grad(inds, cp.random.randn(*w_shape), cp, dtype, toll)

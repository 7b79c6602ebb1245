"""The original GrouPy's kernels/test_integer_indexing_cuda_kernel.py, ported: the kernel
equals ``input[..., I, J, K].swapaxes(1, 2)`` with index arrays of shape (7, 8, 9, 10), on CuPy
(gpu marker) as the original, and on NumPy arrays too."""
import numpy as np
import pytest

from groupy.gconv.chainer_gconv.kernels.integer_indexing_cuda_kernel import (
    index_group_func_kernel)


def case():
    rng = np.random.RandomState(2)
    x = rng.randn(2, 3, 4, 5, 6)
    I = rng.randint(0, 4, (7, 8, 9, 10))
    J = rng.randint(0, 5, (7, 8, 9, 10))
    K = rng.randint(0, 6, (7, 8, 9, 10))
    return x, I, J, K, x[..., I, J, K].swapaxes(1, 2)


def test_index_group_func_numpy():
    x, I, J, K, output = case()
    out = np.zeros(output.shape)
    index_group_func_kernel(x, I, J, K, out)
    assert np.isclose(np.abs(out - output).sum(), 0.0)


@pytest.mark.gpu
def test_index_group_func():
    import cupy as cp
    from chainer import cuda
    x, I, J, K, output = case()
    cpoutput = cp.zeros(output.shape)
    index_group_func_kernel(cuda.to_gpu(x), cuda.to_gpu(I), cuda.to_gpu(J), cuda.to_gpu(K),
                            cpoutput)
    assert np.isclose(np.abs(cuda.to_cpu(cpoutput) - output).sum(), 0.0)

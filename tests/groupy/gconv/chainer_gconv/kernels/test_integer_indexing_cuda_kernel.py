"""The original GrouPy's kernel API (kernels.integer_indexing_cuda_kernel): the forward equals
numpy advanced indexing ``input[..., T, U, V].swapaxes(1, 2)`` (the original test's own
reference), the backward adds the scatter-add (np.add.at) of grad_output to grad_input, on
NumPy and (gpu marker) on CuPy, bitwise reproducibly. The CuPy kernels it runs are the
KERNEL_SPECS compiled with NVRTC in test_transform_filter_kernels.py."""
import numpy as np
import pytest

from groupy.gconv.chainer_gconv.kernels import KERNEL_SPECS
from groupy.gconv.chainer_gconv.kernels import integer_indexing_cuda_kernel as ik
from groupy.gconv.chainer_gconv.kernels.transform_filter_kernels import ADJOINT, GATHER
from groupy.gconv import make_gconv_indices as mgi


def original_case(dtype=np.float64, seed=0):
    """The shapes of the original's test: input (2, 3, 4, 5, 6), indices (7, 8, 9, 10)."""
    rng = np.random.RandomState(seed)
    x = rng.randn(2, 3, 4, 5, 6).astype(dtype)
    T = rng.randint(0, 4, (7, 8, 9, 10))
    U = rng.randint(0, 5, (7, 8, 9, 10))
    V = rng.randint(0, 6, (7, 8, 9, 10))
    return x, T, U, V


def scatter_add(gy, T, U, V, shape):
    g = np.zeros(shape)
    np.add.at(g, (slice(None), slice(None), T, U, V), gy.swapaxes(1, 2).astype(np.float64))
    return g


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_forward_numpy_as_the_original_test(dtype):
    x, T, U, V = original_case(dtype)
    expected = x[..., T, U, V].swapaxes(1, 2)
    out = np.zeros(expected.shape, dtype=dtype)
    ik.index_group_func_kernel(x, T, U, V, out)
    assert out.shape == (2, 7, 3, 8, 9, 10)
    np.testing.assert_array_equal(out, expected)


def test_forward_writes_into_a_non_contiguous_output_and_int32_tables():
    inds = mgi.make_d4_p4m_indices(3)  # int32, (8, 8, 3, 3, 3): T, U, V are strided views
    T, U, V = inds[..., 0], inds[..., 1], inds[..., 2]
    w = np.random.RandomState(1).randn(4, 2, 8, 3, 3)
    big = np.zeros((4, 8, 2, 8, 3, 3, 2))
    out = big[..., 1]
    ik.index_group_func_kernel(w, T, U, V, out)
    np.testing.assert_array_equal(out, w[..., T, U, V].swapaxes(1, 2))
    assert not big[..., 0].any()


def test_backward_numpy_adds_the_scatter_add():
    x, T, U, V = original_case()
    gy = np.random.RandomState(2).randn(2, 7, 3, 8, 9, 10)
    start = np.random.RandomState(3).randn(*x.shape)
    g = start.copy()
    ik.grad_index_group_func_kernel(gy, T, U, V, g)
    np.testing.assert_allclose(g, start + scatter_add(gy, T, U, V, x.shape), rtol=1e-12,
                               atol=1e-12)
    # the adjoint of the forward: <forward(x), gy> == <x, grad>
    g0 = np.zeros_like(x)
    ik.grad_index_group_func_kernel(gy, T, U, V, g0)
    assert np.vdot(x[..., T, U, V].swapaxes(1, 2), gy) == pytest.approx(np.vdot(x, g0), rel=1e-12)


def test_bad_arguments_are_named():
    x, T, U, V = original_case()
    out = np.zeros((2, 7, 3, 8, 9, 10))
    with pytest.raises(ValueError, match=r'output must have shape .*\(2, 7, 3, 8, 9, 10\)'):
        ik.index_group_func_kernel(x, T, U, V, out[:, :, :, :, :, :5])
    with pytest.raises(IndexError, match=r'U entries must lie in \[0, 5\)'):
        ik.index_group_func_kernel(x, T, U + 1, V, out)
    with pytest.raises(ValueError, match='one common shape'):
        ik.index_group_func_kernel(x, T, U[..., :5], V, out)
    with pytest.raises(TypeError, match='T must hold integers'):
        ik.index_group_func_kernel(x, T.astype(float), U, V, out)
    with pytest.raises(ValueError, match='one dtype'):
        ik.index_group_func_kernel(x, T, U, V, out.astype(np.float32))
    with pytest.raises(ValueError, match='float16, float32 or float64'):
        ik.grad_index_group_func_kernel(out.astype(np.int64), T, U, V, x.astype(np.int64))
    with pytest.raises(TypeError, match='all be numpy.ndarray or all cupy.ndarray'):
        ik.index_group_func_kernel(x.tolist(), T, U, V, out)


def test_runs_the_shared_deterministic_kernels():
    assert GATHER in KERNEL_SPECS and ADJOINT in KERNEL_SPECS
    assert 'atomic' not in ADJOINT.operation + ADJOINT.preamble


@pytest.mark.gpu
@pytest.mark.parametrize('dtype', [np.float16, np.float32, np.float64])
def test_gpu_matches_numpy_and_is_deterministic(dtype):
    import cupy
    from chainer import cuda
    x, T, U, V = original_case(dtype)
    expected = x[..., T, U, V].swapaxes(1, 2)
    out = cupy.zeros(expected.shape, dtype=dtype)  # as the original test
    ik.index_group_func_kernel(cuda.to_gpu(x), cuda.to_gpu(T), cuda.to_gpu(U), cuda.to_gpu(V),
                               out)
    np.testing.assert_array_equal(cuda.to_cpu(out), expected)
    gy = np.random.RandomState(4).randn(*expected.shape).astype(dtype)
    grads = []
    for _ in range(2):
        g = cupy.zeros(x.shape, dtype=dtype)
        ik.grad_index_group_func_kernel(cupy.asarray(gy), cupy.asarray(T), cupy.asarray(U),
                                        cupy.asarray(V), g)
        grads.append(cuda.to_cpu(g))
    np.testing.assert_array_equal(grads[0], grads[1])  # no float atomics: bitwise equal
    tol = {np.float16: 2e-2, np.float32: 1e-5, np.float64: 1e-12}[dtype]
    np.testing.assert_allclose(grads[0], scatter_add(gy, T, U, V, x.shape), rtol=tol,
                               atol=tol * 10)
    with pytest.raises(TypeError, match='all be numpy.ndarray or all cupy.ndarray'):
        ik.index_group_func_kernel(x, T, U, V, out)


def test_one_table_on_inputs_of_different_shapes_gathers_from_each():
    """Index tables are cached per source shape: the same (T, U, V), valid for inputs of
    trailing shape (2, 3, 3) and (3, 4, 5), gathers from each by its own strides, forward and
    backward, in either order."""
    rng = np.random.RandomState(11)
    T, U, V = (rng.randint(0, 2, (4, 2, 3, 3)) for _ in range(3))
    for shapes in (((2, 2, 2, 3, 3), (2, 2, 3, 4, 5)), ((2, 2, 3, 4, 5), (2, 2, 2, 3, 3))):
        for shape in shapes + shapes:  # each shape twice, after the other one
            x = rng.standard_normal(shape)
            expected = x[..., T, U, V].swapaxes(1, 2)
            out = np.zeros(expected.shape)
            ik.index_group_func_kernel(x, T, U, V, out)
            np.testing.assert_array_equal(out, expected)
            gy = rng.standard_normal(expected.shape)
            g = np.zeros(shape)
            ik.grad_index_group_func_kernel(gy, T, U, V, g)
            np.testing.assert_allclose(g, scatter_add(gy, T, U, V, shape), rtol=1e-12,
                                       atol=1e-12)

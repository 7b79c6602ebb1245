"""TransformGFilter: forward equals an explicit gather, backward equals an explicit scatter-add
(np.add.at) and is the exact adjoint, gradients and double gradients check numerically, on
random permutation tables, random many-to-one tables and the real G-conv tables."""
import numpy as np
import pytest

import chainer
from chainer import gradient_check

from groupy.gconv import make_gconv_indices as mgi
from groupy.gconv.chainer_gconv import gpu_available
from groupy.gconv.chainer_gconv.transform_filter import (
    GFilterIndex, TransformGFilter, TransformGFilterAdjoint, as_gfilter_index, transform_filter)

BUILDERS = {'c4_z2': mgi.make_c4_z2_indices, 'c4_p4': mgi.make_c4_p4_indices,
            'd4_z2': mgi.make_d4_z2_indices, 'd4_p4m': mgi.make_d4_p4m_indices}


def random_table(nto, nti, k, seed, permutation=True):
    """(nto, nti, k, k, 3) table; each output transform a random permutation of the filter
    entries, or (permutation=False) random entries with repeats and gaps."""
    rng = np.random.RandomState(seed)
    q = nti * k * k
    flat = (np.stack([rng.permutation(q) for _ in range(nto)]) if permutation
            else rng.randint(0, q, size=(nto, q)))
    t, u, v = np.unravel_index(flat, (nti, k, k))
    return np.stack([t, u, v], axis=-1).reshape(nto, nti, k, k, 3).astype(np.int32)


TABLES = {
    'perm_4_1_3': lambda: random_table(4, 1, 3, 0),
    'perm_4_4_2': lambda: random_table(4, 4, 2, 1),
    'perm_8_8_3': lambda: random_table(8, 8, 3, 2),
    'perm_3_2_1': lambda: random_table(3, 2, 1, 3),
    'many_to_one_4_2_3': lambda: random_table(4, 2, 3, 4, permutation=False),
    'many_to_one_2_1_4': lambda: random_table(2, 1, 4, 5, permutation=False),
}
TABLES.update({'{}_k{}'.format(name, k): (lambda b=b, k=k: b(k))
               for name, b in BUILDERS.items() for k in (1, 2, 3, 4, 5)})


def reference_forward(w, inds):
    """tw[o, s, i, t, u, v] = w[o, i, *inds[s, t, u, v]] by advanced indexing."""
    tw = w[:, :, inds[..., 0], inds[..., 1], inds[..., 2]]  # (out, in, nto, nti, k, k)
    return tw.transpose(0, 2, 1, 3, 4, 5)


def reference_adjoint(gy, inds):
    """Scatter-add of gy (out, nto, in, nti, k, k) onto w's layout (out, in, nti, k, k)."""
    out, nto, n_in, nti, k = gy.shape[:5]
    gw = np.zeros((out, n_in, nti, k, k), dtype=np.float64)
    g = gy.transpose(0, 2, 1, 3, 4, 5)  # (out, in, nto, nti, k, k)
    np.add.at(gw, (slice(None), slice(None), inds[..., 0], inds[..., 1], inds[..., 2]), g)
    return gw


def _w_for(inds, out=2, n_in=3, seed=0, dtype=np.float64):
    nti, k = inds.shape[1], inds.shape[2]
    return np.random.RandomState(seed).uniform(-1, 1, (out, n_in, nti, k, k)).astype(dtype)


@pytest.mark.parametrize('table', sorted(TABLES))
class TestTransformGFilterCPU:

    def test_forward_matches_gather(self, table):
        inds = TABLES[table]()
        w = _w_for(inds)
        tw = transform_filter(w, inds)
        assert tw.shape == (2, inds.shape[0], 3) + inds.shape[1:4]
        np.testing.assert_array_equal(tw.array, reference_forward(w, inds))

    def test_backward_matches_scatter_add_and_is_adjoint(self, table):
        inds = TABLES[table]()
        w = _w_for(inds)
        gy = np.random.RandomState(1).standard_normal(reference_forward(w, inds).shape)
        gw = TransformGFilterAdjoint(inds).apply((gy,))[0].array
        np.testing.assert_allclose(gw, reference_adjoint(gy, inds), rtol=1e-13, atol=1e-13)
        lhs = np.vdot(reference_forward(w, inds), gy)
        assert abs(lhs - np.vdot(w, gw)) <= 1e-12 * max(1.0, abs(lhs))

    def test_check_backward(self, table):
        inds = TABLES[table]()
        w = _w_for(inds, seed=2)
        gy = np.random.RandomState(3).uniform(-1, 1, reference_forward(w, inds).shape)
        gradient_check.check_backward(lambda w: transform_filter(w, inds), w, gy,
                                      dtype=np.float64, atol=1e-7, rtol=1e-6)

    def test_check_double_backward(self, table):
        inds = TABLES[table]()
        w = _w_for(inds, seed=4)
        gy = np.random.RandomState(5).uniform(-1, 1, reference_forward(w, inds).shape)
        ggw = np.random.RandomState(6).uniform(-1, 1, w.shape)

        def f(w):  # squared, so the second derivative is not zero
            y = transform_filter(w, inds)
            return y * y

        gradient_check.check_double_backward(f, w, gy, ggw, dtype=np.float64,
                                             atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize('dtype', [np.float16, np.float32])
@pytest.mark.parametrize('table', ['d4_p4m_k3', 'c4_p4_k4', 'many_to_one_4_2_3'])
def test_low_precision_agrees_with_float64(dtype, table):
    inds = TABLES[table]()
    w64 = _w_for(inds, seed=7)
    tw = transform_filter(w64.astype(dtype), inds)
    assert tw.dtype == dtype
    np.testing.assert_array_equal(tw.array, reference_forward(w64, inds).astype(dtype))
    gy64 = np.random.RandomState(8).uniform(-1, 1, tw.shape)
    gw = TransformGFilterAdjoint(inds).apply((gy64.astype(dtype),))[0].array
    assert gw.dtype == dtype
    tol = {np.float16: 5e-3, np.float32: 1e-6}[dtype]
    np.testing.assert_allclose(gw, reference_adjoint(gy64, inds), rtol=tol, atol=tol * 8)


def test_variable_and_grad_through_chain():
    inds = mgi.make_c4_p4_indices(3)
    w = chainer.Variable(_w_for(inds))
    loss = chainer.functions.sum(transform_filter(w, inds) ** 2)
    loss.backward()
    # every entry of w appears once in each of the 4 rotated copies
    np.testing.assert_allclose(w.grad, 4 * 2 * w.array, rtol=1e-13)


def test_index_tables_are_cached():
    inds = mgi.make_d4_p4m_indices(3)
    index = as_gfilter_index(inds)
    assert as_gfilter_index(inds.copy()) is index
    assert as_gfilter_index(index) is index
    assert index.cpu_gather(5) is index.cpu_gather(5)
    assert index.cpu_adjoint(5) is index.cpu_adjoint(5)
    assert index.gather.dtype == np.int32 and index.adjoint.dtype == np.int32
    # a permutation per output transform: every source entry has exactly nto targets
    assert index.adjoint.shape == (8 * 9, 8) and (index.adjoint >= 0).all()
    # the table may also come as nested lists (or as a CuPy array, see the gpu tests)
    np.testing.assert_array_equal(as_gfilter_index(inds.tolist()).gather, index.gather)


@pytest.mark.parametrize('bad, match', [
    (np.zeros((4, 1, 3, 3), np.int32), r'\(n_out_transforms, n_in_transforms, ksize, ksize, 3\)'),
    (np.zeros((4, 1, 3, 2, 3), np.int32), r'ksize, ksize, 3\)'),
    (np.zeros((4, 1, 3, 3, 3), np.float64), 'int32'),
    (np.full((4, 1, 3, 3, 3), 3, np.int32), r'out of range'),
    (-np.ones((4, 1, 3, 3, 3), np.int32), r'out of range'),
])
def test_bad_index_table(bad, match):
    with pytest.raises(ValueError, match=match):
        GFilterIndex(bad)


def test_bad_filter_shape_and_dtype():
    inds = mgi.make_c4_p4_indices(3)
    with pytest.raises(ValueError, match=r'\(out_channels, in_channels, 4, 3, 3\).*got \(2, 3, 1, 3, 3\)'):
        transform_filter(np.zeros((2, 3, 1, 3, 3)), inds)
    with pytest.raises(ValueError, match=r'\(out_channels, in_channels, 4, 3, 3\)'):
        transform_filter(np.zeros((4, 3, 3)), inds)
    with pytest.raises(ValueError, match='float16, float32 or float64'):
        transform_filter(np.zeros((2, 3, 4, 3, 3), np.int32), inds)
    with pytest.raises(chainer.utils.type_check.InvalidType):
        TransformGFilter(inds).apply((np.zeros((2, 3, 1, 3, 3)),))


@pytest.mark.gpu
@pytest.mark.parametrize('dtype', [np.float16, np.float32, np.float64])
@pytest.mark.parametrize('table', ['d4_p4m_k3', 'c4_z2_k4', 'many_to_one_4_2_3', 'perm_8_8_3'])
def test_gpu_matches_cpu_and_is_deterministic(dtype, table):
    import cupy
    assert gpu_available()
    inds = TABLES[table]()
    w = _w_for(inds, seed=9).astype(dtype)
    tw = transform_filter(cupy.asarray(w), inds)
    np.testing.assert_array_equal(cupy.asnumpy(tw.array), transform_filter(w, inds).array)
    gy = np.random.RandomState(10).uniform(-1, 1, tw.shape).astype(dtype)
    gw_gpu = [cupy.asnumpy(TransformGFilterAdjoint(inds).apply((cupy.asarray(gy),))[0].array)
              for _ in range(2)]
    np.testing.assert_array_equal(gw_gpu[0], gw_gpu[1])  # no atomics: bitwise reproducible
    tol = {np.float16: 5e-3, np.float32: 1e-6, np.float64: 1e-13}[dtype]
    np.testing.assert_allclose(gw_gpu[0], reference_adjoint(gy.astype(np.float64), inds),
                               rtol=tol, atol=tol * 8)


@pytest.mark.gpu
@pytest.mark.parametrize('table', ['d4_p4m_k2', 'c4_p4_k3', 'many_to_one_2_1_4'])
def test_gpu_check_backward_and_double_backward(table):
    import cupy
    inds = TABLES[table]()
    w = cupy.asarray(_w_for(inds, seed=11))
    gy = cupy.random.uniform(-1, 1, (2, inds.shape[0], 3) + inds.shape[1:4])
    ggw = cupy.random.uniform(-1, 1, w.shape)
    gradient_check.check_backward(lambda w: transform_filter(w, inds), w, gy, dtype=np.float64,
                                  atol=1e-7, rtol=1e-6)
    gradient_check.check_double_backward(lambda w: transform_filter(w, inds) ** 2, w, gy, ggw,
                                         dtype=np.float64, atol=1e-6, rtol=1e-5)


@pytest.mark.gpu
def test_gpu_index_table_as_in_the_original():
    """The original GrouPy moved the index table to the GPU before building the transform."""
    import cupy
    inds = mgi.make_c4_p4_indices(3)
    w = _w_for(inds, seed=12)
    tw = TransformGFilter(cupy.asarray(inds)).apply((cupy.asarray(w),))[0]
    np.testing.assert_array_equal(cupy.asnumpy(tw.array), transform_filter(w, inds).array)


@pytest.mark.parametrize('table', ['c4_z2_k5', 'c4_p4_k3', 'd4_z2_k5', 'd4_p4m_k3'])
def test_original_call_style(table):
    """``TransformGFilter(inds)(W)`` as the original's layers and test called it: a Variable,
    whose creator's ``forward`` recomputes it and whose gradient is the scatter-add."""
    inds = TABLES[table]()
    w = chainer.Variable(_w_for(inds, seed=12))
    transform = TransformGFilter(inds)
    tw = transform(w)
    assert isinstance(tw, chainer.Variable) and tw.creator is transform
    np.testing.assert_array_equal(tw.array, reference_forward(w.array, inds))
    np.testing.assert_array_equal(tw.creator.forward((w.array,))[0], tw.array)
    for j, name in enumerate('TUV'):  # the original kept the three coordinate tables
        np.testing.assert_array_equal(getattr(transform, name), inds[..., j])
    gy = np.random.RandomState(13).standard_normal(tw.shape)
    tw.grad = gy
    tw.backward()
    np.testing.assert_allclose(w.grad, reference_adjoint(gy, inds), rtol=1e-13, atol=1e-13)


def test_one_index_on_filter_banks_of_different_channel_counts():
    """The derived gather tables are cached per number of input channels: one index (as the
    layers of one kind and ksize share) transforms banks of 1, 3 and 2 input channels, in turn
    and again, each to the explicit gather, and back to the explicit scatter-add."""
    inds = mgi.make_d4_p4m_indices(3)
    index = as_gfilter_index(inds)
    for n_in in (1, 3, 2, 3, 1):
        w = _w_for(inds, out=2, n_in=n_in, seed=n_in)
        np.testing.assert_array_equal(transform_filter(w, index).array,
                                      reference_forward(w, inds))
        gy = np.random.RandomState(10 + n_in).standard_normal(reference_forward(w, inds).shape)
        np.testing.assert_allclose(TransformGFilterAdjoint(index).apply((gy,))[0].array,
                                   reference_adjoint(gy, inds), rtol=1e-13, atol=1e-13)


def test_tables_with_equal_entries_but_different_shapes_are_not_confused():
    """The table cache tells tables apart by shape as well as content: (2, 1, 3, 3, 3) and its
    reshape to (1, 2, 3, 3, 3) hold the same integers but transform different filters."""
    a = random_table(2, 1, 3, 12)
    b = a.reshape(1, 2, 3, 3, 3)
    assert (b[..., 0] == 0).all()  # still a valid table (T = 0 < nti = 2)
    for inds in (a, b, a):
        index = as_gfilter_index(inds)
        assert index.filter_shape == inds.shape[1:4]
        w = _w_for(inds, seed=13)
        np.testing.assert_array_equal(transform_filter(w, inds).array, reference_forward(w, inds))

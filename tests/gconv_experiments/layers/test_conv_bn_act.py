"""ConvBNAct: shapes, one BN statistic per feature map shared over the stabiliser axis G,
and equivariance preserved (BN commutes with permuting G; a P4ConvZ2 block stays equivariant)."""
import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np
import pytest

from gconv_experiments.layers.conv_bn_act import ConvBNAct


class GroupShapedConv(chainer.Chain):
    """A planar conv with C*G outputs viewed as a G-feature map (N, C, G, H, W): a stand-in
    producing 5-D feature maps whose G channels have different statistics."""

    def __init__(self, in_channels, out_channels, n_stab):
        super().__init__()
        self.out_channels, self.n_stab = out_channels, n_stab
        with self.init_scope():
            self.conv = L.Convolution2D(in_channels, out_channels * n_stab, 3)

    def forward(self, x):
        h = self.conv(x)
        n, _, hh, ww = h.shape
        return F.reshape(h, (n, self.out_channels, self.n_stab, hh, ww))


def _input(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", [F.relu, None])
def test_planar_shape_and_activation(dtype, act):
    with chainer.using_config("dtype", dtype):  # parameters take chainer's default dtype
        block = ConvBNAct(L.Convolution2D(3, 5, 3, pad=1), act=act)
    x = _input((4, 3, 6, 7), dtype)
    y = block(x)
    assert y.shape == (4, 5, 6, 7) and y.dtype == dtype
    assert block.bn.avg_mean.dtype == dtype
    if act is F.relu:
        assert (y.array >= 0).all() and (y.array > 0).any()
    else:
        assert (y.array < 0).any()


def test_g_feature_map_statistics_are_shared_over_stabiliser_axis():
    n_stab = 4
    conv = GroupShapedConv(2, 3, n_stab)
    # Give every orientation channel its own offset, so per-(C, G) statistics differ.
    conv.conv.b.array[:] = np.arange(3 * n_stab, dtype=np.float32) * 3
    block = ConvBNAct(conv, act=None)
    x = _input((5, 2, 8, 8), np.float32)
    with chainer.using_config("train", True):
        y = block(x).array
        h = conv(x).array
    assert y.shape == (5, 3, n_stab, 6, 6)
    assert block.bn.avg_mean.shape == (3,)
    mean = h.mean(axis=(0, 2, 3, 4), keepdims=True)
    var = h.var(axis=(0, 2, 3, 4), keepdims=True)
    expected = (h - mean) / np.sqrt(var + block.bn.eps)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3, 4)), 0, atol=1e-4)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3, 4)), 1, rtol=1e-3)
    # ... and not per orientation channel: the G channels keep different means.
    per_g = y.mean(axis=(0, 3, 4))
    assert np.ptp(per_g, axis=1).min() > 0.1


@pytest.mark.parametrize("train", [True, False])
def test_bn_commutes_with_permuting_stabiliser_axis(train):
    bn = ConvBNAct(L.Convolution2D(1, 3, 1), act=F.relu).bn
    bn.avg_mean[:] = [0.3, -0.2, 1.0]
    bn.avg_var[:] = [2.0, 0.5, 1.5]
    bn.gamma.array[:] = [1.5, 0.7, -1.0]
    bn.beta.array[:] = [0.1, 0.2, 0.3]
    h = _input((3, 3, 8, 5, 5), np.float64)
    perm = np.random.default_rng(1).permutation(8)
    with chainer.using_config("train", train):
        a = bn(h).array[:, :, perm]
        b = bn(h[:, :, perm]).array
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("train", [True, False])
def test_p4_block_stays_rotation_equivariant(train):
    try:
        from groupy.gconv.chainer_gconv import P4ConvZ2
    except ImportError:
        pytest.skip("groupy.gconv.chainer_gconv.P4ConvZ2 not available yet")
    conv = P4ConvZ2(2, 3, ksize=3, pad=1, dtype=np.float64)
    block = ConvBNAct(conv)
    block.bn.avg_mean[:] = [0.2, -0.1, 0.4]
    block.bn.avg_var[:] = [1.3, 0.6, 2.0]
    x = _input((2, 2, 9, 9), np.float64)
    xr = np.rot90(x, 1, axes=(2, 3)).copy()

    def transform(y, shift):  # rotate the planes and cyclically shift the 4 orientations
        return np.roll(np.rot90(y, 1, axes=(3, 4)), shift, axis=2)

    with chainer.using_config("train", train):
        raw, raw_r = conv(x).array, conv(xr).array
        shifts = [s for s in (1, -1) if np.allclose(transform(raw, s), raw_r, rtol=1e-10, atol=1e-10)]
        assert shifts, "P4ConvZ2 itself is not rot90-equivariant on this input"
        y, yr = block(x).array, block(xr).array
    np.testing.assert_allclose(transform(y, shifts[0]), yr, rtol=1e-7, atol=1e-10)


def test_bad_arguments():
    with pytest.raises(TypeError, match="chainer.Link"):
        ConvBNAct(F.relu)
    with pytest.raises(TypeError, match="out_channels"):
        ConvBNAct(L.Linear(3, 4))
    with pytest.raises(TypeError, match="act must be callable"):
        ConvBNAct(L.Convolution2D(1, 2, 3), act="relu")
    assert ConvBNAct(L.Linear(3, 4), bn=False).bn is None


def _train_pass(block, x, numba):
    """Output, input gradient, parameter gradients and running mean of one training pass."""
    block.cleargrads()
    with chainer.using_config("train", True), chainer.using_config("groupy_fast_cpu_numba", numba):
        xv = chainer.Variable(x.copy())
        y = block(xv)
        creator = type(y.creator).__name__
        F.sum(y * y).backward()
    grads = {name: p.grad.copy() for name, p in block.namedparams()}
    return y.array, xv.grad, grads, block.bn.avg_mean.copy(), creator


def test_compiled_kernels_run_bn_and_relu_as_one_node_with_the_same_numbers():
    pytest.importorskip("numba")
    from groupy.fast_cpu import relu
    from groupy.gconv.chainer_gconv import P4ConvZ2
    x = _input((3, 2, 7, 5), np.float32)  # batch 3, odd plane
    block = ConvBNAct(P4ConvZ2(2, 3, ksize=3), act=relu)
    saved = block.copy(mode="copy")
    fused = _train_pass(block, x, True)
    plain = _train_pass(saved, x, False)
    assert fused[4] == "BatchNormalizationReLUFunction" and plain[4] != fused[4]
    for a, b in zip(fused[:2], plain[:2]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    for name in plain[2]:
        np.testing.assert_allclose(fused[2][name], plain[2][name], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fused[3], plain[3], rtol=1e-5, atol=1e-6)


def test_a_link_hook_sees_the_bn_link_even_with_the_compiled_kernels():
    pytest.importorskip("numba")
    from groupy.fast_cpu import relu

    class Seen(chainer.LinkHook):
        name = "seen"

        def __init__(self):
            self.links = []

        def forward_preprocess(self, args):
            self.links.append(type(args.link).__name__)

    block = ConvBNAct(L.Convolution2D(2, 3, 3), act=relu)
    hook = Seen()
    with hook, chainer.using_config("train", True), chainer.using_config("groupy_fast_cpu_numba", True):
        block(_input((2, 2, 6, 6), np.float32))
    assert "BatchNormalization" in hook.links

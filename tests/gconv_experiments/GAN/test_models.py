"""Shapes of the GAN models, exact invariance of the p4/p4m discriminators, and the spectral
normalisation of G-convolutions (its power-iteration vector is saved and restored)."""
import chainer
import chainer.gradient_check
import numpy as np
import pytest

from gconv_experiments.GAN.discriminator import Discriminator
from gconv_experiments.GAN.generator import Generator
from gconv_experiments.GAN.group_layers import conv3x3, g_channels
from gconv_experiments.GAN.leaky_relu import leaky_relu
from groupy.gconv.chainer_gconv import check_equivariance

Y4 = np.array([0, 3, 7, 9], np.int32)


def _float64(cls, *args, **kwargs):
    np.random.seed(0)
    with chainer.using_config("dtype", np.float64):
        return cls(*args, **kwargs)


@pytest.mark.parametrize("group, widths", [("z2", (8, 16, 32)), ("p4", (4, 8, 16)),
                                           ("p4m", (2, 5, 11))])
def test_discriminator_widths_follow_dey_rule_and_output_one_logit_per_image(group, widths):
    d = Discriminator(group, ch=8)
    assert d.widths == widths == tuple(g_channels(c, group) for c in (8, 16, 32))
    out = d(np.zeros((4, 1, 28, 28), np.float32), Y4)
    assert out.shape == (4,) and out.dtype == np.float32


@pytest.mark.parametrize("group", ["z2", "p4"])
def test_generator_draws_images_in_tanh_range(group):
    g = Generator(group, ch=4, latent_dim=8, embed_dim=4)
    x = g(np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32), Y4)
    assert x.shape == (4, 1, 28, 28)
    assert np.abs(x.array).max() < 1 and x.array.std() > 0
    s = g.sample(np.arange(10), np.random.default_rng(0), batchsize=3)
    assert s.shape == (10, 1, 28, 28) and 0 <= s.min() and s.max() <= 1


@pytest.mark.parametrize("group, stabiliser", [("p4", "C4"), ("p4m", "D4")])
def test_gconv_discriminator_is_exactly_invariant(group, stabiliser):
    d = _float64(Discriminator, group, ch=4)
    x = np.random.default_rng(1).random((2, 1, 28, 28))
    errors = check_equivariance(lambda v: d(v, Y4[:2]), "Z2", "invariant", x=x,
                                stabiliser=stabiliser)
    assert len(errors) == (4 if group == "p4" else 8)
    assert max(errors.values()) < 1e-12, errors


def test_z2_discriminator_is_not_invariant():
    d = _float64(Discriminator, "z2", ch=4)
    x = np.random.default_rng(1).random((2, 1, 28, 28))
    errors = check_equivariance(lambda v: d(v, Y4[:2]), "Z2", "invariant", x=x)
    assert max(errors.values()) > 1e-4, errors


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="group must be one of z2, p4, p4m, got 'c4'"):
        Discriminator("c4")
    with pytest.raises(ValueError, match="group must be one of z2, p4, got 'p4m'"):
        Generator("p4m")
    with pytest.raises(ValueError, match=r"expected images \(N, 1, H, H\)"):
        Discriminator("p4", ch=2)(np.zeros((2, 3, 28, 28), np.float32), Y4[:2])
    with pytest.raises(ValueError, match="expected noise"):
        Generator("z2", ch=2, latent_dim=8)(np.zeros((2, 5), np.float32), Y4[:2])


def test_spectral_norm_of_a_gconv_divides_by_the_top_singular_value_of_w_as_a_matrix():
    np.random.seed(0)
    with chainer.using_config("dtype", np.float64):
        conv = conv3x3("p4", 3, 5, first=False)
    assert conv.W.shape == (5, 3, 4, 3, 3) and conv.W_u.shape == (5,)
    x = np.random.default_rng(0).standard_normal((1, 12, 6, 6))
    with chainer.using_config("train", True):
        for _ in range(100):  # power iterations converge to the top singular vectors
            conv(x)
    sigma = np.linalg.svd(conv.W.array.reshape(5, -1), compute_uv=False)[0]
    hook = conv.local_link_hooks["SpectralNormalization"]
    w_normalised = hook.normalize_weight(conv).array
    # rtol: the hook normalises its vectors by (norm + 1e-6)
    np.testing.assert_allclose(w_normalised, conv.W.array / sigma, rtol=1e-5)


def test_spectral_norm_vectors_round_trip_through_a_snapshot(tmp_path):
    x = np.random.default_rng(2).random((3, 1, 28, 28)).astype(np.float32)
    d = Discriminator("p4", ch=4)
    with chainer.using_config("train", True):
        for _ in range(3):
            d(x, Y4[:3])
    chainer.serializers.save_npz(tmp_path / "d.npz", d)
    np.random.seed(123)
    restored = Discriminator("p4", ch=4)
    assert not np.array_equal(restored.conv1.W_u, d.conv1.W_u)
    chainer.serializers.load_npz(tmp_path / "d.npz", restored)
    for name in ("conv0", "conv1", "conv2", "out"):
        np.testing.assert_array_equal(getattr(restored, name).W_u, getattr(d, name).W_u)
    with chainer.using_config("train", True):  # the output depends on u in training mode
        np.testing.assert_array_equal(restored(x, Y4[:3]).array, d(x, Y4[:3]).array)
    np.testing.assert_array_equal(restored.conv2.W_u, d.conv2.W_u)


def test_leaky_relu_gradients_of_first_and_second_order():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4))
    x[np.abs(x) < 0.05] = 0.5  # away from the kink
    np.testing.assert_allclose(leaky_relu(x, 0.2).array, np.where(x >= 0, x, 0.2 * x))
    chainer.gradient_check.check_backward(lambda v: leaky_relu(v, 0.2), x,
                                          rng.standard_normal((3, 4)), dtype=np.float64)
    chainer.gradient_check.check_double_backward(
        lambda v: leaky_relu(v, 0.2) ** 2, x, rng.standard_normal((3, 4)),
        rng.standard_normal((3, 4)), dtype=np.float64)


class _Recorder(chainer.LinkHook):
    """Records the positional inputs and the output of every link's forward pass."""
    name = "recorder"

    def __init__(self):
        self.inputs, self.outputs = {}, {}

    def forward_postprocess(self, args):
        self.inputs[id(args.link)] = [chainer.as_array(a) for a in args.args]
        self.outputs[id(args.link)] = chainer.as_array(args.out)


def _leaky(h):
    return np.where(h > 0, h, 0.2 * h)


def _average_pool(h):
    n, c, height, width = h.shape
    return h.reshape(n, c, height // 2, 2, width // 2, 2).mean(axis=(3, 5))


@pytest.mark.parametrize("group", ["z2", "p4", "p4m"])
def test_discriminator_forward_worked_out_by_hand(group):
    """From each convolution's recorded output: LeakyReLU(0.2), 2x2 average pooling after the
    first two blocks only, the max over the stabiliser, the average over the 7x7 plane (phi),
    then w . phi + b + <embed(y), phi>."""
    d = _float64(Discriminator, group, ch=4)
    x = np.random.default_rng(2).random((3, 1, 28, 28))
    y = np.array([1, 4, 9], np.int32)
    with _Recorder() as rec:
        logits = d(x, y).array
    out = lambda link: rec.outputs[id(link)]  # noqa: E731
    inp = lambda link: rec.inputs[id(link)][0]  # noqa: E731
    np.testing.assert_allclose(inp(d.conv1), _average_pool(_leaky(out(d.conv0))), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(inp(d.conv2), _average_pool(_leaky(out(d.conv1))), rtol=1e-12, atol=1e-12)
    h = _leaky(out(d.conv2))
    assert h.shape[-2:] == (7, 7)
    n = {"z2": 1, "p4": 4, "p4m": 8}[group]
    h = h.reshape(3, -1, n, 7, 7).max(axis=2)
    phi = h.mean(axis=(2, 3))
    np.testing.assert_allclose(inp(d.out), phi, rtol=1e-12, atol=1e-12)
    expected = out(d.out)[:, 0] + (out(d.embed) * phi).sum(axis=1)
    np.testing.assert_allclose(logits, expected, rtol=1e-12, atol=1e-12)
    assert np.abs((out(d.embed) * phi).sum(axis=1)).min() > 1e-6  # the projection term counts


def test_generator_samples_are_its_test_mode_images_of_standard_normal_noise():
    """sample(labels, rng, batchsize): per batch, noise rng.standard_normal((batch, latent_dim)),
    the images of test mode mapped from (-1, 1) to (0, 1)."""
    np.random.seed(0)
    g = Generator("z2", ch=4, latent_dim=8, embed_dim=4)
    labels = np.array([0, 5, 2, 7, 7], np.int32)
    got = g.sample(labels, np.random.default_rng(5), batchsize=3)
    rng = np.random.default_rng(5)
    expected = []
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        for i in (0, 3):
            z = rng.standard_normal((len(labels[i:i + 3]), 8)).astype(np.float32)
            expected.append((g(z, labels[i:i + 3]).array + 1) / 2)
    np.testing.assert_allclose(got, np.concatenate(expected), rtol=1e-6, atol=1e-6)

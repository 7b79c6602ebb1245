"""The relativistic average loss against a hand computation; the gradient of the R1 penalty
(double backpropagation through the G-convolutions) against finite differences."""
import chainer
import chainer.gradient_check
import numpy as np
import pytest

from gconv_experiments.GAN.discriminator import Discriminator
from gconv_experiments.GAN.losses import r1_penalty, ragan_discriminator_loss, ragan_generator_loss


def _softplus(t):
    return np.log1p(np.exp(t))


def test_ragan_losses_match_a_hand_computation():
    r, f = np.array([2.0, -1.0]), np.array([0.5, 1.5, -3.0])
    # mean f = -1/3, mean r = 1/2
    d_expected = (_softplus(-(2 + 1 / 3)) + _softplus(-(-1 + 1 / 3))) / 2 + (
        _softplus(0.5 - 0.5) + _softplus(1.5 - 0.5) + _softplus(-3 - 0.5)) / 3
    g_expected = (_softplus(-(0.5 - 0.5)) + _softplus(-(1.5 - 0.5)) + _softplus(-(-3 - 0.5))) / 3 + (
        _softplus(2 + 1 / 3) + _softplus(-1 + 1 / 3)) / 2
    assert float(ragan_discriminator_loss(r, f).array) == pytest.approx(d_expected, rel=1e-12)
    assert float(ragan_generator_loss(r, f).array) == pytest.approx(g_expected, rel=1e-12)
    # Dey et al.'s form: -log(sigmoid(.)) and -log(1 - sigmoid(.)), without their 1e-6
    sig = lambda t: 1 / (1 + np.exp(-t))  # noqa: E731
    dey = -np.mean(np.log(sig(r - f.mean()))) - np.mean(np.log(1 - sig(f - r.mean())))
    assert float(ragan_discriminator_loss(r, f).array) == pytest.approx(dey, rel=1e-12)


def test_ragan_loss_is_finite_for_huge_logits_and_rejects_bad_shapes():
    assert np.isfinite(ragan_discriminator_loss(np.array([1e4]), np.array([-1e4])).array)
    assert float(ragan_discriminator_loss(np.array([1e4]), np.array([-1e4])).array) == 0.0
    with pytest.raises(ValueError, match=r"expected fake logits of shape \(N,\)"):
        ragan_discriminator_loss(np.zeros(3), np.zeros((3, 1)))


def test_r1_penalty_matches_a_linear_discriminator():
    w = np.random.default_rng(0).standard_normal((1, 3, 3))

    def dis(x, y):
        return chainer.functions.sum(x * np.broadcast_to(w, x.shape), axis=(1, 2, 3))

    penalty, logits = r1_penalty(dis, np.ones((4, 1, 3, 3)), None, gamma=0.3)
    assert float(penalty.array) == pytest.approx(0.15 * (w ** 2).sum(), rel=1e-12)
    assert logits.shape == (4,)


@pytest.mark.parametrize("group", ["z2", "p4", "p4m"])
def test_r1_gradient_wrt_discriminator_parameters_matches_finite_differences(group):
    np.random.seed(0)
    with chainer.using_config("dtype", np.float64):
        dis = Discriminator(group, ch=3, sn=False)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 1, 8, 8))
    y = np.array([1, 4], np.int32)
    dis(x, y)  # all parameters initialised
    for p in dis.params():  # larger than the orthogonal initial values: a curved penalty
        p.array[...] = rng.standard_normal(p.shape)

    def penalty():
        return r1_penalty(dis, x, y, gamma=1.0)[0]

    dis.cleargrads()
    penalty().backward()
    params = dict(dis.namedparams())
    for name in ("/conv0/W", "/conv1/W", "/conv2/W", "/embed/W", "/out/W"):
        param = params[name]
        analytic, base = param.grad.copy(), param.array.copy()
        assert np.abs(analytic).max() > 1e-3, name
        for _ in range(3):  # derivatives along random directions v: <grad, v> vs d/dt P(w + t v)
            v = rng.standard_normal(param.shape)
            t = np.zeros(())

            def along():
                param.array[...] = base + t * v
                return (penalty().array,)

            numeric, = chainer.gradient_check.numerical_grad(along, (t,), (np.ones(()),), eps=1e-5)
            param.array[...] = base
            assert float(numeric) == pytest.approx(float((analytic * v).sum()), rel=1e-6), name
    # a bias only moves the kinks of LeakyReLU: no gradient from R1 (Chainer leaves it None)
    assert params["/conv2/b"].grad is None or not np.any(params["/conv2/b"].grad)

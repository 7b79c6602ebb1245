"""BN re-estimation (--bn_reestimation, --bn_averaging) against statistics computed directly
with NumPy, including the short last batch of 12000 examples at batch size 128 (93 x 128 + 96)."""
import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np
import pytest

from gconv_experiments import training
from gconv_experiments.layers import Classifier

N, BATCH, EPS = 12000, 128, 2e-5
GAMMA, BETA = np.array([2.0, 0.5]), np.array([1.0, -1.0])


class TwoBN(Classifier):
    """x (N, 2, 2, 2) -> BN1 (gamma, beta set) -> ReLU -> dropout -> BN2 -> class scores."""

    def __init__(self, dropout=0.0):
        super().__init__()
        self.dropout = dropout
        with self.init_scope():
            self.bn1 = L.BatchNormalization(2, eps=EPS)
            self.bn2 = L.BatchNormalization(2, eps=EPS)
        self.bn1.gamma.array[:] = GAMMA
        self.bn1.beta.array[:] = BETA

    def logits(self, x):
        h = F.relu(self.bn1(x))
        if self.dropout:
            h = F.dropout(h, self.dropout)
        return F.reshape(self.bn2(h), (len(x), 8))[:, :2]


def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, 2, 2, 2)) * np.array([1.0, 3.0])[None, :, None, None] + np.array([4.0, -2.0])[None, :, None, None]
    x *= (1 + (np.arange(N) // BATCH) % 3)[:, None, None, None]  # unshuffled batches differ in spread
    x[-96:] += 3.0  # and the short last batch in its mean
    return x.astype(np.float32), np.zeros(N, np.int32)


def numpy_statistics(x, order, averaging):
    """Expected (mean, var) of BN1 and BN2 computed directly: batches of BATCH in `order`, each
    normalised by its own statistics; 'batch' averages the per-batch means and unbiased
    variances with equal weights, 'exact' takes mean and unbiased variance over all values."""
    x = x.astype(np.float64)[order]
    inputs1, inputs2 = [], []
    for i in range(0, len(x), BATCH):
        b = x[i:i + BATCH]
        mu, var = b.mean(axis=(0, 2, 3)), b.var(axis=(0, 2, 3))
        h = (b - mu[None, :, None, None]) / np.sqrt(var + EPS)[None, :, None, None]
        h = np.maximum(GAMMA[None, :, None, None] * h + BETA[None, :, None, None], 0)
        inputs1.append(b)
        inputs2.append(h)
    stats = []
    for inputs in (inputs1, inputs2):
        if averaging == "batch":
            means = [b.mean(axis=(0, 2, 3)) for b in inputs]
            variances = [b.var(axis=(0, 2, 3), ddof=1) for b in inputs]
            stats.append((np.mean(means, axis=0), np.mean(variances, axis=0)))
        else:
            allv = np.concatenate(inputs)
            stats.append((allv.mean(axis=(0, 2, 3)), allv.var(axis=(0, 2, 3), ddof=1)))
    return stats


@pytest.mark.parametrize("averaging", ["batch", "exact"])
@pytest.mark.parametrize("shuffled", [False, True])
def test_population_statistics_with_a_short_last_batch(averaging, shuffled):
    x, y = data()
    assert N % BATCH == 96
    model = TwoBN()
    model.bn1.avg_mean[:] = 100.0  # stale statistics must not survive
    rng = np.random.default_rng(5) if shuffled else None
    order = np.random.default_rng(5).permutation(N) if shuffled else np.arange(N)
    training.reestimate_batchnorm(model, x, y, BATCH, chainer.get_device("@numpy"), mode="clean",
                                  averaging=averaging, rng=rng)
    (m1, v1), (m2, v2) = numpy_statistics(x, order, averaging)
    np.testing.assert_allclose(model.bn1.avg_mean, m1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.bn1.avg_var, v1, rtol=1e-4)
    np.testing.assert_allclose(model.bn2.avg_mean, m2, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.bn2.avg_var, v2, rtol=1e-4)
    assert model.bn1.decay == model.bn2.decay == 0.9


@pytest.mark.parametrize("shuffled", [False, True])
def test_batch_and_exact_averaging_differ_here(shuffled):
    """The two averagings are far apart on this data (so the test above tells them apart)."""
    x, _ = data()
    order = np.random.default_rng(5).permutation(N) if shuffled else np.arange(N)
    batch, exact = numpy_statistics(x, order, "batch"), numpy_statistics(x, order, "exact")
    assert np.abs(batch[0][1] / exact[0][1] - 1).max() > 1e-3
    if not shuffled:
        assert np.abs(batch[0][0] / exact[0][0] - 1).max() > 1e-3


def test_clean_turns_dropout_off_and_augmented_keeps_it():
    x, y = data()
    x, y = x[:1000], y[:1000]
    device = chainer.get_device("@numpy")
    expected = numpy_statistics(x, np.arange(1000), "batch")[1]
    clean = TwoBN(dropout=0.5)
    training.reestimate_batchnorm(clean, x, y, BATCH, device, mode="clean")
    np.testing.assert_allclose(clean.bn2.avg_mean, expected[0], rtol=1e-4, atol=1e-5)
    np.random.seed(0)
    augmented = TwoBN(dropout=0.5)
    training.reestimate_batchnorm(augmented, x, y, BATCH, device, mode="augmented")
    np.testing.assert_allclose(augmented.bn1.avg_mean, clean.bn1.avg_mean, rtol=1e-5)  # before the dropout
    # Inverted dropout keeps the mean but raises the variance of what BN2 sees.
    assert np.all(augmented.bn2.avg_var > 1.3 * clean.bn2.avg_var)
    no_dropout = TwoBN()
    training.reestimate_batchnorm(no_dropout, x, y, BATCH, device, mode="augmented")
    np.testing.assert_allclose(no_dropout.bn2.avg_var, clean.bn2.avg_var, rtol=1e-5)


def test_none_keeps_the_running_averages():
    x, y = data()
    model = TwoBN()
    model.bn1.avg_mean[:] = 7.0
    training.reestimate_batchnorm(model, x[:300], y[:300], BATCH, chainer.get_device("@numpy"), mode="none")
    assert np.all(model.bn1.avg_mean == 7.0)

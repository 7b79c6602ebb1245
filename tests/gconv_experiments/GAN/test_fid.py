"""The Fréchet distance against hand computations, FID(x, x) = 0, the committed feature network
(small, loads, classifies the test set), and the P4CNN judge on real test digits."""
import json
import os

import numpy as np
import pytest

from gconv_experiments.GAN.fid import FIDMeasure, features, frechet_distance, statistics
from gconv_experiments.GAN.fid_net import DEFAULT_DIR, FIDNet, load_fid_net
from gconv_experiments.GAN.judge import DEFAULT_RUN, Judge

DATADIR = "/work/data/mnist_rot"


def test_frechet_distance_of_diagonal_gaussians_by_hand():
    mu1, mu2 = np.array([1.0, 2.0, 0.0]), np.array([0.0, 0.0, 3.0])
    a, b = np.array([4.0, 1.0, 9.0]), np.array([1.0, 1.0, 0.25])
    # ||mu1 - mu2||^2 = 1 + 4 + 9; sum (sqrt a - sqrt b)^2 = 1 + 0 + 6.25
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(14 + 7.25, rel=1e-12)


def test_frechet_distance_of_a_rotated_covariance_by_hand():
    # S1 = R diag(4, 1) R^T, S2 = R diag(1, 9) R^T commute: sqrt(S1 S2) = R diag(2, 3) R^T,
    # Tr = 5; FID = 0 + (5 + 10 - 10) = 5 for equal means
    c, s = np.cos(0.3), np.sin(0.3)
    r = np.array([[c, -s], [s, c]])
    s1, s2 = r @ np.diag([4.0, 1.0]) @ r.T, r @ np.diag([1.0, 9.0]) @ r.T
    assert frechet_distance(np.ones(2), s1, np.ones(2), s2) == pytest.approx(5.0, rel=1e-10)
    # a 1-D case: (mu1 - mu2)^2 + (sigma1 - sigma2)^2
    assert frechet_distance([1.0], [[4.0]], [3.0], [[25.0]]) == pytest.approx(4 + 9, rel=1e-12)


def test_frechet_distance_is_zero_for_the_same_set_and_rejects_bad_shapes():
    x = np.random.default_rng(0).standard_normal((50, 8))
    mu, s = statistics(x)
    assert abs(frechet_distance(mu, s, mu, s)) < 1e-8
    y = x + np.array([3.0] + [0.0] * 7)
    assert frechet_distance(mu, s, *statistics(y)) == pytest.approx(9.0, rel=1e-8)
    with pytest.raises(ValueError, match="do not fit"):
        frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match=r"expected features \(N >= 2, D\)"):
        statistics(np.zeros((1, 4)))


def test_fid_measure_of_its_own_reference_is_zero_and_grows_with_noise():
    rng = np.random.default_rng(0)
    net = FIDNet()
    x = rng.random((60, 1, 28, 28)).astype(np.float32)
    measure = FIDMeasure(net, *statistics(features(net, x)))
    assert abs(measure(x)) < 1e-6
    assert measure(np.clip(x + 0.5, 0, 1)) > 1e-3


def test_committed_feature_network_is_small_and_loads():
    weights = os.path.join(DEFAULT_DIR, "weights.npz")
    assert os.path.getsize(weights) < 1_000_000
    with open(os.path.join(DEFAULT_DIR, "record.json")) as f:
        record = json.load(f)
    assert record["test_error"] < 0.07 and record["n_test"] == 50000
    net = load_fid_net()
    assert features(net, np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 128)
    with pytest.raises(ValueError, match="weights.npz: no such file"):
        load_fid_net("/nonexistent")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isfile(os.path.join(DATADIR, "test.npz")),
                    reason="the MNIST-rot-like data is not in /work/data/mnist_rot")
def test_feature_network_and_judge_classify_real_test_digits():
    from gconv_experiments.MNIST_ROT import mnist_rot
    x, y = mnist_rot.load_split(DATADIR, "test.npz")
    x, y = x[:300], y[:300]
    net = load_fid_net()
    assert (net(x).array.argmax(1) == y).mean() > 0.85
    judge = Judge.from_run(DEFAULT_RUN, DATADIR)
    assert judge.accuracy(x, y) > 0.9
    assert judge.accuracy(x, (y + 1) % 10) < 0.1


def test_statistics_are_the_mean_and_the_sample_covariance():
    """Covariance with ddof 1, by hand: features (0, 1), (2, 3), (4, 8)."""
    mu, sigma = statistics(np.array([[0., 1.], [2., 3.], [4., 8.]]))
    np.testing.assert_allclose(mu, [2.0, 4.0], rtol=1e-15)
    # deviations (-2, -3), (0, -1), (2, 4): sums of products 8, 14, 26 over n - 1 = 2
    np.testing.assert_allclose(sigma, [[4.0, 7.0], [7.0, 13.0]], rtol=1e-15)


def test_the_reference_cache_is_used_only_for_the_same_test_file(gan_datadir, tmp_path):
    """from_test_set(cache=...) writes the reference statistics once and reads them back for the
    same test file; another test file under the same name is measured afresh."""
    cache = str(tmp_path / "reference.npz")
    first = FIDMeasure.from_test_set(str(gan_datadir), cache=cache)
    with np.load(gan_datadir / "test.npz") as f:
        x = f["data"]
    mu, sigma = statistics(features(first.net, x))
    np.testing.assert_allclose(first.mu, mu, rtol=1e-12)
    with np.load(cache) as f:  # the cache is what is read back: mark it
        key = f["key"]
    np.savez(cache, mu=np.full_like(mu, 7.0), sigma=sigma, key=key)
    assert (FIDMeasure.from_test_set(str(gan_datadir), cache=cache).mu == 7.0).all()
    np.savez(gan_datadir / "test.npz", data=np.clip(x + 0.3, 0, 1), labels=np.zeros(len(x), np.int32))
    other = FIDMeasure.from_test_set(str(gan_datadir), cache=cache)
    np.testing.assert_allclose(other.mu, statistics(features(other.net, np.clip(x + 0.3, 0, 1)))[0], rtol=1e-12)
    with np.load(cache) as f:
        assert str(f["key"]) != str(key)

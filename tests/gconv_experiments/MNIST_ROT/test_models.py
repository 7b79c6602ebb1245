"""MNIST-rot models: forward/backward, comparable parameter counts, and invariance of the G-CNNs'
class scores to 90-degree rotations (P4CNN, P4CNN_RP) and to rotations and mirrors (P4MCNN)."""
import chainer
import numpy as np
import pytest

from gconv_experiments import training

MODELS = "gconv_experiments.MNIST_ROT.models"
NAMES = ["Z2CNN", "P4CNN", "P4CNN_RP", "P4MCNN"]


def model(name, seed=0, **kwargs):
    np.random.seed(seed)
    return training.load_model_class(name, MODELS)(**kwargs)


def digits(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n).astype(np.int32)


def train_steps(m, steps=3):
    """A few Adam steps, so that weights and BN running statistics are no longer at their init."""
    opt = chainer.optimizers.Adam(alpha=0.01)
    opt.setup(m)
    for step in range(steps):
        x, t = digits(8, seed=step)
        with chainer.using_config("train", True):
            loss, _ = m(x, t)
        m.cleargrads()
        loss.backward()
        opt.update()
    return m


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward(name):
    m = model(name)
    x, t = digits(2)
    with chainer.using_config("train", True):
        loss, acc = m(x, t)
    assert loss.shape == () and acc.shape == () and np.isfinite(loss.array)
    m.cleargrads()
    loss.backward()
    for path, p in m.namedparams():
        assert p.grad is not None and np.isfinite(p.grad).all(), path
    assert any(np.abs(p.grad).max() > 0 for p in m.params())
    with chainer.using_config("train", False):
        assert m.logits(x).shape == (2, 10)


def test_parameter_counts_are_comparable(capsys):
    counts = {name: training.count_parameters(model(name)) for name in NAMES}
    with capsys.disabled():
        print("\nparameters (incl. BN):", ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    assert counts["P4CNN_RP"] == counts["Z2CNN"]
    for name in NAMES:
        assert 0.9 < counts[name] / counts["Z2CNN"] < 1.3, counts


def test_dropout_only_in_training_mode():
    m = model("P4CNN")
    x, _ = digits(2)
    with chainer.using_config("train", True):
        a, b = m.logits(x).array, m.logits(x).array
    assert not np.allclose(a, b)
    with chainer.using_config("train", False):
        np.testing.assert_array_equal(m.logits(x).array, m.logits(x).array)
    m0 = model("P4CNN", dropout=0)
    with chainer.using_config("train", True):
        np.testing.assert_array_equal(m0.logits(x).array, m0.logits(x).array)


def _scores(m, x):
    with chainer.using_config("train", False), chainer.using_config("enable_backprop", False):
        return m.logits(x).array


def _max_rel_diff(a, b):
    return np.abs(a - b).max() / np.abs(a).max()


@pytest.mark.parametrize("name", ["P4CNN", "P4CNN_RP", "P4MCNN"])
def test_scores_invariant_to_rotations_by_90_degrees(name):
    m = train_steps(model(name))
    x, _ = digits(4, seed=10)
    y = _scores(m, x)
    for k in (1, 2, 3):
        yr = _scores(m, np.ascontiguousarray(np.rot90(x, k, axes=(2, 3))))
        np.testing.assert_allclose(yr, y, rtol=1e-4, atol=1e-4 * np.abs(y).max())


def test_p4m_scores_invariant_to_mirrors_and_p4_scores_are_not():
    x, _ = digits(4, seed=11)
    flipped = np.ascontiguousarray(x[:, :, :, ::-1])
    transposed = np.ascontiguousarray(x.transpose(0, 1, 3, 2))  # a mirror about the diagonal
    p4m = train_steps(model("P4MCNN"))
    y = _scores(p4m, x)
    for xt in (flipped, transposed):
        np.testing.assert_allclose(_scores(p4m, xt), y, rtol=1e-4, atol=1e-4 * np.abs(y).max())
    # Controls showing the comparison can fail: P4CNN is not mirror invariant and Z2CNN is
    # not rotation invariant.
    p4 = train_steps(model("P4CNN"))
    assert _max_rel_diff(_scores(p4, x), _scores(p4, flipped)) > 1e-2
    z2 = train_steps(model("Z2CNN"))
    assert _max_rel_diff(_scores(z2, x), _scores(z2, np.ascontiguousarray(np.rot90(x, 1, axes=(2, 3))))) > 1e-2


def test_net_kwargs_change_width_and_classes():
    m = model("P4MCNN", channels=3, n_classes=5)
    assert m.l2.conv.W.shape == (3, 3, 8, 3, 3)
    x, _ = digits(2)
    with chainer.using_config("train", False):
        assert m.logits(x).shape == (2, 5)

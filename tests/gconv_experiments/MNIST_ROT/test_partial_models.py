"""PartialP4CNN / PartialP4MCNN: P4CNN / P4MCNN with partial G-convolutions: shapes, parameter
counts (the full model's plus the gate logits), invariance of the fully open models, the
pooling over the top layer's kept planes, gradients reaching the gates, snapshots."""
import chainer
import numpy as np
import pytest

from gconv_experiments import training
from groupy.gconv.chainer_gconv import (P4ConvP4, P4ConvZ2, P4MConvP4M, P4MConvZ2,
                                        check_equivariance, equivariant_elements)
from groupy.gconv.chainer_gconv.partial import (PartialP4ConvP4, PartialP4MConvP4M,
                                                partial_links, predicted_equivariance)

MODELS = "gconv_experiments.MNIST_ROT.models"
CASES = [("PartialP4CNN", "P4CNN", PartialP4ConvP4, P4ConvZ2, 4),
         ("PartialP4MCNN", "P4MCNN", PartialP4MConvP4M, P4MConvZ2, 8)]


def model(name, seed=0, **kwargs):
    np.random.seed(seed)
    return training.load_model_class(name, MODELS)(**kwargs)


def digits(n, seed=0):
    return np.random.default_rng(seed).random((n, 1, 28, 28), dtype=np.float32)


@pytest.mark.parametrize("name,full,partial_cls,lifting,g", CASES)
def test_layers_and_parameter_counts(name, full, partial_cls, lifting, g):
    m, f = model(name), model(full)
    links = partial_links(m)
    assert [type(l) for l in links] == [partial_cls] * 6  # l2..l6 and top
    assert type(m.l1.conv) is lifting  # the lifting layer stays full
    assert [l.W.shape for l in links] == [getattr(f, p).conv.W.shape for p in
                                          ("l2", "l3", "l4", "l5", "l6")] + [f.top.W.shape]
    assert training.count_parameters(m) == training.count_parameters(f) + 6 * (g - 1)
    # same initialisation as the full model from the same seed
    for (pm, a), (pf, b) in zip(sorted((p, v) for p, v in m.namedparams() if "gate" not in p),
                                sorted(f.namedparams())):
        assert pm == pf and a.array.tobytes() == b.array.tobytes()


@pytest.mark.parametrize("name,full,partial_cls,lifting,g", CASES)
def test_shapes_and_gradients_reach_the_gates(name, full, partial_cls, lifting, g):
    m = model(name, n_classes=2, channels=3)
    x = digits(3)
    t = np.array([0, 1, 1], np.int32)
    np.random.seed(1)
    with chainer.using_config("train", True):
        loss, acc = m(x, t)
    m.cleargrads()
    loss.backward()
    for link in partial_links(m):
        assert link.gate_logits.grad.shape == (g - 1,) and np.isfinite(link.gate_logits.grad).all()
    assert any(np.abs(l.gate_logits.grad).max() > 0 for l in partial_links(m))
    with chainer.using_config("train", False):
        assert m.logits(x).shape == (3, 2)


@pytest.mark.parametrize("name,full,partial_cls,lifting,g", CASES)
def test_fully_open_model_is_the_full_model_and_invariant(name, full, partial_cls, lifting, g):
    m, f = model(name, channels=3), model(full, channels=3)
    x = digits(2)
    with chainer.using_config("train", False):
        np.testing.assert_array_equal(m.logits(x).array, f.logits(x).array)
    errors = check_equivariance(m.logits, "Z2", "invariant", x=x,
                                stabiliser="C4" if g == 4 else "D4")
    assert max(errors.values()) < 1e-5, errors


def test_top_pooling_takes_only_the_kept_planes():
    m = model("PartialP4CNN", channels=3)
    m.top.gate_logits.array[:] = [-1, 1, -1]
    x = digits(2)
    with chainer.using_config("train", False):
        logits = m.logits(x).array
        top = m.top(m.l6(m.l5(m.l4(m.l3(
            chainer.functions.max_pooling_2d(m.l2(m.l1(x)).reshape(2, -1, 24, 24), 2)
            .reshape(2, 3, 4, 12, 12)))))).array
    np.testing.assert_allclose(logits, top[:, :, [0, 2]].max(axis=(2, 3, 4)), rtol=1e-6)
    assert m.top.last_kept.tolist() == [True, False, True, False]


def test_partial_model_keeps_the_predicted_rotations():
    m = model("PartialP4CNN", channels=3)
    for link in partial_links(m):
        link.gate_logits.array[:] = [-1, 1, -1]  # {e, r2} everywhere
    x = digits(2)
    measured = equivariant_elements(m.logits, "Z2", "invariant", x=x)
    assert measured == predicted_equivariance(m) and measured.names == ("e", "r2")
    errors = check_equivariance(m.logits, "Z2", "invariant", x=x)
    assert errors["r=2"] < 1e-5 and errors["r=1"] > 1e-3


def test_snapshot_keeps_gates_and_temperature(tmp_path):
    m = model("PartialP4MCNN", channels=2)
    for i, link in enumerate(partial_links(m)):
        link.gate_logits.array[:] = np.random.RandomState(i).randn(7)
        link.temperature = 0.01 * (i + 1)
    path = str(tmp_path / "snapshot.h5")
    chainer.serializers.save_hdf5(path, m)
    other = model("PartialP4MCNN", channels=2, seed=5)
    chainer.serializers.load_hdf5(path, other)
    for a, b in zip(partial_links(m), partial_links(other)):
        assert a.gate_logits.array.tobytes() == b.gate_logits.array.tobytes()
        assert a.temperature == b.temperature and a.kept_elements() == b.kept_elements()

"""MNIST-rot models: the release's layers, biases, BN, initialisation and dropout placement,
forward/backward, comparable parameter counts, and invariance of the G-CNNs'
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


class _DropoutRecorder(chainer.FunctionHook):
    """Records (input spatial size, fraction of zeroed elements) of every Dropout applied."""
    name = "dropout_recorder"

    def __init__(self):
        self.seen = []

    def forward_postprocess(self, function, in_data):
        if function.label == "Dropout" and getattr(function, "mask", None) is not None:
            x = in_data[0]
            self.seen.append((x.shape[-1], float((function.mask == 0).mean())))


def _dropouts(m, x):
    rec = _DropoutRecorder()
    with chainer.using_config("train", True), rec:
        m.logits(x)
    return rec.seen


# Spatial size of each hidden layer's output on 28x28 inputs: 26, 24 (pooled to 12), 10, 8, 6, 4.
SIZE_AFTER = {1: 26, 2: 12, 3: 10, 4: 8, 5: 6, 6: 4}


def test_z2cnn_drops_exactly_after_layers_1_3_4_5_6_at_the_release_ratio():
    x, _ = digits(16)
    seen = _dropouts(model("Z2CNN"), x)
    assert [size for size, _ in seen] == [SIZE_AFTER[i] for i in (1, 3, 4, 5, 6)]
    # the masks really zero about 30% of the activations (0.3 +- 5 sigma for the smallest map)
    for size, zeroed in seen:
        n = 16 * 20 * size * size
        assert abs(zeroed - 0.3) < 5 * np.sqrt(0.3 * 0.7 / n), (size, zeroed)


@pytest.mark.parametrize("name", ["P4CNN", "P4CNN_RP", "P4MCNN"])
def test_g_cnns_hold_no_dropout_by_default_and_training_ignores_the_dropout_rng(name):
    x, _ = digits(4)
    m = model(name)
    assert _dropouts(m, x) == []
    outs = []
    for seed in (1, 2):
        np.random.seed(seed)  # the dropout masks come from numpy's global RNG
        with chainer.using_config("train", True):
            outs.append(m.logits(x).array)
    np.testing.assert_array_equal(outs[0], outs[1])
    # control: Z2CNN's training output does depend on that RNG
    z2 = model("Z2CNN")
    zs = []
    for seed in (1, 2):
        np.random.seed(seed)
        with chainer.using_config("train", True):
            zs.append(z2.logits(x).array)
    assert not np.allclose(zs[0], zs[1])


@pytest.mark.parametrize("name", ["P4CNN", "P4CNN_RP"])
def test_optional_g_cnn_dropout_sits_where_the_release_commented_it_out(name):
    x, _ = digits(4)
    seen = _dropouts(model(name, dropout=0.3), x)
    assert [size for size, _ in seen] == [SIZE_AFTER[i] for i in (1, 3, 4, 5)]


@pytest.mark.parametrize("name", ["P4CNN", "P4MCNN"])
def test_g_cnn_dropout_after_chosen_layers_as_z2cnn(name):
    x, _ = digits(4)
    seen = _dropouts(model(name, dropout=0.3, dropout_after=(6, 1, 3, 4, 5)), x)
    assert [size for size, _ in seen] == [SIZE_AFTER[i] for i in (1, 3, 4, 5, 6)]
    assert _dropouts(model(name, dropout_after=(1, 6)), x) == []  # no ratio, no dropout


@pytest.mark.parametrize("after", [(0, 1), (7,), (1, 1), "13", 3, (1.0,), (True,)])
def test_dropout_after_must_name_distinct_hidden_layers(after):
    with pytest.raises(ValueError, match=r"P4CNN: dropout_after must be distinct layer numbers in 1\.\.6"):
        model("P4CNN", dropout=0.3, dropout_after=after)


def test_dropout_only_in_training_mode():
    m = model("Z2CNN")
    x, _ = digits(2)
    with chainer.using_config("train", True):
        a, b = m.logits(x).array, m.logits(x).array
    assert not np.allclose(a, b)
    with chainer.using_config("train", False):
        np.testing.assert_array_equal(m.logits(x).array, m.logits(x).array)
    m0 = model("Z2CNN", dropout=0)
    with chainer.using_config("train", True):
        np.testing.assert_array_equal(m0.logits(x).array, m0.logits(x).array)


# Release layer lists (MNIST_ROT/models/*.py of tscohen/gconv_experiments ca88c58), written out
# by hand: (W shape, has bias) per convolution, in order l1..l6, top.
def _release_layers(name):
    if name == "Z2CNN":
        return [((20, 1, 3, 3), True)] + [((20, 20, 3, 3), True)] * 5 + [((10, 20, 4, 4), True)]
    if name == "P4CNN":
        return [((10, 1, 1, 3, 3), True)] + [((10, 10, 4, 3, 3), True)] * 5 + [((10, 10, 4, 4, 4), True)]
    if name == "P4CNN_RP":
        return [((20, 1, 1, 3, 3), True)] + [((20, 20, 1, 3, 3), True)] * 5 + [((10, 20, 1, 4, 4), True)]
    raise KeyError(name)


@pytest.mark.parametrize("name", ["Z2CNN", "P4CNN", "P4CNN_RP"])
def test_layers_biases_bn_and_init_std_as_released(name):
    m = model(name, seed=3)
    convs = [getattr(m, f"l{i}").conv for i in range(1, 7)] + [m.top]
    assert [(c.W.shape, c.b is not None) for c in convs] == _release_layers(name)
    for i in range(1, 7):
        bn = getattr(m, f"l{i}").bn
        assert bn is not None and bn.gamma.shape == (convs[i - 1].W.shape[0],) and bn.decay == 0.9
    assert not hasattr(m.top, "bn")
    for c in convs:
        w = c.W.array
        fan_in = int(np.prod(w.shape[1:]))  # Chainer 1 / GrouPy: wscale 1 -> std 1/sqrt(fan_in)
        assert abs(w.std() / (1 / np.sqrt(fan_in)) - 1) < 4 / np.sqrt(2 * w.size), (c, w.std())
        assert abs(w.mean()) < 4 / np.sqrt(fan_in * w.size)
        np.testing.assert_array_equal(c.b.array, 0)


@pytest.mark.parametrize("kwargs,match", [
    ({"dropout": 2.0}, r"dropout must be a number in \[0, 1\)"),
    ({"dropout": -0.1}, r"dropout must be a number in \[0, 1\)"),
    ({"channels": 10.5}, "channels must be an integer >= 1, got 10.5"),
    ({"channels": "ten"}, "channels must be an integer >= 1, got 'ten'"),
    ({"channels": 0}, "channels must be an integer >= 1"),
])
@pytest.mark.parametrize("name", NAMES)
def test_bad_net_kwargs_fail_at_construction_naming_the_argument(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        model(name, **kwargs)


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


class _LinkRecorder(chainer.LinkHook):
    """The input and output of the last forward call of every link."""
    name = "link_recorder"

    def __init__(self):
        self.inputs, self.outputs = {}, {}

    def forward_postprocess(self, args):
        if args.forward_name == "forward":
            self.inputs[id(args.link)] = getattr(args.args[0], "array", args.args[0])
            self.outputs[id(args.link)] = getattr(args.out, "array", args.out)


def _recorded(m, x):
    """Test-mode logits of x, and the recorded input / output of each link."""
    rec = _LinkRecorder()
    with chainer.using_config("train", False), chainer.no_backprop_mode(), rec:
        y = m.logits(x).array
    return y, (lambda link: rec.inputs[id(link)]), (lambda link: rec.outputs[id(link)])


def _pool2x2(h):
    """2x2 max pooling with stride 2 over the last two axes (even sizes), by reshaping."""
    *lead, hh, ww = h.shape
    return h.reshape(tuple(lead) + (hh // 2, 2, ww // 2, 2)).max(axis=(-3, -1))


# 36x36 inputs leave a 5x5 map after the 4x4 top layer, so the plane max is not trivial
@pytest.mark.parametrize("name", NAMES)
def test_heads_take_the_max_over_the_stabiliser_and_the_plane(name):
    """The class score is the max of the top layer's output over its orientation (stabiliser)
    channels and over the plane, not a mean; worked out from the recorded top output."""
    m = train_steps(model(name, seed=4))
    x, _ = digits(3, seed=12)
    x = np.pad(x, ((0, 0), (0, 0), (4, 4), (4, 4)))
    y, _, out = _recorded(m, x)
    top = out(m.top).astype(np.float64)
    assert top.shape[-2:] == (5, 5)
    reduce_axes = tuple(range(2, top.ndim))  # (G,) H, W
    expected = top.max(axis=reduce_axes)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    if name != "Z2CNN":  # a mean over the orientations would give another score
        alternative = top.mean(axis=2).max(axis=(2, 3))
        assert np.abs(alternative - expected).max() > 1e-2


@pytest.mark.parametrize("name", NAMES)
def test_hidden_pooling_as_released(name):
    """2x2 max pooling (stride 2) between l2 and l3, per orientation channel; P4CNN_RP also
    takes the max over the 4 orientations after every hidden layer; nothing else between the
    layers (no dropout by default for the G-CNNs, none in test mode for Z2CNN)."""
    m = train_steps(model(name, seed=5))
    x, _ = digits(2, seed=13)
    _, inp, out = _recorded(m, x)
    layers = [getattr(m, f"l{i}") for i in range(1, 7)] + [m.top]
    for i, (a, b) in enumerate(zip(layers, layers[1:]), 1):
        h = out(a)
        if name == "P4CNN_RP":
            h = h.max(axis=2)
        if i == 2:
            h = _pool2x2(h)
        np.testing.assert_array_equal(inp(b), h, err_msg=f"between l{i} and the next layer")

"""Unit tests of the shared training code: flag parsing, data/model loading, optimizer set-up,
BN re-estimation, evaluation and snapshots. End-to-end CLI runs are in MNIST_ROT/test_train.py."""
import os

import chainer
import chainer.links as L
import numpy as np
import pytest

from gconv_experiments import training
from gconv_experiments.layers import Classifier
from gconv_experiments.training import ConfigError

MODELS = "gconv_experiments.MNIST_ROT.models"


def test_parser_has_all_design_flags_and_defaults_override():
    p = training.build_parser({"batchsize": 64, "opt": "MomentumSGD"})
    a = p.parse_args([])
    assert (a.batchsize, a.opt, a.gpu, a.resume) == (64, "MomentumSGD", -1, False)
    flags = {s for action in p._actions for s in action.option_strings}
    for f in ("datadir resultdir modelfn trainfn valfn epochs batchsize opt opt_kwargs net_kwargs "
              "weight_decay lr_decay_schedule lr_decay_factor transformations val_freq save_freq "
              "gpu seed resume").split():
        assert "--" + f in flags
    with pytest.raises(ValueError, match="unknown default"):
        training.build_parser({"batch_size": 3})


@pytest.mark.parametrize("text, expected", [("", []), ("none", []), ("100-200-300", [100, 200, 300]), ("7", [7])])
def test_parse_schedule(text, expected):
    assert training.parse_schedule(text) == expected


@pytest.mark.parametrize("text", ["100-50", "a-b", "0-3", "10-10"])
def test_parse_schedule_rejects(text):
    with pytest.raises(ConfigError, match="lr_decay_schedule"):
        training.parse_schedule(text)


def test_make_optimizer_learning_rate_spellings():
    opt, attr = training.make_optimizer("Adam", {"lr": 0.01})
    assert attr == "alpha" and opt.alpha == 0.01
    opt, attr = training.make_optimizer("Adam", {"alpha": 0.002})
    assert opt.alpha == 0.002
    opt, attr = training.make_optimizer("MomentumSGD", {"lr": 0.05, "momentum": 0.8})
    assert attr == "lr" and (opt.lr, opt.momentum) == (0.05, 0.8)
    opt, attr = training.make_optimizer("RMSprop", {"alpha": 0.9})  # RMSprop's alpha is its decay
    assert attr == "lr" and opt.alpha == 0.9 and opt.lr == 0.01
    with pytest.raises(ConfigError, match="not both"):
        training.make_optimizer("Adam", {"lr": 0.1, "alpha": 0.1})
    with pytest.raises(ConfigError, match="do not fit MomentumSGD"):
        training.make_optimizer("MomentumSGD", {"beta1": 0.9})


def _write_npz(path, n=8, size=28, labels=None, **extra):
    rng = np.random.default_rng(0)
    arrays = dict(data=rng.random((n, 1, size, size), dtype=np.float32),
                  labels=np.arange(n, dtype=np.int32) % 10 if labels is None else labels)
    arrays.update(extra)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return str(path)


def test_load_npz_dataset(tmp_path):
    x, y = training.load_npz_dataset(_write_npz(tmp_path / "ok.npz"))
    assert x.dtype == np.float32 and x.shape == (8, 1, 28, 28) and y.dtype == np.int32


@pytest.mark.parametrize("kind, message", [
    ("missing", "not found"),
    ("corrupt", "not a readable .npz file"),
    ("nolabels", "missing key"),
    ("3d", "shape \\(N, C, H, W\\)"),
    ("floatlabels", "whole numbers, found 0.5 at index 0"),
    ("count", "8 images but 5 labels"),
    ("negative", "label -1 at index 0 is out of range"),
])
def test_load_npz_dataset_bad_files(tmp_path, kind, message):
    path = tmp_path / "bad.npz"
    if kind == "corrupt":
        path.write_bytes(b"PK\x03\x04 this is not a zip archive")
    elif kind == "nolabels":
        np.savez(path, data=np.zeros((2, 1, 4, 4), np.float32))
    elif kind == "3d":
        np.savez(path, data=np.zeros((2, 4, 4), np.float32), labels=np.zeros(2, np.int32))
    elif kind == "floatlabels":
        _write_npz(path, labels=np.full(8, 0.5, np.float32))
    elif kind == "count":
        _write_npz(path, labels=np.zeros(5, np.int32))
    elif kind == "negative":
        _write_npz(path, labels=-np.ones(8, np.int32))
    error = FileNotFoundError if kind == "missing" else ConfigError
    with pytest.raises(error, match=message) as info:
        training.load_npz_dataset(str(path))
    assert "bad.npz" in str(info.value)


def test_load_model_class_by_name_and_path(tmp_path, monkeypatch):
    by_name = training.load_model_class("Z2CNN", MODELS)
    assert by_name.__name__ == "Z2CNN"
    # A path relative to gconv_experiments/ works from any working directory ...
    monkeypatch.chdir(tmp_path)
    by_path = training.load_model_class("MNIST_ROT/models/Z2CNN.py", MODELS)
    assert by_path.__name__ == "Z2CNN" and issubclass(by_path, chainer.Chain)
    # ... and a path relative to the working directory to a user's own model file.
    (tmp_path / "Tiny.py").write_text(
        "import chainer.links as L\nfrom gconv_experiments.layers import Classifier\n"
        "class Tiny(Classifier):\n    def __init__(self):\n        super().__init__()\n"
        "        with self.init_scope():\n            self.fc = L.Linear(None, 10)\n"
        "    def logits(self, x):\n        return self.fc(x)\n")
    assert training.load_model_class("Tiny.py").__name__ == "Tiny"
    (tmp_path / "Wrong.py").write_text("class Other:\n    pass\n")
    with pytest.raises(ConfigError, match="must define a chainer.Chain class named 'Wrong'"):
        training.load_model_class("Wrong.py")
    with pytest.raises(ConfigError, match="no such model file"):
        training.load_model_class("nowhere/Z2CNN.py", MODELS)
    with pytest.raises(ConfigError, match="unknown model.*available: .*Z2CNN"):
        training.load_model_class("Z3CNN", MODELS)


def test_build_model_rejects_bad_net_kwargs():
    cls = training.load_model_class("Z2CNN", MODELS)
    assert training.build_model(cls, {"channels": 3}).l1.conv.out_channels == 3
    with pytest.raises(ConfigError, match="net_kwargs.*Z2CNN"):
        training.build_model(cls, {"width": 3})


class _BNOnly(Classifier):
    """Batch norm on (N, 3, 2, H, W) G-feature maps then a sum: a probe for reestimate_batchnorm."""

    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.bn = L.BatchNormalization(3)

    def logits(self, x):
        h = self.bn(x)
        return h.reshape(h.shape[0], -1)[:, :10]


def test_reestimate_batchnorm_gives_population_statistics():
    model = _BNOnly()
    model.bn.avg_mean[:] = 42.0
    model.bn.decay = 0.9
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((24, 3, 2, 2, 2)) * np.array([1.0, 2.0, 3.0])[None, :, None, None, None] + 5).astype(np.float32)
    y = np.zeros(24, np.int32)
    device = chainer.get_device("@numpy")
    training.reestimate_batchnorm(model, x, y, 8, device)
    batches = x.reshape(3, 8, 3, 2, 2, 2)
    np.testing.assert_allclose(model.bn.avg_mean, x.mean(axis=(0, 2, 3, 4)), rtol=1e-5)
    m = 8 * 2 * 2 * 2  # values per channel in a batch; chainer keeps the unbiased variance
    var = np.mean([b.var(axis=(0, 2, 3, 4)) * m / (m - 1) for b in batches], axis=0)
    np.testing.assert_allclose(model.bn.avg_var, var, rtol=1e-5)
    assert model.bn.decay == 0.9


def test_evaluate_counts_errors_in_test_mode():
    cls = training.load_model_class("Z2CNN", MODELS)
    np.random.seed(0)
    model = cls(channels=2)
    x = np.random.default_rng(1).random((10, 1, 28, 28), dtype=np.float32)
    with chainer.using_config("train", False):
        predictions = model.logits(x).array.argmax(axis=1)
    y = predictions.astype(np.int32)
    y[:3] = (y[:3] + 1) % 10
    loss, error = training.evaluate(model, x, y, 4, chainer.get_device("@numpy"))
    assert error == pytest.approx(0.3) and loss > 0


def test_snapshot_round_trip_is_atomic_and_exact(tmp_path):
    cls = training.load_model_class("Z2CNN", MODELS)
    np.random.seed(0)
    model = cls(channels=2)
    opt, _ = training.make_optimizer("Adam", {})
    opt.setup(model)
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    t = np.arange(4, dtype=np.int32)
    for _ in range(2):
        model.cleargrads()
        model(x, t)[0].backward()
        opt.update()
    path = str(tmp_path / "snapshot.h5")
    training.save_snapshot(path, model, opt, epoch=7)
    assert os.listdir(tmp_path) == ["snapshot.h5"]
    np.random.seed(1)
    other = cls(channels=2)
    opt2, _ = training.make_optimizer("Adam", {})
    opt2.setup(other)
    assert training.load_snapshot(path, other, opt2) == 7
    for (name, p), (_, q) in zip(sorted(model.namedparams()), sorted(other.namedparams())):
        np.testing.assert_array_equal(p.array, q.array, err_msg=name)
    np.testing.assert_array_equal(model.l1.bn.avg_var, other.l1.bn.avg_var)
    assert opt2.t == opt.t == 2
    np.testing.assert_array_equal(opt2.target.l1.conv.W.update_rule.state["v"],
                                  model.l1.conv.W.update_rule.state["v"])
    third = training.load_weights(path, cls(channels=2))
    np.testing.assert_array_equal(third.top.W.array, model.top.W.array)
    np.testing.assert_array_equal(third.l3.bn.avg_mean, model.l3.bn.avg_mean)
    with pytest.raises(ConfigError, match="cannot load model weights"):
        training.load_weights(path, cls(channels=3))
    with pytest.raises(ConfigError, match="cannot restore the snapshot"):
        training.load_snapshot(path, training.load_model_class("Z2CNN", MODELS)(channels=3), opt2)


def test_snapshot_of_the_earlier_layout_still_loads(tmp_path):
    """Snapshots written with the model in a 'model/' group (before it moved to the root)."""
    import h5py
    from chainer import serializers
    cls = training.load_model_class("Z2CNN", MODELS)
    np.random.seed(0)
    model = cls(channels=2)
    opt, _ = training.make_optimizer("Adam", {})
    opt.setup(model)
    model(np.zeros((2, 1, 28, 28), np.float32), np.zeros(2, np.int32))[0].backward()
    opt.update()
    path = str(tmp_path / "old.h5")
    with h5py.File(path, "w") as f:
        s = serializers.HDF5Serializer(f)
        s["model"].save(model)
        s["optimizer"].save(opt)
        f.attrs["epoch"] = 3
    np.random.seed(1)
    other = cls(channels=2)
    opt2, _ = training.make_optimizer("Adam", {})
    opt2.setup(other)
    assert training.load_snapshot(path, other, opt2) == 3
    np.testing.assert_array_equal(other.top.W.array, model.top.W.array)


def test_read_log_names_a_bad_line_and_can_drop_a_cut_last_line(tmp_path):
    path = str(tmp_path / "log.jsonl")
    with open(path, "w") as f:
        f.write('{"epoch": 1, "val_error": 0.5}\n{"epoch": 2, "val_er')
    with pytest.raises(ConfigError, match=r"log.jsonl, line 2: expected one JSON object per epoch"):
        training.read_log(path)
    assert training.read_log(path, drop_partial_last=True) == [{"epoch": 1, "val_error": 0.5}]
    with open(path, "w") as f:
        f.write('[1]\n{"epoch": 2}\n')
    with pytest.raises(ConfigError, match="line 1"):
        training.read_log(path, drop_partial_last=True)
    assert training.read_log(str(tmp_path / "absent.jsonl")) == []


@pytest.mark.parametrize("name, kwargs", [
    ("MomentumSGD", {"lr": 0.05, "momentum": 0.9}), ("Adam", {"lr": 0.05, "amsgrad": True}),
    ("AdaGrad", {"lr": 0.05}), ("RMSprop", {"lr": 0.05, "eps_inside_sqrt": True}), ("NesterovAG", {"lr": 0.05}),
])
def test_make_optimizer_accepts_lr_for_every_choice(name, kwargs):
    opt, attr = training.make_optimizer(name, kwargs)
    assert getattr(opt, attr) == 0.05


@pytest.mark.parametrize("name, kwargs, message", [
    ("Adam", {"lr": "0.1"}, "'alpha' must be a finite number"),
    ("AdaGrad", {"lr": 0}, "'lr' must be a positive number"),
    ("MomentumSGD", {"momentum": -0.5}, r"'momentum' must be in \[0, 1\), got -0.5"),
    ("NesterovAG", {"lr": float("nan")}, "'lr' must be a finite number"),
    ("Adam", {"amsgrad": "yes"}, "'amsgrad' must be True or False"),
])
def test_make_optimizer_rejects_bad_values(name, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        training.make_optimizer(name, kwargs)


def test_modelfn_bare_file_name_is_looked_up_in_the_models_package(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert training.load_model_class("P4CNN.py", MODELS).__name__ == "P4CNN"
    with pytest.raises(ConfigError, match="no such model file") as info:
        training.load_model_class("Nope.py", MODELS)
    assert str(info.value).count("Nope.py") == 4  # --modelfn Nope.py + three distinct places


def test_evaluate_and_reestimate_show_progress_bars(capsys):
    cls = training.load_model_class("Z2CNN", MODELS)
    model = cls(channels=2)
    x = np.zeros((6, 1, 28, 28), np.float32)
    y = np.zeros(6, np.int32)
    device = chainer.get_device("@numpy")
    training.reestimate_batchnorm(model, x, y, 4, device, label="BN-bar", quiet=False)
    training.evaluate(model, x, y, 4, device, label="eval-bar", quiet=False)
    err = capsys.readouterr().err
    assert "BN-bar" in err and "eval-bar" in err and "100%" in err
    training.evaluate(model, x, y, 4, device)
    assert capsys.readouterr().err == ""


class _OrderRecorder(Classifier):
    """A linear classifier that records which examples each training batch holds (pixel 0 of
    every image is its index in the data)."""

    def __init__(self):
        super().__init__()
        self.seen = []
        with self.init_scope():
            self.fc = L.Linear(4, 3)

    def logits(self, x):
        self.seen.extend(int(i) for i in x[:, 0, 0, 0])
        return self.fc(x)


@pytest.mark.parametrize("seed, epoch", [(0, 1), (0, 2), (7, 1)])
def test_each_epoch_trains_in_the_seeded_permutation(seed, epoch):
    """The documented order: epoch e of seed s visits the examples in
    numpy.random.default_rng([s, e]).permutation(n), every example once, batch after batch."""
    n = 20
    x = np.zeros((n, 1, 2, 2), np.float32)
    x[:, 0, 0, 0] = np.arange(n)
    y = (np.arange(n) % 3).astype(np.int32)
    model = _OrderRecorder()
    optimizer = chainer.optimizers.SGD(lr=0.0)
    optimizer.setup(model)
    device = chainer.get_device("@numpy")
    rng = training.loop.seed_epoch(seed, epoch, device)
    training.loop.train_epoch(model, optimizer, x, y, 6, "", rng, device, "epoch", True)
    expected = np.random.default_rng([seed, epoch]).permutation(n)
    assert model.seen == expected.tolist()
    assert sorted(model.seen) == list(range(n)) and model.seen != sorted(model.seen)

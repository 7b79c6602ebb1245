"""Model-defined training hooks (training.hooks) with the partial G-CNNs: the gate learning
rate in the optimizer's update rules after setup and after --resume, the temperature at every
update (start at the first, end at the last), deterministic gates in the BN re-estimation pass,
gate probabilities in the log, and a killed and resumed partial run ending bit for bit as an
uninterrupted one."""
import os

import chainer
import chainer.links as L
import numpy as np
import pytest

from gconv_experiments import training
from gconv_experiments.MNIST_ROT import train
from gconv_experiments.training.prepare import prepare
from gconv_experiments.training.run import resolve_args
from groupy.gconv.chainer_gconv.partial import partial_links

NET = "{'channels': 2, 'gate_lr': 0.003, 'temperature_start': 0.7, 'temperature_end': 0.01}"
PARTIAL = ["--modelfn", "PartialP4CNN", "--net_kwargs", NET, "--batchsize", "16", "--quiet",
           "--val_freq", "1", "--save_freq", "1"]
UPDATES_PER_EPOCH = 4  # 64 training images, batches of 16


class ForwardTemperatures(chainer.LinkHook):
    """Records the temperature of each partial link's training forward pass (with backprop:
    the updates, not the model probe)."""
    name = "record_temperatures"

    def __init__(self, stop_after=None):
        self.temperatures, self.stop_after = [], stop_after

    def forward_preprocess(self, args):
        if _LINKS and args.link is _LINKS[0] and chainer.config.train and chainer.config.enable_backprop:
            self.temperatures.append(args.link.temperature)
            if self.stop_after is not None and len(self.temperatures) > self.stop_after:
                raise KeyboardInterrupt  # a kill during the next epoch


_LINKS = []  # the partial links of the model being trained


def _prepared(argv):
    args, _ = resolve_args(argv, defaults=train.DEFAULTS)
    return prepare(args, models_package=train.MODELS_PACKAGE, load_data=training.read_npz_dataset)


def _alphas(run):
    gates = [link.gate_logits.update_rule.hyperparam.alpha for link in partial_links(run.model)]
    others = {p.update_rule.hyperparam.alpha for name, p in run.model.namedparams() if "gate" not in name}
    return gates, others


def _train(argv, hook=None):
    run = _prepared(argv)
    _LINKS[:] = partial_links(run.model)
    if hook is None:
        return run, training.finish(run, training.fit(run))
    with hook:
        return run, training.finish(run, training.fit(run))


def test_gate_learning_rate_and_temperature_after_setup_and_resume(datadir, tmp_path):
    out = str(tmp_path / "run")
    argv = ["--datadir", datadir, "--resultdir", out, "--epochs", "2"] + PARTIAL
    run = _prepared(argv)
    assert _alphas(run) == ([0.003] * 6, {0.001})
    assert [link.temperature for link in partial_links(run.model)] == [0.7] * 6
    training.finish(run, training.fit(run))
    resumed = _prepared(["--resultdir", out, "--resume", "--epochs", "3"])  # one more epoch
    assert _alphas(resumed) == ([0.003] * 6, {0.001})
    # the next update is update 8 of 12: fraction 8 / 11
    expected = 0.7 * (1 - 8 / 11) + 0.01 * 8 / 11
    assert [link.temperature for link in partial_links(resumed.model)] == pytest.approx([expected] * 6, rel=1e-12)


def test_temperature_is_annealed_linearly_to_the_end_at_the_last_update(datadir, tmp_path):
    hook = ForwardTemperatures()
    run, _ = _train(["--datadir", datadir, "--resultdir", str(tmp_path / "run"), "--epochs", "2"] + PARTIAL, hook)
    n = 2 * UPDATES_PER_EPOCH
    assert len(hook.temperatures) == n
    np.testing.assert_allclose(hook.temperatures, 0.7 + (0.01 - 0.7) * np.arange(n) / (n - 1), rtol=1e-12)
    assert hook.temperatures[0] == 0.7 and hook.temperatures[-1] == 0.01
    # and the logged gate probabilities are those of the final logits
    log = training.read_log(os.path.join(str(tmp_path / "run"), training.LOG_FILE))
    assert sorted(log[-1]["gate_probabilities"]) == ["l2", "l3", "l4", "l5", "l6", "top"]
    top = 1 / (1 + np.exp(-run.model.top.gate_logits.array.astype(np.float64)))
    np.testing.assert_allclose(log[-1]["gate_probabilities"]["top"], top, atol=1e-4)
    assert log[-1]["temperature"] == 0.01


def test_models_without_hooks_log_the_usual_fields(datadir, tmp_path, tiny):
    out = str(tmp_path / "run")
    training.main(["--datadir", datadir, "--resultdir", out, "--epochs", "1"] + tiny.SMALL, **{
        k: v for k, v in tiny.KW.items() if k != "prog"})
    row = training.read_log(os.path.join(out, training.LOG_FILE))[0]
    assert sorted(row) == sorted(["epoch", "train_loss", "train_error", "val_loss", "val_error", "lr", "seconds",
                                  "train_seconds", "elapsed"])


def _partial_model(seed=0):
    np.random.seed(seed)
    m = training.load_model_class("PartialP4CNN", train.MODELS_PACKAGE)(channels=2, n_classes=10)
    for link in partial_links(m):
        link.gate_logits.array[:] = 0.0  # closed when deterministic, open half the time when sampled
    return m


def _bn_statistics(model):
    return [np.concatenate([l.avg_mean, l.avg_var]) for l in model.links() if isinstance(l, L.BatchNormalization)]


@pytest.mark.parametrize("mode", ["augmented", "clean"])
def test_bn_reestimation_uses_the_deterministic_gates(mode):
    rng = np.random.default_rng(0)
    x, y = rng.random((48, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 48).astype(np.int32)
    device = chainer.get_device("@numpy")
    ours, fixed = _partial_model(), _partial_model()
    np.random.seed(5)
    training.reestimate_batchnorm(ours, x, y, 16, device, mode=mode, rng=np.random.default_rng(1))
    np.random.seed(5)
    with chainer.using_config("sample_partial_gates", False):  # the gates fixed by hand
        training.reestimate_batchnorm(fixed, x, y, 16, device, mode=mode, rng=np.random.default_rng(1))
    for a, b in zip(_bn_statistics(ours), _bn_statistics(fixed)):
        np.testing.assert_array_equal(a, b)
    if mode == "augmented":  # the same pass with sampled gates gives other statistics
        class Sampling(type(ours)):
            def evaluation_mode(self):
                return chainer.using_config("sample_partial_gates", True)
        sampled = _partial_model()
        sampled.__class__ = Sampling
        np.random.seed(5)
        training.reestimate_batchnorm(sampled, x, y, 16, device, mode=mode, rng=np.random.default_rng(1))
        assert any(not np.array_equal(a, b) for a, b in zip(_bn_statistics(sampled), _bn_statistics(fixed)))


def test_a_killed_partial_run_resumes_bit_for_bit(datadir, tmp_path, tiny):
    argv = ["--datadir", datadir, "--epochs", "3"] + PARTIAL
    whole, cut = str(tmp_path / "whole"), str(tmp_path / "cut")
    _train(argv + ["--resultdir", whole])
    with pytest.raises(KeyboardInterrupt):  # killed during epoch 2, after epoch 1's snapshot
        _train(argv + ["--resultdir", cut], ForwardTemperatures(stop_after=UPDATES_PER_EPOCH + 2))
    assert tiny.snapshot(cut)[1] == 1
    _train(["--resultdir", cut, "--resume"])
    (a, epoch_a), (b, epoch_b) = tiny.snapshot(whole), tiny.snapshot(cut)
    assert epoch_a == epoch_b == 3 and sorted(a) == sorted(b)
    assert any("gate_logits" in k for k in a) and any(k.endswith("temperature") for k in a)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    timing = ("seconds", "train_seconds", "elapsed")
    rows = [[{k: v for k, v in r.items() if k not in timing} for r in training.read_log(os.path.join(d, "log.jsonl"))]
            for d in (whole, cut)]
    assert rows[0] == rows[1] and len(rows[0]) == 3

"""--train_subset balanced (class-balanced, nested across sizes, seeded), --steps (exactly that
many parameter updates, resumed to the same count and weights), their checks, and the run
record: new settings appear in "config" and the fingerprint only when they leave their default."""
import os

import h5py
import numpy as np
import pytest

from gconv_experiments.MNIST_ROT import evaluate, mnist_rot, train
from gconv_experiments.training import differences, epochs as epochs_module, resolve_run
from gconv_experiments.training import build_parser, check_args
from gconv_experiments.training.data import balanced_order, train_subset_indices


def resolve_config(argv):
    return check_args(build_parser().parse_args(argv))


def _labels(counts, seed=0):
    rng = np.random.default_rng(seed)
    return rng.permutation(np.repeat(np.arange(len(counts)), counts))


def test_every_prefix_of_the_balanced_order_is_balanced_and_nested():
    y = _labels([120, 130, 125, 140, 121, 150, 122, 123, 135, 128])  # smallest class: 120
    for seed in (0, 1):
        order = balanced_order(y, seed)
        assert sorted(order.tolist()) == list(range(len(y)))  # a permutation: nothing twice
        for n in range(1, 10 * 120 + 1):
            counts = np.bincount(y[order[:n]], minlength=10)
            assert counts.max() - counts.min() <= 1, (seed, n, counts)
    subsets = {n: set(train_subset_indices(y, n, "balanced", 3).tolist()) for n in (30, 100, 300, 1000)}
    assert subsets[30] < subsets[100] < subsets[300] < subsets[1000]
    assert np.bincount(y[sorted(subsets[300])]).tolist() == [30] * 10


def test_the_subset_depends_on_the_seed_and_first_is_the_files_head():
    y = _labels([50] * 10)
    a, b = (train_subset_indices(y, 100, "balanced", s) for s in (0, 1))
    assert not np.array_equal(a, b)
    assert np.array_equal(a, train_subset_indices(y, 100, "balanced", 0))
    assert train_subset_indices(y, 7, "first", None).tolist() == list(range(7))


def test_the_classes_of_each_round_come_in_a_seeded_random_order_and_indices_ascend():
    """balanced_order: every round of (number of classes) examples holds each class once, in
    an order that changes from round to round; train_subset_indices lists a subset ascending."""
    y = _labels([20] * 10)
    order = balanced_order(y, 4)
    rounds = [tuple(y[order[10 * k:10 * k + 10]].tolist()) for k in range(20)]
    assert all(sorted(r) == list(range(10)) for r in rounds)
    assert len(set(rounds)) > 10  # not one fixed order of the classes
    index = train_subset_indices(y, 50, "balanced", 4)
    assert (np.diff(index) > 0).all() and set(index.tolist()) == set(order[:50].tolist())


def test_the_last_epoch_of_steps_makes_the_remaining_updates():
    """--steps 10 at 4 batches an epoch: 3 epochs, whole ones first, then the 2 updates left."""
    config = resolve_config(["--modelfn", "Z2CNN", "--steps", "10"]).with_steps(4)
    assert config.epochs == 3
    assert [config.batches_in_epoch(e, 4) for e in (1, 2, 3)] == [None, None, 2]
    assert config.total_updates(4) == 10


def _count_updates(folder):
    with h5py.File(os.path.join(folder, "snapshot.h5"), "r") as f:
        return int(f["optimizer"].attrs["t"]) if "t" in f["optimizer"].attrs else int(f["optimizer/t"][()])


def _argv(datadir, out, *extra):
    return ["--modelfn", "Z2CNN", "--net_kwargs", "{'channels': 4}", "--batchsize", "16", "--quiet",
            "--datadir", datadir, "--resultdir", str(out), "--train_subset", "balanced", "--train_size", "40",
            "--transformations", "uniform_rotation", *extra]


def test_steps_stop_after_exactly_that_many_updates_whatever_epochs_says(datadir, tmp_path):
    # 40 examples at batch 16: 3 updates per epoch; 7 steps = 3 epochs, the last with 1 update
    summary = train.main(_argv(datadir, tmp_path / "a", "--steps", "7", "--epochs", "50"))
    assert summary["steps"] == 7 and summary["epochs"] == 3
    assert _count_updates(tmp_path / "a") == 7
    record = evaluate.read_record(os.path.join(tmp_path / "a", "run.json"))
    assert record["settings"]["epochs"] == 3 and record["config"]["steps"] == 7


def test_resume_of_an_interrupted_run_reaches_the_same_count_and_weights(datadir, tmp_path, monkeypatch, tiny):
    full = train.main(_argv(datadir, tmp_path / "full", "--steps", "8"))
    original = epochs_module._epoch

    def interrupted(run, epoch, elapsed):
        if epoch == 3:
            raise KeyboardInterrupt
        return original(run, epoch, elapsed)

    monkeypatch.setattr(epochs_module, "_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train.main(_argv(datadir, tmp_path / "cut", "--steps", "8"))
    assert _count_updates(tmp_path / "cut") == 6
    monkeypatch.setattr(epochs_module, "_epoch", original)
    resumed = train.main(["--resultdir", str(tmp_path / "cut"), "--resume", "--quiet"])
    assert resumed["steps"] == full["steps"] == 8 and _count_updates(tmp_path / "cut") == 8
    (a, _), (b, _) = tiny.snapshot(str(tmp_path / "full")), tiny.snapshot(str(tmp_path / "cut"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert resumed["test_error"] == full["test_error"]


@pytest.mark.parametrize("extra, message", [
    (["--train_size", "12"], "--train_size 12 is smaller than --batchsize 16"),
    (["--train_size", "40", "--steps", "0"], "--steps must be a positive integer"),
    (["--train_size", "40", "--subset_seed", "-1"], "--subset_seed must be an integer"),
])
def test_bad_subset_and_steps_flags_are_one_line_errors(datadir, tmp_path, capsys, tiny, extra, message):
    argv = tiny.SMALL + ["--datadir", datadir, "--resultdir", str(tmp_path / "r"), "--train_subset", "balanced"]
    status, err, _ = tiny.run(argv + extra, capsys)
    tiny.assert_one_line_error(status, err)
    assert message in err and not os.path.exists(tmp_path / "r")


def test_subset_seed_without_balanced_is_refused(datadir, tmp_path, capsys, tiny):
    status, err, _ = tiny.run(tiny.SMALL + ["--datadir", datadir, "--resultdir", str(tmp_path / "r"),
                                            "--subset_seed", "3"], capsys)
    tiny.assert_one_line_error(status, err)
    assert "--subset_seed applies to --train_subset balanced" in err


def _record(datadir, tmp_path, *extra):
    argv = ["--modelfn", "Z2CNN", "--datadir", datadir, "--resultdir", str(tmp_path / "r"), *extra]
    return resolve_run(argv, defaults=train.DEFAULTS, models_package=train.MODELS_PACKAGE)


def test_new_settings_enter_the_record_only_away_from_their_defaults(datadir, tmp_path):
    plain = _record(datadir, tmp_path)
    assert not {"train_subset", "subset_seed", "steps"} & set(plain["config"])
    assert _record(datadir, tmp_path, "--train_subset", "first")["fingerprint"] == plain["fingerprint"]
    balanced = _record(datadir, tmp_path, "--train_subset", "balanced", "--seed", "2")
    assert (balanced["config"]["train_subset"], balanced["config"]["subset_seed"]) == ("balanced", 2)
    same = _record(datadir, tmp_path, "--train_subset", "balanced", "--seed", "2", "--subset_seed", "2")
    assert same["fingerprint"] == balanced["fingerprint"]
    other = _record(datadir, tmp_path, "--train_subset", "balanced", "--seed", "2", "--subset_seed", "5")
    assert differences(balanced, other) == ["--subset_seed: 2 -> 5"]
    stepped = _record(datadir, tmp_path, "--steps", "40")
    assert stepped["fingerprint"] != plain["fingerprint"]
    # an older record (no new keys) compares as the defaults: equal to plain, not to stepped
    assert differences(plain, _record(datadir, tmp_path, "--steps", "40")) == ["--steps: None -> 40"]
    assert differences({"config": dict(plain["config"], steps=None), "data": plain["data"]}, plain) == []


def test_evaluate_reproduces_a_balanced_subset_runs_recorded_error(datadir, tmp_path, capsys):
    folder = str(tmp_path / "run")
    summary = train.main(_argv(datadir, folder, "--steps", "5", "--seed", "1"))
    model, record = evaluate.load_run(folder)
    x, y = mnist_rot.load_split(datadir, "test")
    _, error = evaluate.error_rate(model, x, y, evaluate.input_normalization(record, datadir), batchsize=16)
    assert error == summary["test_error"]
    older = {k: v for k, v in record.items() if k != "settings"}  # constants from the subset itself
    assert evaluate.input_normalization(older, datadir) == pytest.approx(evaluate.input_normalization(record, datadir))
    assert evaluate.main([folder, "--datadir", datadir]) == 0
    assert f"test error {100 * summary['test_error']:.2f}%" in capsys.readouterr().out

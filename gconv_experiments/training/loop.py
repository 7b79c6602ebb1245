"""The loops of a training run: seeding per epoch, one training epoch, evaluation, BN
re-estimation, and their progress bars. Each pass runs on this process's share of the work
(`ranks`, see training.distributed; on one process, ONE_PROCESS: everything)."""
import sys
from typing import Callable

import chainer
import chainer.links as L
import numpy as np
import progressbar

from gconv_experiments import augmentation
from gconv_experiments.training import hooks
from gconv_experiments.training.distributed import ONE_PROCESS, Ranks

__all__ = ["seed_epoch", "seed_validation", "TrainingDiverged", "evaluate", "reestimate_batchnorm", "train_epoch"]


def seed_epoch(seed: int, epoch: int, device: chainer.backend.Device) -> np.random.Generator:
    """Seed every random source for `epoch`; returns the epoch's numpy Generator (shuffle, augmentation)."""
    np.random.seed([seed, epoch])  # initialisers and dropout on the CPU
    if device.xp is not np:
        device.xp.random.seed(seed * 1000003 + epoch)
    return np.random.default_rng([seed, epoch])


def seed_validation(seed: int, epoch: int, device: chainer.backend.Device) -> np.random.Generator:
    """Seed the global RNGs (dropout) for the BN re-estimation after `epoch` and return the
    numpy Generator of its shuffled order and augmentation, so that the validation result is a
    function of (weights, seed, epoch): re-evaluating a resumed, finished run reproduces it."""
    np.random.seed([seed, epoch, 1])
    if device.xp is not np:
        device.xp.random.seed((seed * 1000003 + epoch) * 2 + 1)
    return np.random.default_rng([seed, epoch, 1])


class TrainingDiverged(RuntimeError):
    """A loss that is NaN or infinite: training stops at once (the weights are no longer usable).
    `iteration` (1-based, within the pass) and `value` say where."""

    def __init__(self, what: str, iteration: int, value: float) -> None:
        super().__init__(f"{what}: the loss is {value} at iteration {iteration}")
        self.what, self.iteration, self.value = what, iteration, value


def _check_finite(loss, what, iteration):
    value = float(loss.array)
    if not np.isfinite(value):
        raise TrainingDiverged(what, iteration, value)
    return value


class _CurrentStderr:
    """Writes to whatever sys.stderr is at the time of each write. (Given sys.stderr itself,
    progressbar2 swaps in the stream it saw when it was imported, which may since have been
    replaced or closed, e.g. by output capturing.)"""

    def write(self, text):
        return sys.stderr.write(text)

    def flush(self):
        sys.stderr.flush()

    def isatty(self):
        return bool(getattr(sys.stderr, "isatty", lambda: False)())


class _NoBar:
    """Stands in for a progress bar when quiet."""

    def update(self, value):
        pass

    def finish(self):
        pass


def _bar(n, label, quiet):
    """A started progressbar2 bar over n examples, or a do-nothing bar when quiet."""
    if quiet:
        return _NoBar()
    widgets = [label, " ", progressbar.Percentage(), " ", progressbar.Bar(), " ", progressbar.ETA()]
    return progressbar.ProgressBar(max_value=n, widgets=widgets, fd=_CurrentStderr()).start()


def _pass(n, batchsize, label, quiet, order=None):
    """The batches of one pass over n examples, with its progress bar: yields (iteration
    (1-based), index of the batch's examples: a slice, or `order`'s entries)."""
    bar = _bar(n, label, quiet)
    for k, i in enumerate(range(0, n, batchsize), 1):
        j = min(i + batchsize, n)
        yield k, (slice(i, j) if order is None else order[i:j])
        bar.update(j)
    bar.finish()


def _rank_batch(x, y, index, ranks, transformations=(), rng=None):
    """The examples `index` of (x, y), augmented by `transformations` (drawn from rng), then this
    rank's part of them (the whole batch on one process); images as contiguous float32."""
    xb, yb = x[index], y[index]
    if transformations:
        xb = augmentation.apply_transformations(xb, transformations, rng)
    part = ranks.part(len(yb))
    return np.ascontiguousarray(xb[part], dtype=np.float32), yb[part]


def _means(ranks, total_loss, total_acc, n):
    """(mean loss, error rate) over the n examples of a pass from this rank's sums."""
    total_loss, total_acc = ranks.sum(total_loss, total_acc)
    return total_loss / n, 1.0 - total_acc / n


def evaluate(model: chainer.Link, x: np.ndarray, y: np.ndarray, batchsize: int, device: chainer.backend.Device,
             label: str = "evaluating", quiet: bool = True, ranks: Ranks = ONE_PROCESS) -> tuple:
    """Mean loss and error rate of `model` on (x, y) in test mode (no augmentation); a progress
    bar labelled `label` unless quiet. Each rank evaluates its block of whole batches.
    ValueError for a batch size below 1 or an empty or mismatched (x, y)."""
    if isinstance(batchsize, bool) or not isinstance(batchsize, (int, np.integer)) or batchsize < 1:
        raise ValueError(f"evaluate: batchsize must be a positive integer, got {batchsize!r}")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"evaluate: x and y must hold the same number of examples, at least one "
                         f"(got {len(x)} and {len(y)})")
    total_loss, total_acc, n = 0.0, 0.0, len(x)
    block = ranks.whole_batches(n, batchsize)
    x, y = x[block], y[block]
    with chainer.using_config("train", False), chainer.using_config("enable_backprop", False), \
            hooks.evaluation_mode(model):
        for k, index in _pass(len(x), batchsize, label, quiet):
            xb, yb = x[index], y[index]
            loss, acc = model(device.send(xb), device.send(yb))
            total_loss += _check_finite(loss, label, k) * len(yb)
            total_acc += float(acc.array) * len(yb)
    return _means(ranks, total_loss, total_acc, n)


class _BatchNormPass(chainer.LinkHook):
    """Link hook of a BN re-estimation pass: with `force_train`, every BatchNormalization runs in
    training mode (batch statistics, running averages updated) while the rest of the model stays
    as configured (dropout off under train=False); with `exact`, it also sums every BN input per
    channel in float64 so that the pass's exact mean and variance can be set afterwards."""
    name = "bn_reestimation"

    def __init__(self, force_train, exact):
        self.force_train, self.exact = force_train, exact
        self.sums = {}  # id(link) -> [link, count per channel, sum, sum of squares]
        self._train = []

    def forward_preprocess(self, args):
        link = args.link
        if not isinstance(link, L.BatchNormalization):
            return
        if self.force_train:
            self._train.append(chainer.config.train)
            chainer.config.train = True
        if self.exact:
            x = args.args[0]
            x = x.array if isinstance(x, chainer.Variable) else x
            axis = link.axis if link.axis is not None else (0,) + tuple(range(2, x.ndim))
            x64 = x.astype(np.float64)
            entry = self.sums.setdefault(id(link), [link, 0, 0.0, 0.0])
            entry[1] += int(np.prod([x.shape[i] for i in axis]))
            entry[2] = entry[2] + x64.sum(axis=axis)
            entry[3] = entry[3] + (x64 * x64).sum(axis=axis)

    def forward_postprocess(self, args):
        if self.force_train and isinstance(args.link, L.BatchNormalization):
            chainer.config.train = self._train.pop()

    def set_exact_statistics(self):
        """avg_mean = mean of all inputs of the pass, avg_var = their variance with the
        unbiased factor M / (M - 1) (as Chainer's running variance)."""
        for link, m, s1, s2 in self.sums.values():
            mean = s1 / m
            var = (s2 / m - mean * mean) * (m / max(m - 1.0, 1.0))
            link.avg_mean[...] = mean.astype(link.avg_mean.dtype)
            link.avg_var[...] = link.xp.maximum(var, 0).astype(link.avg_var.dtype)


def reestimate_batchnorm(model: chainer.Link, x: np.ndarray, y: np.ndarray, batchsize: int,
                         device: chainer.backend.Device,
                         label: str = "BN statistics", quiet: bool = True, *, mode: str = "clean",
                         averaging: str = "batch", transformations: "str | tuple" = "", rng: "np.random.Generator | None" = None,
                         ranks: Ranks = ONE_PROCESS) -> None:
    """Replace each BatchNormalization's population mean/variance by statistics of one pass
    over (x, y) (no backprop; weights unchanged); the BN layers normalise by batch statistics
    during the pass, as in training. Decays are restored afterwards.

    mode: 'augmented' = training mode for the whole model (dropout as in training) and the
        `transformations` (a --transformations string or parsed names) applied to each batch
        (the release's MNIST "finetune" epoch); 'clean' = BN in training mode, everything else
        in test mode (no dropout), no augmentation (the release's CIFAR finetune epoch);
        'none' = do nothing.
    averaging: 'batch' = every batch weighs the same: mean of the per-batch means and of the
        per-batch unbiased variances (Chainer's finetune mode, as the release); 'exact' = the
        mean and (unbiased) variance over all inputs of the pass.
    rng: numpy Generator of the pass's order and augmentation (None: data order, no shuffling).
    A progress bar labelled `label` is shown unless quiet.
    """
    if mode == "none":
        return
    if mode not in ("augmented", "clean") or averaging not in ("batch", "exact"):
        raise ValueError(f"reestimate_batchnorm: unknown mode {mode!r} or averaging {averaging!r}")
    bns = [link for link in model.links() if isinstance(link, L.BatchNormalization)]
    if not bns:
        return
    decays = [bn.decay for bn in bns]
    order = np.arange(len(x)) if rng is None else rng.permutation(len(x))
    if rng is None:
        rng = np.random.default_rng(0)  # augmentation of an unshuffled pass
    augment = augmentation.parse_transformations(transformations) if mode == "augmented" else ()
    hook = _BatchNormPass(force_train=mode == "clean", exact=averaging == "exact")
    try:
        with chainer.using_config("train", mode == "augmented"), \
                chainer.using_config("enable_backprop", False), hook, hooks.evaluation_mode(model):
            for k, index in _pass(len(x), batchsize, label, quiet, order):
                for bn in bns:
                    bn.decay = 1.0 - 1.0 / k
                xb, yb = _rank_batch(x, y, index, ranks, augment, rng)
                model(device.send(xb), device.send(yb))
        if averaging == "exact":
            for entry in hook.sums.values():  # the sums over every rank's inputs
                entry[1:] = ranks.sum_arrays(entry[1:])
            hook.set_exact_statistics()
    finally:
        for bn, decay in zip(bns, decays):
            bn.decay = decay


def train_epoch(model: chainer.Link, optimizer: chainer.Optimizer, x: np.ndarray, y: np.ndarray, batchsize: int,
                transformations: "str | tuple", rng: np.random.Generator, device: chainer.backend.Device, label: str, quiet: bool, ranks: Ranks = ONE_PROCESS,
                max_batches: "int | None" = None,
                before_update: "Callable[[int], None] | None" = None) -> tuple:
    """One pass over (x, y) in a random order, each batch augmented by `transformations` (a
    --transformations string or parsed names); returns (mean train loss, train error) over the
    examples trained on. max_batches: stop after this many updates (None: the whole pass).
    `before_update(k)`, when given, is called before the forward pass of iteration k (1-based).
    Raises TrainingDiverged (naming `label` and the iteration) at the first non-finite loss,
    before that step's update."""
    n = len(x)
    order = rng.permutation(n)
    augment = augmentation.parse_transformations(transformations)
    total_loss, total_acc = 0.0, 0.0
    with chainer.using_config("train", True):
        if max_batches is not None:
            order = order[:max_batches * batchsize]
        for k, index in _pass(len(order), batchsize, label, quiet, order):
            xb, yb = _rank_batch(x, y, index, ranks, augment, rng)
            if before_update is not None:
                before_update(k)
            loss, acc = model(device.send(xb), device.send(yb))
            value = _check_finite(loss, label, k)  # before the update: weights stay finite
            model.cleargrads()
            ranks.scale_loss(loss, len(index)).backward()
            optimizer.update()
            total_loss += value * len(yb)
            total_acc += float(acc.array) * len(yb)
    return _means(ranks, total_loss, total_acc, len(order))

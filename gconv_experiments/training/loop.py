"""The loops of a training run: seeding per epoch, one training epoch, evaluation, BN
re-estimation, and their progress bars."""
import sys

import chainer
import chainer.links as L
import numpy as np
import progressbar

from gconv_experiments import augmentation


def seed_epoch(seed, epoch, device):
    """Seed every random source for `epoch`; returns the epoch's numpy Generator (shuffle, augmentation)."""
    np.random.seed([seed, epoch])  # initialisers and dropout on the CPU
    if device.xp is not np:
        device.xp.random.seed(seed * 1000003 + epoch)
    return np.random.default_rng([seed, epoch])


def seed_validation(seed, epoch, device):
    """Seed the global RNGs (dropout) for the BN re-estimation after `epoch`, so that the
    validation result is a function of (weights, seed, epoch): re-evaluating a resumed, finished
    run reproduces it exactly."""
    np.random.seed([seed, epoch, 1])
    if device.xp is not np:
        device.xp.random.seed((seed * 1000003 + epoch) * 2 + 1)


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


def _batches(n, batchsize):
    return [(i, min(i + batchsize, n)) for i in range(0, n, batchsize)]


def evaluate(model, x, y, batchsize, device, label="evaluating", quiet=True):
    """Mean loss and error rate of `model` on (x, y) in test mode (no augmentation); a progress
    bar labelled `label` unless quiet."""
    total_loss, total_acc = 0.0, 0.0
    bar = _bar(len(x), label, quiet)
    with chainer.using_config("train", False), chainer.using_config("enable_backprop", False):
        for i, j in _batches(len(x), batchsize):
            loss, acc = model(device.send(x[i:j]), device.send(y[i:j]))
            total_loss += loss.array * (j - i)
            total_acc += acc.array * (j - i)
            bar.update(j)
    bar.finish()
    return float(total_loss) / len(x), 1.0 - float(total_acc) / len(x)


def reestimate_batchnorm(model, x, y, batchsize, device, label="BN statistics", quiet=True):
    """Replace each BatchNormalization's running mean/variance by their average over (x, y).

    The model runs in training mode without backprop; before batch k of size n_k, after `seen`
    examples, every BN's decay is set to seen / (seen + n_k), so its running statistics become
    the size-weighted mean of the per-batch statistics. Decays are restored afterwards.
    A progress bar labelled `label` is shown unless quiet.
    """
    bns = [link for link in model.links() if isinstance(link, L.BatchNormalization)]
    if not bns:
        return
    decays = [bn.decay for bn in bns]
    bar = _bar(len(x), label, quiet)
    try:
        with chainer.using_config("train", True), chainer.using_config("enable_backprop", False):
            seen = 0
            for i, j in _batches(len(x), batchsize):
                for bn in bns:
                    bn.decay = seen / (seen + (j - i))
                model(device.send(x[i:j]), device.send(y[i:j]))
                seen += j - i
                bar.update(j)
    finally:
        for bn, decay in zip(bns, decays):
            bn.decay = decay
    bar.finish()


def train_epoch(model, optimizer, x, y, batchsize, transformations, rng, device, label, quiet):
    """One pass over (x, y) in a random order; returns (mean train loss, train error)."""
    n = len(x)
    order = rng.permutation(n)
    total_loss, total_acc = 0.0, 0.0
    bar = _bar(n, label, quiet)
    with chainer.using_config("train", True):
        for i, j in _batches(n, batchsize):
            idx = order[i:j]
            xb = augmentation.apply_transformations(x[idx], transformations, rng)
            loss, acc = model(device.send(np.ascontiguousarray(xb, dtype=np.float32)), device.send(y[idx]))
            model.cleargrads()
            loss.backward()
            optimizer.update()
            total_loss += loss.array * (j - i)
            total_acc += acc.array * (j - i)
            bar.update(j)
    bar.finish()
    return float(total_loss) / n, 1.0 - float(total_acc) / n

"""The epochs of a prepared run (training.prepare.Training): :func:`fit` trains epoch after
epoch, validating, logging and writing snapshots as the configuration says; :func:`finish`
evaluates the final weights and writes the summary.

A stop asked for by SIGINT or SIGTERM (training.stop; the run's `stop`) is obeyed between two
iterations: the epoch in progress is given up, the snapshot of the last finished epoch is
written if --save_freq had not written it yet, and :class:`Interrupted` is raised, so that
--resume continues exactly as if the run had not stopped (epoch boundaries are exactly
resumable; the middle of an epoch is not)."""
import functools
import os
import time

import numpy as np

from gconv_experiments.command_errors import Interrupted
from gconv_experiments.training import hooks
from gconv_experiments.training.checkpoint import SUMMARY_FILE
from gconv_experiments.training.loop import (
    TrainingDiverged, evaluate, reestimate_batchnorm, seed_epoch, seed_validation, train_epoch)
from gconv_experiments.training.models import count_parameters
from gconv_experiments.training.prepare import Training, batches_per_epoch
from gconv_experiments.training.stop import StopRequested

__all__ = ["TrainingStopped", "Interrupted", "fit", "finish"]


class TrainingStopped(RuntimeError):
    """Training stopped because the loss became NaN or infinite (exit status 3)."""


def _stopped(run: Training, error: TrainingDiverged, epoch: int) -> TrainingStopped:
    saved = run.folder.last_saved
    kept = (f"the last good snapshot, {run.folder.snapshot_path} (epoch {saved}), is kept"
            if saved is not None else "no snapshot was written yet")
    return TrainingStopped(f"epoch {epoch}, iteration {error.iteration}: the loss is {error.value} ({error.what}); "
                           f"training stopped ({kept}). A smaller learning rate (--opt_kwargs) may help")


def _kept(run: Training) -> str:
    saved = run.folder.last_saved
    return (f"the snapshot of epoch {saved} is kept" if saved is not None
            else "no snapshot was written yet (--resume starts at epoch 0)")


def _interrupted(run: Training, stop: StopRequested, where: str) -> Interrupted:
    """After a stop request: the last finished epoch's snapshot written (if not yet on disk),
    every rank past that point; the Interrupted exception saying where and what is kept."""
    run.folder.save_pending()
    run.ranks.barrier()
    return Interrupted(stop.signal_name, stop.status, f"{where}; {_kept(run)}", report=run.ranks.writes)


def _before_update(run: Training, epoch: int, per_epoch: int):
    """The train_epoch callback before iteration k: obey a stop request (collectively on the
    ranks), then tell the model its progress (training.hooks)."""
    c = run.config
    progress = hooks.progress_callback(run.model, (epoch - 1) * per_epoch, c.total_updates(per_epoch))

    def before_update(k):
        try:
            run.stop.check(run.ranks)
        except StopRequested as e:
            e.iteration = k
            raise
        if progress is not None:
            progress(k)
    return before_update


def _validate(run: Training, epoch: int) -> tuple:
    """BN re-estimation (seeded from (seed, epoch)), then (loss, error) on the validation split."""
    c, (train_x, train_y), (val_x, val_y) = run.config, run.splits["trainfn"], run.splits["valfn"]
    rng = seed_validation(c.seed, epoch, run.device)
    run.ranks.reseed(c.seed, epoch, run.device, stream=1)
    reestimate_batchnorm(run.model, train_x, train_y, c.eval_batchsize, run.device,
                         f"{run.name} epoch {epoch} BN statistics", c.quiet, mode=c.bn_reestimation,
                         averaging=c.bn_averaging, transformations=c.transformations, rng=rng, ranks=run.ranks)
    return evaluate(run.model, val_x, val_y, c.eval_batchsize, run.device,
                    f"{run.name} epoch {epoch} validation", c.quiet, ranks=run.ranks)


def _epoch(run: Training, epoch: int, elapsed: float) -> dict:
    """Train one epoch (and validate after it when due); returns its log entry."""
    c, (train_x, train_y) = run.config, run.splits["trainfn"]
    t0 = time.perf_counter()
    lr = c.learning_rate(run.base_lr, epoch)
    setattr(run.optimizer, run.lr_attr, lr)
    rng = seed_epoch(c.seed, epoch, run.device)
    run.ranks.reseed(c.seed, epoch, run.device)
    per_epoch = batches_per_epoch(c, run.splits)
    try:
        train_loss, train_error = train_epoch(
            run.model, run.optimizer, train_x, train_y, c.batchsize, c.transformations, rng, run.device,
            f"{run.name} epoch {epoch}/{c.epochs}", c.quiet, ranks=run.ranks,
            max_batches=c.batches_in_epoch(epoch, per_epoch), before_update=_before_update(run, epoch, per_epoch))
        train_seconds = time.perf_counter() - t0
        val_loss = val_error = None
        if c.validates_after(epoch):
            val_loss, val_error = _validate(run, epoch)
    except TrainingDiverged as e:
        raise _stopped(run, e, epoch) from None
    seconds = time.perf_counter() - t0
    entry = dict(epoch=epoch, train_loss=train_loss, train_error=train_error, val_loss=val_loss,
                 val_error=val_error, lr=lr, seconds=seconds, train_seconds=train_seconds, elapsed=elapsed + seconds)
    return dict(entry, **hooks.log_fields(run.model, entry))  # the model's own fields (training.hooks)


def _releasing_on_error(function):
    """`function(run, ...)`, which unlocks the run folder when it raises: the run ends there."""
    @functools.wraps(function)
    def wrapped(run, *args):
        try:
            return function(run, *args)
        except BaseException:
            run.folder.release()
            raise
    return wrapped


@_releasing_on_error
def fit(run: Training) -> tuple:
    """Train from the run's start epoch to --epochs: each epoch's entry appended to the log (in
    memory and in log.jsonl), a line printed, a snapshot written when due (else kept in memory
    for a stop). Returns the (loss, error) of the last epoch's validation ((None, None) when no
    epoch was left). Raises Interrupted after a stop request (see the module's docstring); an
    exception unlocks the run folder."""
    c = run.config
    train_x, val_x = run.splits["trainfn"][0], run.splits["valfn"][0]
    resumed = ("resuming after epoch %d; " % run.start_epoch if run.start_epoch else
               "no snapshot yet, starting from epoch 0; " if c.resume else "")
    steps = (f"{c.steps} steps = {c.epochs} epochs of {batches_per_epoch(c, run.splits)} batches; "
             if c.steps is not None else "")
    print(f"{run.name}: {count_parameters(run.model):,} parameters; {len(train_x)} training / {len(val_x)} "
          f"validation examples; {steps}{resumed}results in {c.resultdir}", flush=True)
    entry = {}
    for epoch in range(run.start_epoch + 1, c.epochs + 1):
        try:
            entry = _epoch(run, epoch, run.log[-1]["elapsed"] if run.log else 0.0)
        except StopRequested as e:
            raise _interrupted(run, e, f"at epoch {epoch}, iteration {e.iteration}") from None
        run.log.append(entry)
        run.folder.append_log(entry)
        val_text = ("" if entry["val_error"] is None else
                    f", val loss {entry['val_loss']:.4f} error {100 * entry['val_error']:.2f}%")
        print(f"epoch {epoch}: train loss {entry['train_loss']:.4f} error {100 * entry['train_error']:.2f}%"
              f"{val_text} ({entry['seconds']:.1f} s)", flush=True)
        run.folder.save_snapshot(run.model, run.optimizer, epoch, due=c.snapshots_after(epoch))
    try:
        run.stop.check(run.ranks)
    except StopRequested as e:
        raise _interrupted(run, e, f"after epoch {c.epochs}, before the final evaluation") from None
    return entry.get("val_loss"), entry.get("val_error")


@_releasing_on_error
def finish(run: Training, validation: tuple) -> dict:
    """The final numbers: the last validation (evaluated again when no epoch was left) and the
    --testfn split's (or the validation's) loss and error; writes and returns the summary and
    unlocks the run folder (also when it raises)."""
    c, (val_loss, val_error) = run.config, validation
    try:
        if val_error is None:  # nothing left to train (resumed at the last epoch): evaluate again
            val_loss, val_error = _validate(run, c.epochs)
        if c.testfn:
            test_x, test_y = run.splits["testfn"]
            test_loss, test_error = evaluate(run.model, test_x, test_y, c.eval_batchsize, run.device,
                                             f"{run.name} test", c.quiet, ranks=run.ranks)
        else:
            test_loss, test_error = val_loss, val_error
    except TrainingDiverged as e:
        raise _stopped(run, e, c.epochs) from None
    test_path = os.path.join(c.datadir, c.testfn or c.valfn)
    last = run.log[-1] if run.log else {}
    summary = dict(
        model=run.name, modelfn=c.modelfn, seed=c.seed, epochs=c.epochs, n_params=count_parameters(run.model),
        train_loss=last.get("train_loss"), train_error=last.get("train_error"),
        val_file=os.path.join(c.datadir, c.valfn), val_loss=val_loss, val_error=val_error,
        test_file=test_path, test_loss=test_loss, test_error=test_error,
        seconds_total=last.get("elapsed", 0.0),
        seconds_per_epoch=float(np.mean([e["train_seconds"] for e in run.log])) if run.log else None,
        device=str(run.device), resultdir=c.resultdir, fingerprint=run.record["fingerprint"],
        steps=getattr(run.optimizer, "t", None),
    )
    run.folder.write_summary(summary)
    run.folder.release()  # the run is complete: another process may take the folder
    print(f"{run.name} test error: {100 * test_error:.2f}% on {test_path} after {c.epochs} epochs "
          f"(summary in {os.path.join(c.resultdir, SUMMARY_FILE)})", flush=True)
    return summary

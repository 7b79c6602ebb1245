"""Training hooks a model may define: how the one training loop lets a model take part in its
own training without new train.py flags. Each hook is optional; a model without any trains
exactly as it would without this module (nothing is called, no random number is drawn).

  setup_optimizer(optimizer)   called once per process start, right after
                               ``optimizer.setup(model)`` (and the weight-decay hook), before a
                               snapshot is restored: e.g. per-parameter learning rates. Update
                               rules' hyperparameters are not part of a snapshot, so this runs
                               again on --resume.
  training_progress(fraction)  called before the forward pass of every training update with
                               the update's position in the run, 0.0 at the first update and
                               1.0 at the last (index / (updates - 1); updates = --steps, or --epochs x
                               batches per epoch), and once after a snapshot is restored with
                               the position of the next update (1.0 when none is left): e.g. an
                               annealed temperature.
  evaluation_mode()            a context manager entered around every pass that measures the
                               network as it is evaluated: the BN re-estimation pass and
                               evaluation (e.g. deterministic gates in a pass that runs in
                               training mode).
  log_fields()                 a dict of extra JSON values added to each epoch's log.jsonl row
                               after the epoch (and its validation); it may not reuse a key of
                               the row.

The partial G-CNNs (gconv_experiments/layers/partial_gates.py) define all four.

>>> class Annealed:
...     def training_progress(self, fraction):
...         self.fraction = fraction
>>> model = Annealed()
>>> training_progress(model, update=3, updates=5)
>>> model.fraction
0.75
>>> log_fields(object())
{}
"""
import contextlib

__all__ = ["HOOKS", "setup_optimizer", "training_progress", "progress_callback",
           "evaluation_mode", "log_fields"]

HOOKS = ("setup_optimizer", "training_progress", "evaluation_mode", "log_fields")


def _hook(model, name):
    hook = getattr(model, name, None)
    return hook if callable(hook) else None


def setup_optimizer(model, optimizer) -> None:
    """Call ``model.setup_optimizer(optimizer)`` if the model defines it."""
    hook = _hook(model, "setup_optimizer")
    if hook is not None:
        hook(optimizer)


def training_progress(model, update: int, updates: int) -> None:
    """Call ``model.training_progress(update / (updates - 1))`` (clipped to [0, 1]; 1.0 for a run
    of one update) if the model defines it; `update` counts from 0."""
    hook = _hook(model, "training_progress")
    if hook is not None:
        hook(min(1.0, max(0.0, update / (updates - 1))) if updates > 1 else 1.0)


def progress_callback(model, first_update: int, updates: int):
    """None for a model without training_progress; else a function of the 1-based iteration k of
    an epoch whose first update is `first_update`, calling the hook for update first_update + k - 1."""
    if _hook(model, "training_progress") is None:
        return None
    return lambda k: training_progress(model, first_update + k - 1, updates)


def evaluation_mode(model):
    """``model.evaluation_mode()`` if the model defines it, else a context that does nothing."""
    hook = _hook(model, "evaluation_mode")
    return hook() if hook is not None else contextlib.nullcontext()


def log_fields(model, row: "dict | None" = None) -> dict:
    """``model.log_fields()`` (a dict; {} without the hook). A key already in `row` is a
    ValueError naming it."""
    hook = _hook(model, "log_fields")
    if hook is None:
        return {}
    fields = dict(hook())
    clash = sorted(set(fields) & set(row or {}))
    if clash:
        raise ValueError(f"{type(model).__name__}.log_fields() returns key(s) {clash} of the log row itself")
    return fields

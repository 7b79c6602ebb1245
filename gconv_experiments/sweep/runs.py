"""The runs of a sweep and what each folder already holds: :class:`Run` (one train.py run in its
own folder), :func:`read_summary`, and :func:`plan`, which inspects every folder before anything
starts and decides, per run:

  done      summary.json for the requested epochs and a matching run.json: reused as it is;
  resume    a snapshot with a matching run.json: continued from it (more epochs continue too);
  train     nothing there, or a run killed before its first snapshot: (re)started from epoch 0.

A folder whose run.json fingerprint differs (other data, model, optimiser, seed, augmentation,
...) stops the sweep with the differing settings named, before any run starts, unless
``fresh_on_change``: then that run trains in a new folder ``<folder>-<fingerprint[:8]>`` (found
again by later sweeps with the same settings).

>>> run = Run(group="P4CNN", seed=1, epochs=3, folder="/tmp/r/P4CNN/seed1", argv=("--quiet",),
...           train_module="gconv_experiments.MNIST_ROT.train")
>>> run.label
'P4CNN seed 1'
>>> run.train_argv(resume=True)
['--quiet', '--resultdir', '/tmp/r/P4CNN/seed1', '--resume']
"""
import dataclasses
import importlib
import json
import os
from types import ModuleType

from gconv_experiments.training import (
    RUN_FILE, SNAPSHOT_FILE, SUMMARY_FILE, ConfigError, differences, read_record, resolve_run)

__all__ = ["Run", "Planned", "read_summary", "resolve", "plan"]



@dataclasses.dataclass(frozen=True)
class Run:
    """One training run of a sweep. `argv`: the train.py flags without --resultdir/--resume;
    `train_module`: the module whose ``main(argv)`` trains (and whose DEFAULTS/MODELS_PACKAGE
    resolve the configuration); `folder`: the run folder (absolute)."""
    group: str
    seed: int
    epochs: int
    folder: str
    argv: tuple
    train_module: str

    @property
    def label(self) -> str:
        return f"{self.group} seed {self.seed}"

    def train_argv(self, resume: bool = False) -> list:
        return list(self.argv) + ["--resultdir", self.folder] + (["--resume"] if resume else [])


@dataclasses.dataclass
class Planned:
    """A run and what the sweep does with it (see :func:`plan`)."""
    run: Run
    action: str          # 'done', 'resume' or 'train'
    record: dict         # resolve_run's record (config, data hashes, fingerprint)
    summary: "dict | None" = None  # for 'done'
    note: str = ""


def read_summary(path: str) -> tuple:
    """(summary dict, None) for a valid summary.json, (None, None) if absent, (None, reason) if
    damaged (not strict JSON, or without an integer 'epochs' and a test_error in [0, 1])."""
    if not os.path.exists(path):
        return None, None
    try:
        with open(path, encoding="utf-8") as f:
            summary = json.load(f, parse_constant=_reject_constant)
    except (OSError, ValueError) as e:
        return None, f"{type(e).__name__}: {e}"
    ok = (isinstance(summary, dict) and isinstance(summary.get("epochs"), int)
          and isinstance(summary.get("test_error"), (int, float)) and 0 <= summary["test_error"] <= 1)
    return (summary, None) if ok else (None, "not a summary with integer 'epochs' and 'test_error' in [0, 1]")


def _reject_constant(name):
    raise ValueError(f"non-finite number {name} (not strict JSON)")


def _read_record(path):
    """The run record at `path` (training.read_record), or None where it is absent, unreadable
    or has no fingerprint."""
    try:
        record = read_record(path)
    except ConfigError:
        return None
    return record if isinstance(record.get("fingerprint"), str) else None


def _train_module(name: str) -> ModuleType:
    return importlib.import_module(name)


def resolve(run: Run) -> dict:
    """The run's record (config, data hashes, fingerprint) computed without training."""
    module = _train_module(run.train_module)
    return resolve_run(run.train_argv(), defaults=module.DEFAULTS, models_package=module.MODELS_PACKAGE)


def _inspect(run, record):
    """(action, summary, note) for a run folder whose run.json matches `record` (or is absent)."""
    folder = run.folder
    summary_path = os.path.join(folder, SUMMARY_FILE)
    has_snapshot = os.path.isfile(os.path.join(folder, SNAPSHOT_FILE))
    summary, damage = read_summary(summary_path)
    if damage:
        how = "redoing its last evaluation from snapshot.h5" if has_snapshot else "no snapshot: retraining it"
        return ("resume" if has_snapshot else "train"), None, f"{summary_path} is damaged ({damage}); {how}"
    if summary is not None:
        if summary["epochs"] == run.epochs:
            return "done", summary, ""
        if summary["epochs"] > run.epochs:
            raise ConfigError(f"{folder} holds a run trained for {summary['epochs']} epochs, more than the "
                              f"{run.epochs} requested; ask for --epochs {run.group}={summary['epochs']} "
                              f"or choose another --resultdir")
        if not has_snapshot:
            raise ConfigError(f"{folder} holds a run finished after {summary['epochs']} epochs whose "
                              f"{SNAPSHOT_FILE} was removed, so it cannot continue to {run.epochs} epochs; "
                              f"ask for --epochs {run.group}={summary['epochs']}, or delete the folder to retrain")
        return "resume", None, f"continuing from epoch {summary['epochs']} to {run.epochs}"
    return ("resume" if has_snapshot else "train"), None, ""


def plan(runs: list, fresh_on_change: bool = False) -> list:
    """Check every run folder against the run's record; returns [Planned]. Raises ConfigError
    (naming each folder and its differing settings) before anything is trained."""
    planned, mismatched = [], []
    for run in runs:
        for path in (run.folder, os.path.dirname(run.folder)):
            if os.path.exists(path) and not os.path.isdir(path):
                raise ConfigError(f"run folder {run.folder}: {path} is an existing file, not a folder")
        record = resolve(run)
        saved_path = os.path.join(run.folder, RUN_FILE)
        saved = _read_record(saved_path)
        occupied = any(os.path.exists(os.path.join(run.folder, f)) for f in (SNAPSHOT_FILE, SUMMARY_FILE))
        if saved is not None:
            diffs = differences(saved, record)
        elif occupied:
            diffs = [f"{saved_path} is missing or unreadable, so the run's settings cannot be checked"]
        else:
            diffs = []
        if diffs:
            alternative = dataclasses.replace(run, folder=f"{run.folder}-{record['fingerprint'][:8]}")
            alt_saved = _read_record(os.path.join(alternative.folder, RUN_FILE))
            alt_diffs = [] if alt_saved is None else differences(alt_saved, record)
            if alt_saved is not None and not alt_diffs:
                run = alternative  # made earlier by --fresh_on_change with these settings
            elif fresh_on_change and not alt_diffs:
                if os.path.exists(alternative.folder) and not os.path.isdir(alternative.folder):
                    raise ConfigError(f"run folder {alternative.folder} is an existing file, not a folder")
                run = alternative
            else:  # with --fresh_on_change: the new folder holds a run of other settings
                mismatched.append((alternative, alt_diffs) if fresh_on_change else (run, diffs))
                continue
        action, summary, note = _inspect(run, record)
        planned.append(Planned(run, action, record, summary, note))
    if mismatched:
        lines = [f"  {run.folder}: " + "; ".join(diffs) for run, diffs in mismatched]
        raise ConfigError(f"{len(mismatched)} run folder(s) hold runs that do not match the requested settings:\n"
                          + "\n".join(lines) + "\nchoose another --resultdir, delete those folders, or pass "
                          "--fresh_on_change to train these runs in new folders beside them")
    return planned

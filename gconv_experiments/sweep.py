"""Sweeps of training runs (models x seeds): every run folder checked against its run record,
then the runs trained in this process or concurrently on a Dask cluster. The one sweep
implementation: sweep_cli builds an experiment's runs from its command line, sweep_cluster holds
the Dask and thread-count parts, sweep_report writes the tables.

A :class:`Run` is one train.py run in its own folder. :func:`plan` inspects every folder before
anything starts and decides, per run:
  done      summary.json for the requested epochs and a matching run.json: reused as it is;
  resume    a snapshot with a matching run.json: continued from it (more epochs continue too);
  train     nothing there, or a run killed before its first snapshot: (re)started from epoch 0.
A folder whose run.json fingerprint differs (other data, model, optimiser, seed, augmentation,
...) stops the sweep with the differing settings named, before any run starts, unless
``fresh_on_change``: then that run trains in a new folder ``<folder>-<fingerprint[:8]>`` (found
again by later sweeps with the same settings). :func:`execute` runs what is left: in this
process (``workers=1``), on a ``dask.distributed.LocalCluster`` of ``workers`` worker
processes, or on an existing cluster (``scheduler``: an address or a scheduler file). The
process that runs a run decides resume vs restart again from its folder, so a run whose worker
was killed is retried (by Dask, or by the next invocation) from its last snapshot with
identical results.
"""
import contextlib
import dataclasses
import importlib
import json
import os
import sys
import time
import traceback

import progressbar

from gconv_experiments import sweep_cluster
from gconv_experiments.training import (
    ARGS_FILE, LOG_FILE, RUN_FILE, SNAPSHOT_FILE, SUMMARY_FILE, ConfigError, differences, read_record,
    resolve_run)
from gconv_experiments.training.loop import _CurrentStderr

OUTPUT_FILE = "output.log"  # a run's printed lines when it runs on a Dask worker


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
    def label(self):
        return f"{self.group} seed {self.seed}"

    def train_argv(self, resume=False):
        return list(self.argv) + ["--resultdir", self.folder] + (["--resume"] if resume else [])


@dataclasses.dataclass
class Planned:
    run: Run
    action: str          # 'done', 'resume' or 'train'
    record: dict         # resolve_run's record (config, data hashes, fingerprint)
    summary: dict = None  # for 'done'
    note: str = ""


class SweepError(RuntimeError):
    """One or more runs failed; the message names them. Finished runs are kept."""


def read_summary(path):
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


def _train_module(name):
    return importlib.import_module(name)


def resolve(run):
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


def plan(runs, fresh_on_change=False):
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
            if alt_saved is not None and not differences(alt_saved, record):
                run = alternative  # made earlier by --fresh_on_change with these settings
            elif fresh_on_change:
                if os.path.exists(alternative.folder) and not os.path.isdir(alternative.folder):
                    raise ConfigError(f"run folder {alternative.folder} is an existing file, not a folder")
                run = alternative
            else:
                mismatched.append((run, diffs))
                continue
        action, summary, note = _inspect(run, record)
        planned.append(Planned(run, action, record, summary, note))
    if mismatched:
        lines = [f"  {run.folder}: " + "; ".join(diffs) for run, diffs in mismatched]
        raise ConfigError(f"{len(mismatched)} run folder(s) hold runs that do not match the requested settings:\n"
                          + "\n".join(lines) + "\nchoose another --resultdir, delete those folders, or pass "
                          "--fresh_on_change to train these runs in new folders beside them")
    return planned


# --------------------------------------------------------------------------- running one run
def execute_run(run, threads=None, output_to_file=False):
    """Train `run` (in whatever process calls this: the client or a Dask worker); returns its
    summary. Resumes from the folder's snapshot if there is one, otherwise starts from epoch 0
    (clearing what a run killed before its first snapshot left)."""
    module = _train_module(run.train_module)
    resume = os.path.isfile(os.path.join(run.folder, SNAPSHOT_FILE))
    if not resume:
        for name in (ARGS_FILE, LOG_FILE, SUMMARY_FILE, RUN_FILE):
            path = os.path.join(run.folder, name)
            if os.path.isfile(path):
                os.remove(path)
    with contextlib.ExitStack() as stack:
        if output_to_file:
            os.makedirs(run.folder, exist_ok=True)
            out = stack.enter_context(open(os.path.join(run.folder, OUTPUT_FILE), "a", encoding="utf-8"))
            out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {run.label} on pid {os.getpid()} "
                      f"({'resuming' if resume else 'from epoch 0'})\n")
            out.flush()
            stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(sweep_cluster.limited_threads(threads))
        return module.main(run.train_argv(resume=resume))




# --------------------------------------------------------------------------- the sweep
def _sweep_bar(done, total, quiet):
    if quiet or done == total:  # nothing to train: no bar
        return None
    widgets = ["sweep: ", progressbar.FormatLabel("%(value)d/%(max_value)d runs"), " ",
               progressbar.Bar(), " ", progressbar.ETA()]
    # min_value = runs finished earlier, so the ETA is based on the runs trained now
    return progressbar.ProgressBar(min_value=done, max_value=total, initial_value=done, widgets=widgets,
                                   fd=_CurrentStderr()).start()


def execute(planned, workers=1, scheduler=None, threads=None, quiet=False, log=print):
    """Train every planned run that is not done -- in this process (workers 1, no scheduler), on
    a LocalCluster of `workers` processes, or on the Dask cluster `scheduler` -- and return the
    summaries in plan order. Raises SweepError naming the runs that failed (the others are
    finished and kept; an unexpected error's traceback goes to stderr at once)."""
    for p in planned:
        verb = {"done": "finished earlier, skipping", "resume": "resuming from",
                "train": f"training for {p.run.epochs} epochs in"}[p.action]
        where = f" ({p.run.folder})" if p.action == "done" else f" {p.run.folder}"
        log(f"{p.run.label}: {verb}{where}" + (f" -- {p.note}" if p.note else ""))
    todo = [i for i, p in enumerate(planned) if p.action != "done"]
    summaries = [p.summary for p in planned]
    bar = _sweep_bar(len(planned) - len(todo), len(planned), quiet)
    failures = []

    def finished(i, result=None, error=None, trace=None):
        run = planned[i].run
        if error is None:
            summaries[i] = result
            log(f"{run.label}: test error {100 * result['test_error']:.2f}% ({run.folder})")
        else:
            failures.append(f"{run.label} ({run.folder}): {type(error).__name__}: {error}")
            if not isinstance(error, (ConfigError, FileNotFoundError)) and trace:
                print(f"{run.label} failed:\n{trace}", file=sys.stderr, flush=True)
        if bar is not None:
            bar.update(bar.value + 1)

    if todo and scheduler is None and workers == 1:
        for i in todo:
            try:
                summary = execute_run(planned[i].run, threads)
            except Exception as e:
                finished(i, error=e, trace=traceback.format_exc())
            else:
                finished(i, summary)
    elif todo:
        stamp = f"{os.getpid()}-{time.time_ns()}"
        keys = {f"run-{planned[i].run.group}-seed{planned[i].run.seed}-{stamp}": i for i in todo}
        sweep_cluster.run_on_dask(execute_run, [(key, (planned[i].run, threads, True)) for key, i in keys.items()],
                                  workers, scheduler, threads, lambda key, **kw: finished(keys[key], **kw))
    if bar is not None:
        bar.finish()
    if failures:
        raise SweepError(f"{len(failures)} of {len(planned)} runs failed (finished runs are kept; run the "
                         f"same command again to retry):\n  " + "\n  ".join(failures))
    return summaries


def fingerprints(planned, resultdir):
    """The sweep's run list for sweep.json: model, seed, epochs, folder (relative), fingerprint."""
    return [dict(model=p.run.group, seed=p.run.seed, epochs=p.run.epochs,
                 folder=os.path.relpath(p.run.folder, resultdir), fingerprint=p.record["fingerprint"])
            for p in planned]

"""Running a sweep's planned runs: in this process (``workers=1``), on a
``dask.distributed.LocalCluster`` of ``workers`` worker processes, or on an existing cluster
(``scheduler``: an address or a scheduler file). The process that runs a run decides resume vs
restart again from its folder, so a run whose worker was killed is retried (by Dask, or by the
next invocation) from its last snapshot with identical results.
"""
import contextlib
import os
import sys
import time
import traceback
from typing import Callable

import progressbar

from gconv_experiments.sweep import cluster
from gconv_experiments.sweep.runs import Run, _train_module
from gconv_experiments.training import (
    ARGS_FILE, LOG_FILE, RUN_FILE, SNAPSHOT_FILE, SUMMARY_FILE, ConfigError)
from gconv_experiments.training.folder_lock import FolderLock
from gconv_experiments.training.loop import _CurrentStderr
from gconv_experiments.training.run_folder import WriteFailed, open_for_append

__all__ = ["OUTPUT_FILE", "SweepError", "execute_run", "execute", "fingerprints"]

OUTPUT_FILE = "output.log"  # a run's printed lines when it runs on a Dask worker


class SweepError(RuntimeError):
    """One or more runs failed; the message names them. Finished runs are kept."""


def execute_run(run: Run, threads: "int | None" = None, output_to_file: bool = False) -> dict:
    """Train `run` (in whatever process calls this: the client or a Dask worker); returns its
    summary. Resumes from the folder's snapshot if there is one, otherwise starts from epoch 0
    (clearing what a run killed before its first snapshot left). A folder locked by another
    process (a run in progress) is left untouched: ConfigError naming the folder and the holder."""
    module = _train_module(run.train_module)
    resume = False
    if os.path.isdir(run.folder):
        with FolderLock(run.folder):
            resume = os.path.isfile(os.path.join(run.folder, SNAPSHOT_FILE))
            if not resume:
                for name in (ARGS_FILE, LOG_FILE, SUMMARY_FILE, RUN_FILE):
                    path = os.path.join(run.folder, name)
                    if os.path.isfile(path):
                        os.remove(path)
    with contextlib.ExitStack() as stack:
        if output_to_file:
            os.makedirs(run.folder, exist_ok=True)
            out = stack.enter_context(open_for_append(os.path.join(run.folder, OUTPUT_FILE)))
            out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {run.label} on pid {os.getpid()} "
                      f"({'resuming' if resume else 'from epoch 0'})\n")
            out.flush()
            stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(cluster.limited_threads(threads))
        return module.main(run.train_argv(resume=resume))


def _sweep_bar(done, total, quiet):
    if quiet or done == total:  # nothing to train: no bar
        return None
    widgets = ["sweep: ", progressbar.FormatLabel("%(value)d/%(max_value)d runs"), " ",
               progressbar.Bar(), " ", progressbar.ETA()]
    # min_value = runs finished earlier, so the ETA is based on the runs trained now
    return progressbar.ProgressBar(min_value=done, max_value=total, initial_value=done, widgets=widgets,
                                   fd=_CurrentStderr()).start()


def execute(planned: list, workers: int = 1, scheduler: "str | None" = None, threads: "int | None" = None,
            quiet: bool = False, log: Callable[[str], None] = print) -> list:
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
            if not isinstance(error, (ConfigError, FileNotFoundError, WriteFailed)) and trace:
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
        cluster.run_on_dask(execute_run, [(key, (planned[i].run, threads, True)) for key, i in keys.items()],
                                  workers, scheduler, threads, lambda key, **kw: finished(keys[key], **kw))
    if bar is not None:
        bar.finish()
    if failures:
        raise SweepError(f"{len(failures)} of {len(planned)} runs failed (finished runs are kept; run the "
                         f"same command again to retry):\n  " + "\n  ".join(failures))
    return summaries


def fingerprints(planned: list, resultdir: str) -> list:
    """The sweep's run list for sweep.json: model, seed, epochs, folder (relative), fingerprint."""
    return [dict(model=p.run.group, seed=p.run.seed, epochs=p.run.epochs,
                 folder=os.path.relpath(p.run.folder, resultdir), fingerprint=p.record["fingerprint"])
            for p in planned]

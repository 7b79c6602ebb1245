"""Sweeps of training runs (models x seeds): checked against their run records, then trained in
this process or concurrently on a Dask cluster. The one sweep implementation; the experiments'
``experiment.py`` files only build the list of runs and tabulate (:mod:`gconv_experiments.sweep_report`).

A :class:`Run` is one train.py run in its own folder. :func:`plan` inspects every folder before
anything starts and decides, per run:
  done      summary.json for the requested epochs and a matching run.json: reused as it is;
  resume    a snapshot with a matching run.json: continued from it (more epochs continue too);
  train     nothing there, or a run killed before its first snapshot: (re)started from epoch 0.
A folder whose run.json fingerprint differs (other data, model, optimiser, seed, augmentation,
...) stops the sweep with the differing settings named, before any run starts, unless
``fresh_on_change``: then that run trains in a new folder ``<folder>-<fingerprint[:8]>``.
:func:`execute` then runs what is left: in this process (``workers=1``), on a
``dask.distributed.LocalCluster`` of ``workers`` single-threaded worker processes, or on an
existing cluster (``scheduler``: an address or a scheduler file). The worker decides resume vs
restart again from the folder, so a run whose worker was killed is retried (by Dask, or by the
next invocation) from its last snapshot with identical results.
"""
import contextlib
import dataclasses
import importlib
import json
import os
import time

import progressbar

from gconv_experiments.training import (
    ARGS_FILE, LOG_FILE, RUN_FILE, SNAPSHOT_FILE, SUMMARY_FILE, ConfigError, differences, resolve_run)
from gconv_experiments.training.loop import _CurrentStderr

OUTPUT_FILE = "output.log"  # a run's printed lines when it runs on a Dask worker
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "GROUPY_CPU_CONV_THREADS")


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
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        if isinstance(record, dict) and isinstance(record.get("fingerprint"), str):
            return record
    except (OSError, ValueError):
        pass
    return None


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
        if os.path.exists(run.folder) and not os.path.isdir(run.folder):
            raise ConfigError(f"run folder {run.folder} is an existing file, not a folder")
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


# --------------------------------------------------------------------------- threads
def thread_environment(threads):
    """Environment variables giving BLAS, OpenMP and groupy's conv `threads` threads."""
    return {name: str(threads) for name in THREAD_VARIABLES}


@contextlib.contextmanager
def limited_threads(threads):
    """BLAS (threadpoolctl) and groupy conv thread counts set to `threads` inside the block
    (None: unchanged)."""
    if threads is None:
        yield
        return
    import threadpoolctl
    from groupy import fast_cpu
    before = fast_cpu.get_num_threads()
    fast_cpu.set_num_threads(threads)
    try:
        with threadpoolctl.threadpool_limits(limits=threads):
            yield
    finally:
        fast_cpu.set_num_threads(before)


def thread_report():
    """This process's thread settings: the environment variables, the BLAS pools' sizes and
    groupy's conv threads (run on a worker to check what a run gets)."""
    import threadpoolctl
    from groupy import fast_cpu
    return dict(env={k: os.environ.get(k) for k in THREAD_VARIABLES},
                blas=sorted({p["num_threads"] for p in threadpoolctl.threadpool_info()}),
                groupy=fast_cpu.get_num_threads(), pid=os.getpid())


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
        stack.enter_context(limited_threads(threads))
        return module.main(run.train_argv(resume=resume))


# --------------------------------------------------------------------------- the sweep
def default_threads(workers):
    """Each of `workers` processes gets its share of this machine's usable cores (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // workers)


def _sweep_bar(done, total, quiet):
    if quiet or total == 0:
        return None
    widgets = ["sweep: ", progressbar.FormatLabel("%(value)d/%(max_value)d runs"), " ",
               progressbar.Bar(), " ", progressbar.ETA()]
    # min_value = runs finished earlier, so the ETA is based on the runs trained now
    return progressbar.ProgressBar(min_value=done, max_value=total, initial_value=done, widgets=widgets,
                                   fd=_CurrentStderr()).start()


@contextlib.contextmanager
def local_cluster(workers, threads):
    """A LocalCluster of `workers` processes, one task at a time each, whose BLAS, OpenMP and
    groupy thread counts are `threads`. The variables are set in this process while the cluster
    lives (and restored after): a Nanny passes the spawning process's values on to a worker
    before it imports numpy (and again when it restarts a killed worker)."""
    from distributed import LocalCluster
    env = thread_environment(threads)
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=0,
                          dashboard_address=None, env=env, silence_logs=50) as cluster:
            yield cluster
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def connect(scheduler):
    """A distributed.Client for an address ('tcp://host:8786') or a scheduler file (JSON)."""
    from distributed import Client
    if os.path.isfile(scheduler):
        return Client(scheduler_file=scheduler, timeout="30s")
    return Client(scheduler, timeout="30s")


def execute(planned, workers=1, scheduler=None, threads=None, quiet=False, log=print):
    """Train every planned run that is not done; returns the summaries in plan order. Raises
    SweepError naming the runs that failed (the others are finished and kept)."""
    for p in planned:
        verb = {"done": "finished earlier, skipping", "resume": "resuming from",
                "train": f"training for {p.run.epochs} epochs in"}[p.action]
        where = f" ({p.run.folder})" if p.action == "done" else f" {p.run.folder}"
        log(f"{p.run.label}: {verb}{where}" + (f" -- {p.note}" if p.note else ""))
    todo = [i for i, p in enumerate(planned) if p.action != "done"]
    summaries = [p.summary for p in planned]
    bar = _sweep_bar(len(planned) - len(todo), len(planned), quiet)
    failures = []

    def finished(i, summary=None, error=None):
        if error is None:
            summaries[i] = summary
            log(f"{planned[i].run.label}: test error {100 * summary['test_error']:.2f}% ({planned[i].run.folder})")
        else:
            failures.append(f"{planned[i].run.label} ({planned[i].run.folder}): {type(error).__name__}: {error}")
        if bar is not None:
            bar.update(bar.value + 1)

    if todo and scheduler is None and workers == 1:
        for i in todo:
            try:
                summary = execute_run(planned[i].run, threads)
            except ConfigError as e:
                finished(i, error=e)
            else:
                finished(i, summary)
    elif todo:
        _execute_on_dask(planned, todo, workers, scheduler, threads, finished)
    if bar is not None:
        bar.finish()
    if failures:
        raise SweepError(f"{len(failures)} of {len(planned)} runs failed (finished runs are kept; run the "
                         f"same command again to retry):\n  " + "\n  ".join(failures))
    return summaries


def _execute_on_dask(planned, todo, workers, scheduler, threads, finished):
    from distributed import Client, as_completed
    with contextlib.ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(local_cluster(workers, threads))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(connect(scheduler))
        futures = {}
        for i in todo:
            run = planned[i].run
            key = f"run-{run.group}-seed{run.seed}-{planned[i].record['fingerprint'][:12]}-{os.getpid()}-{time.time_ns()}"
            futures[client.submit(execute_run, run, threads, True, key=key, pure=False)] = i
        for future in as_completed(futures):
            i = futures[future]
            try:
                finished(i, future.result())
            except Exception as e:  # a run's own error, or KilledWorker after repeated worker deaths
                finished(i, error=e)


def check_distribution_flags(workers, scheduler, threads):
    """Validate --workers/--scheduler/--threads; returns the per-run thread count (None: unchanged)."""
    if workers is None:
        workers = 1
    if workers < 1:
        raise ConfigError(f"--workers must be a positive integer, got {workers}")
    if scheduler is not None and workers != 1:
        raise ConfigError("give --workers (a local cluster) or --scheduler (an existing cluster), not both")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be a positive integer, got {threads}")
    if scheduler is not None or workers > 1:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ConfigError("--workers > 1 and --scheduler need dask.distributed: "
                              "pip install \"dask[distributed]\"") from None
    if threads is None and scheduler is None and workers > 1:
        threads = default_threads(workers)
    elif threads is None and scheduler is not None:
        threads = 1
    return threads


def add_distribution_arguments(parser):
    """--workers, --scheduler, --threads, --fresh_on_change on an experiment's parser."""
    g = parser.add_argument_group("running the sweep's runs")
    g.add_argument("--workers", type=int, default=1,
                   help="train N runs at a time on a dask.distributed LocalCluster of N worker processes "
                        "(1: one after another in this process)")
    g.add_argument("--scheduler", default=None,
                   help="submit the runs to an existing Dask cluster: its scheduler address "
                        "(tcp://HOST:8786) or scheduler file; the folders must be on a shared file system")
    g.add_argument("--threads", type=int, default=None,
                   help="BLAS / OpenMP / groupy conv threads per run (default: the cores divided by "
                        "--workers on a local cluster, 1 on --scheduler, unchanged with --workers 1)")
    g.add_argument("--fresh_on_change", action="store_true",
                   help="a run folder holding a run made with other settings: train this run in a new "
                        "folder beside it (<folder>-<fingerprint>) instead of stopping")
    return parser


def fingerprints(planned, resultdir):
    """The sweep's run list for sweep.json: group, seed, epochs, folder (relative), fingerprint."""
    return [dict(model=p.run.group, seed=p.run.seed, epochs=p.run.epochs,
                 folder=os.path.relpath(p.run.folder, resultdir), fingerprint=p.record["fingerprint"])
            for p in planned]

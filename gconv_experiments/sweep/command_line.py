"""An experiment's sweep command line: the sweep flags (:func:`add_sweep_arguments`), their
checks, the train.py flags every run of an experiment gets (:func:`run_flags`), and
:func:`run_experiment`, which builds the runs (models x seeds), plans them against their folders
(sweep.runs), runs them (sweep.execution) and writes the report (sweep.report).
MNIST_ROT/experiment.py and CIFAR10/experiment.py are thin users of it.

>>> parse_epochs("Z2CNN=30", ["Z2CNN", "P4CNN"], {"Z2CNN": 300, "P4CNN": 100})
{'Z2CNN': 30, 'P4CNN': 100}
>>> parse_seeds(3, None), parse_seeds(1, "4,2")
([0, 1, 2], [4, 2])
"""
import argparse
import os
from typing import Callable, Sequence

from gconv_experiments.command_errors import run_command
from gconv_experiments.sweep import cluster, report
from gconv_experiments.sweep.execution import SweepError, execute, fingerprints
from gconv_experiments.sweep.runs import Run, plan
from gconv_experiments.training import ConfigError
from gconv_experiments.training.folder_lock import check_writable

__all__ = ["SWEEP_FLAGS", "add_sweep_arguments", "add_run_arguments", "run_flags", "run_argv", "parse_epochs",
           "parse_seeds", "check_distribution_flags", "run_experiment", "cli"]

SWEEP_FLAGS = ("--modelfn", "--epochs", "--seed", "--resultdir", "--resume")  # set per run by the sweep


def add_sweep_arguments(parser: argparse.ArgumentParser, models: Sequence[str], epochs: dict,
                        repeats: int) -> argparse.ArgumentParser:
    """The sweep flags of an experiment's parser: --models, --epochs, --repeats/--seeds, --quiet,
    --dry_run, --overwrite_report, --fresh_on_change and how the runs run (--workers,
    --scheduler, --threads)."""
    a = parser.add_argument
    a("--models", default=",".join(models), help="comma-separated model names")
    a("--epochs", default=",".join(f"{k}={v}" for k, v in epochs.items()),
      help="one epoch count for all models, or MODEL=EPOCHS pairs (others keep the default)")
    a("--repeats", type=int, default=repeats, help="runs per model, seeds 0..repeats-1")
    a("--seeds", default=None, help="comma-separated seeds (overrides --repeats)")
    a("--quiet", action="store_true", help="no progress bar")
    a("--dry_run", action="store_true", help="check the settings and every run folder, print the plan, "
                                             "train nothing")
    a("--overwrite_report", action="store_true",
      help="write the sweep's report (results.md, results.csv, runs.csv, sweep.json, learning_curves.png) "
           "into --resultdir even where it holds a report of other runs or one no sweep wrote (a published "
           "report), replacing it; without it such a folder is refused before anything trains")
    a("--fresh_on_change", action="store_true",
      help="a run folder holding a run made with other settings: train this run in a new folder beside it "
           "(<folder>-<fingerprint>) instead of stopping")
    g = parser.add_argument_group("where the runs run")
    g.add_argument("--workers", type=int, default=1,
                   help="train N runs at a time on a dask.distributed LocalCluster of N worker processes "
                        "on 127.0.0.1, secured with temporary TLS credentials (1: one after another in this "
                        "process)")
    g.add_argument("--scheduler", default=None,
                   help="submit the runs to an existing Dask cluster: its scheduler address "
                        "(tls://HOST:8786) or scheduler file; folders and data on a shared file system; "
                        "TLS credentials from dask's configuration (docs/tutorials/dask_sweep.md)")
    g.add_argument("--threads", type=int, default=None,
                   help="BLAS / OpenMP / groupy conv threads per run (None: the cores divided by "
                        "--workers on a local cluster, 1 on --scheduler, unchanged with --workers 1)")
    return parser


def add_run_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The subset flags an experiment passes on to every run: --train_size and --val_size."""
    parser.add_argument("--train_size", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--val_size", type=int, default=None, help="use only the first N test images")
    return parser


def run_flags(args: argparse.Namespace, modelfn: str, datadir: str, trainfn: str, valfn: str) -> list:
    """The train.py flags of one model's runs in an experiment: the model file, the data, and
    the experiment's --transformations, --gpu, --val_freq, --save_freq (and --train_size /
    --val_size where given) from `args`.

    >>> args = argparse.Namespace(transformations="rotation", gpu=-1, val_freq=25, save_freq=25,
    ...                           train_size=100, val_size=None)
    >>> run_flags(args, "P4CNN", "/data", "train_all.npz", "test.npz")  # doctest: +NORMALIZE_WHITESPACE
    ['--modelfn', 'P4CNN', '--datadir', '/data', '--trainfn', 'train_all.npz', '--valfn', 'test.npz',
     '--transformations', 'rotation', '--gpu', '-1', '--val_freq', '25', '--save_freq', '25',
     '--train_size', '100']
    """
    flags = ["--modelfn", modelfn, "--datadir", datadir, "--trainfn", trainfn, "--valfn", valfn,
             "--transformations", args.transformations, "--gpu", str(args.gpu),
             "--val_freq", str(args.val_freq), "--save_freq", str(args.save_freq)]
    for flag in ("train_size", "val_size"):
        if getattr(args, flag) is not None:
            flags += [f"--{flag}", str(getattr(args, flag))]
    return flags


def run_argv(flags: list, seed: int, epochs: int, extra: list) -> list:
    """The train.py flags of one run of a sweep (without --resultdir): the model's `flags`
    (:func:`run_flags`), its seed and epochs, --quiet, and the sweep's `extra` train.py flags.

    >>> run_argv(["--modelfn", "P4CNN"], 2, 100, ["--batchsize", "64"])
    ['--modelfn', 'P4CNN', '--seed', '2', '--epochs', '100', '--quiet', '--batchsize', '64']
    """
    return list(flags) + ["--seed", str(seed), "--epochs", str(epochs), "--quiet"] + list(extra)


def parse_epochs(text: str, models: Sequence[str], defaults: dict, fallback: int = 100) -> dict:
    """'7' -> every model 7 epochs; 'Z2CNN=30,P4CNN=10' -> those, `defaults` (else `fallback`)
    for the others."""
    epochs = {m: defaults.get(m, fallback) for m in models}
    text = text.strip()
    error = ConfigError(f"--epochs must be a positive integer or MODEL=EPOCHS pairs joined by ',', got {text!r}")
    try:
        if "=" not in text:
            values = {m: int(text) for m in models}
        else:
            values = {}
            for item in text.split(","):
                name, value = (s.strip() for s in item.split("="))
                if name not in epochs and name not in defaults:
                    raise ConfigError(f"--epochs names unknown model {name!r}")
                values[name] = int(value)
    except ValueError as e:
        if isinstance(e, ConfigError):
            raise
        raise error from None
    if any(v < 1 for v in values.values()):
        raise error
    epochs.update((m, v) for m, v in values.items() if m in epochs)
    return epochs


def parse_seeds(repeats: int, seeds: "str | None") -> list:
    """--repeats N -> [0..N-1]; --seeds '3,5' -> [3, 5] (no repeats)."""
    if seeds is None:
        if repeats < 1:
            raise ConfigError(f"--repeats must be a positive integer, got {repeats}")
        return list(range(repeats))
    try:
        values = [int(s) for s in seeds.split(",")]
    except ValueError:
        raise ConfigError(f"--seeds must be integers joined by ',', got {seeds!r}") from None
    if len(set(values)) != len(values):
        raise ConfigError(f"--seeds has repeated values: {seeds!r}")
    return values


def check_distribution_flags(workers: int, scheduler: "str | None", threads: "int | None") -> "int | None":
    """Validate --workers/--scheduler/--threads; returns the per-run thread count (None: unchanged)."""
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
        if scheduler is None:
            cluster.check_tls_support()
        if threads is None:
            threads = 1 if scheduler is not None else cluster.default_threads(workers)
    return threads


def run_experiment(args: argparse.Namespace, extra: list, argv: list, *, train_module: str,
                   run_flags: Callable[[str], list], default_epochs: dict, models_known: "Sequence[str] | None" = None,
                   paper: "dict | None" = None, paper_label: str = "paper", title: str = "learning curves",
                   prog: str = "experiment.py", write_tables: bool = True) -> dict:
    """An experiment's sweep from its parsed command line: `args` (with add_sweep_arguments' flags
    and .resultdir), `extra` (train.py flags passed to every run), `argv` (recorded in sweep.json).
    run_flags(model) -> the train.py flags of that model's runs (data, model file, protocol);
    the sweep adds --seed, --epochs, --resultdir and --quiet. Returns {'summaries', 'planned',
    'table', 'plot', 'rows'} ({'planned'} for --dry_run; {'summaries', 'planned'} without
    write_tables)."""
    clash = [a.split("=")[0] for a in extra if a.split("=")[0] in SWEEP_FLAGS]
    if clash:
        raise ConfigError(f"{', '.join(clash)} is set by the sweep for each run; use --models, "
                          f"--epochs, --seeds/--repeats and --resultdir instead")
    threads = check_distribution_flags(args.workers, args.scheduler, args.threads)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if models_known is not None and m not in models_known]
    if not models or unknown:
        raise ConfigError(f"--models: unknown model(s) {unknown or args.models!r}; "
                          f"available: {', '.join(models_known or [])}")
    epochs = parse_epochs(args.epochs, models, default_epochs)
    seeds = parse_seeds(args.repeats, args.seeds)
    if os.path.exists(args.resultdir) and not os.path.isdir(args.resultdir):
        raise ConfigError(f"--resultdir {args.resultdir} is an existing file, not a folder")
    if not args.dry_run:  # (a dry run only reads)
        check_writable(args.resultdir)
    resultdir = os.path.abspath(args.resultdir)  # a Dask worker may have another working directory
    runs = [Run(group=m, seed=s, epochs=epochs[m], folder=os.path.join(resultdir, m, f"seed{s}"),
                argv=tuple(run_argv(run_flags(m), s, epochs[m], extra)),
                train_module=train_module)
            for m in models for s in seeds]
    planned = plan(runs, fresh_on_change=args.fresh_on_change)
    if write_tables:  # before anything trains: a report of other runs is not replaced
        report.check_report_target(resultdir, fingerprints(planned, resultdir), args.overwrite_report,
                                   shown=args.resultdir)
    if args.dry_run:
        for p in planned:
            print(f"{p.run.label}: {p.action} in {p.run.folder} (fingerprint {p.record['fingerprint'][:12]})"
                  + (f" -- {p.note}" if p.note else ""))
        return dict(planned=planned)
    os.makedirs(resultdir, exist_ok=True)
    # Each run locks its own folder (training.folder_lock), not the sweep its --resultdir: sweeps
    # of other models or seeds may share it (e.g. the jobs of a job array), while a run that
    # another process is training is refused and named.
    summaries = execute(planned, workers=args.workers, scheduler=args.scheduler, threads=threads,
                        quiet=args.quiet, log=lambda text: print(text, flush=True))
    if not write_tables:
        return dict(summaries=summaries, planned=planned)
    written = report.write_report(resultdir, [p.run for p in planned], summaries,
                                  fingerprints(planned, resultdir), [prog] + list(argv), paper=paper,
                                  paper_label=paper_label, title=title)
    print("\n" + written["table"])
    print(f"results: {os.path.join(args.resultdir, 'results.md')}, {os.path.join(args.resultdir, 'results.csv')}")
    print(f"learning curves: {written['plot']}", flush=True)
    return dict(summaries=summaries, planned=planned, **written)


def cli(main: Callable[[], object], prog: str) -> int:
    """Run main() for a command line; bad input is one `prog: error: ...` line (exit 2), failed
    runs exit 1, Ctrl-C 130 (a run stopped by SIGINT / SIGTERM: 130 / 143, its last finished
    epoch saved)."""
    return run_command(lambda: main() and None, prog, {SweepError: 1, ConfigError: 2, FileNotFoundError: 2},
                       interrupted="run the same command again to continue")

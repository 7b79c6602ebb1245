"""An experiment's sweep command line: the sweep flags (:func:`add_sweep_arguments`), their
checks, and :func:`run_experiment`, which builds the runs (models x seeds), plans them against
their folders, runs them (gconv_experiments.sweep) and writes the report (sweep_report).
MNIST_ROT/experiment.py and CIFAR10/experiment.py are thin users of it."""
import os
import sys

from gconv_experiments import sweep_cluster, sweep_report
from gconv_experiments.sweep import Run, SweepError, execute, fingerprints, plan
from gconv_experiments.training import ConfigError

SWEEP_FLAGS = ("--modelfn", "--epochs", "--seed", "--resultdir", "--resume")  # set per run by the sweep


def add_sweep_arguments(parser, models, epochs, repeats):
    """The sweep flags of an experiment's parser: --models, --epochs, --repeats/--seeds, --quiet,
    --dry_run, --fresh_on_change and how the runs run (--workers, --scheduler, --threads)."""
    a = parser.add_argument
    a("--models", default=",".join(models), help="comma-separated model names")
    a("--epochs", default=",".join(f"{k}={v}" for k, v in epochs.items()),
      help="one epoch count for all models, or MODEL=EPOCHS pairs (others keep the default)")
    a("--repeats", type=int, default=repeats, help="runs per model, seeds 0..repeats-1")
    a("--seeds", default=None, help="comma-separated seeds (overrides --repeats)")
    a("--quiet", action="store_true", help="no progress bar")
    a("--dry_run", action="store_true", help="check the settings and every run folder, print the plan, "
                                             "train nothing")
    a("--fresh_on_change", action="store_true",
      help="a run folder holding a run made with other settings: train this run in a new folder beside it "
           "(<folder>-<fingerprint>) instead of stopping")
    g = parser.add_argument_group("where the runs run")
    g.add_argument("--workers", type=int, default=1,
                   help="train N runs at a time on a dask.distributed LocalCluster of N worker processes "
                        "(1: one after another in this process)")
    g.add_argument("--scheduler", default=None,
                   help="submit the runs to an existing Dask cluster: its scheduler address "
                        "(tcp://HOST:8786) or scheduler file; folders and data on a shared file system")
    g.add_argument("--threads", type=int, default=None,
                   help="BLAS / OpenMP / groupy conv threads per run (None: the cores divided by "
                        "--workers on a local cluster, 1 on --scheduler, unchanged with --workers 1)")
    return parser


def parse_epochs(text, models, defaults, fallback=100):
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


def parse_seeds(repeats, seeds):
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


def check_distribution_flags(workers, scheduler, threads):
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
        if threads is None:
            threads = 1 if scheduler is not None else sweep_cluster.default_threads(workers)
    return threads


def run_experiment(args, extra, argv, *, train_module, run_flags, default_epochs, models_known=None,
                   paper=None, paper_label="paper", title="learning curves", prog="experiment.py",
                   write_tables=True):
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
    resultdir = os.path.abspath(args.resultdir)  # a Dask worker may have another working directory
    runs = [Run(group=m, seed=s, epochs=epochs[m], folder=os.path.join(resultdir, m, f"seed{s}"),
                argv=tuple(list(run_flags(m)) + ["--seed", str(s), "--epochs", str(epochs[m]), "--quiet"] + list(extra)),
                train_module=train_module)
            for m in models for s in seeds]
    planned = plan(runs, fresh_on_change=args.fresh_on_change)
    if args.dry_run:
        for p in planned:
            print(f"{p.run.label}: {p.action} in {p.run.folder} (fingerprint {p.record['fingerprint'][:12]})"
                  + (f" -- {p.note}" if p.note else ""))
        return dict(planned=planned)
    os.makedirs(resultdir, exist_ok=True)
    summaries = execute(planned, workers=args.workers, scheduler=args.scheduler, threads=threads,
                        quiet=args.quiet, log=lambda text: print(text, flush=True))
    if not write_tables:
        return dict(summaries=summaries, planned=planned)
    report = sweep_report.write_report(resultdir, [p.run for p in planned], summaries,
                                       fingerprints(planned, resultdir), [prog] + list(argv), paper=paper,
                                       paper_label=paper_label, title=title)
    print("\n" + report["table"])
    print(f"results: {os.path.join(args.resultdir, 'results.md')}, {os.path.join(args.resultdir, 'results.csv')}")
    print(f"learning curves: {report['plot']}", flush=True)
    return dict(summaries=summaries, planned=planned, **report)


def cli(main, prog):
    """Run main() for a command line; bad input is one `prog: error: ...` line (exit 2), failed
    runs exit 1, Ctrl-C 130."""
    try:
        main()
    except (ConfigError, FileNotFoundError, SweepError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1 if isinstance(e, SweepError) else 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
    return 0

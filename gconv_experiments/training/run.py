"""A whole training run: :func:`main` = :func:`prepare` (parse, check, read the data, build the
model and optimizer, set up the run folder), :func:`fit` (the epochs) and :func:`finish` (the
final evaluation and summary); :func:`cli` is main with bad input reported as one line and an
exit status; :func:`resolve_run` gives a run's record without training."""
import os
import sys
from typing import Callable

from gconv_experiments.command_errors import run_command
from gconv_experiments.training import distributed
from gconv_experiments.training.checkpoint import _resolve_resume
from gconv_experiments.training.config import ConfigError, _explicit_flags, build_parser
from gconv_experiments.training.data import read_npz_dataset
from gconv_experiments.training.epochs import TrainingStopped, finish, fit
from gconv_experiments.training.fingerprint import build_record
from gconv_experiments.training.models import load_model_class
from gconv_experiments.training.prepare import prepare
from gconv_experiments.training.run_folder import WriteFailed
from gconv_experiments.training.settings import check_args
from gconv_experiments.training.stop import StopRequests
from groupy.fast_cpu.switch import using_kernel_settings

__all__ = ["resolve_args", "resolve_run", "prepare", "fit", "finish", "main", "cli", "TrainingStopped"]


def resolve_args(argv: "list | None" = None, *, defaults: "dict | None" = None, prog: "str | None" = None,
                 description: "str | None" = None, raise_errors: bool = False) -> tuple:
    """Parse `argv` with the train.py parser; fills the default --resultdir and, with --resume,
    the flags not given from the run's saved arguments. Returns (args, explicit flag names).
    A bad flag is argparse's usage error and exit 2, or with raise_errors a ConfigError."""
    parser = build_parser(defaults, prog=prog, description=description)
    if raise_errors:
        def error(message):
            raise ConfigError(f"train.py flags: {message}")
        parser.error = error
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    explicit = _explicit_flags(parser, argv)
    if args.resultdir is None:
        if not args.modelfn:
            raise ConfigError("--modelfn is required (a model name or a path to a model file)")
        stem = os.path.splitext(os.path.basename(args.modelfn))[0]
        args.resultdir = os.path.join("results", f"{stem}_seed{args.seed}")
    if args.resume:
        _resolve_resume(args, explicit)
    return args, explicit


def resolve_run(argv: list, *, defaults: "dict | None" = None, models_package: "str | None" = None) -> dict:
    """The run record (see training.fingerprint) that `train.py argv` would write, computed
    without training. Raises ConfigError / FileNotFoundError for bad flags or files."""
    args, _ = resolve_args(argv, defaults=defaults, raise_errors=True)
    check_args(args)
    cls = load_model_class(args.modelfn, models_package, verbose=args.verbose)
    return build_record(args, models_package, cls)


def main(argv: "list | None" = None, *, defaults: "dict | None" = None, models_package: "str | None" = None,
         load_data: Callable = read_npz_dataset, prog: "str | None" = None, description: "str | None" = None) -> dict:
    """Parse `argv` (default sys.argv[1:]), train, write the result directory; returns the summary.
    load_data(path) -> (data, labels) reads one data file (checked as it is loaded).
    The result directory is locked for the whole run; SIGINT and SIGTERM stop it between two
    iterations with its last finished epoch saved (Interrupted, see training.epochs)."""
    args, _ = resolve_args(argv, defaults=defaults, prog=prog, description=description)
    with StopRequests() as stop:
        run = prepare(args, models_package=models_package, load_data=load_data)
        run.stop = stop
        try:
            with using_kernel_settings(run.record["cpu_kernels"]):
                return finish(run, fit(run))
        finally:
            run.folder.release()


def cli(argv: "list | None" = None, **kwargs) -> int:
    """Command-line entry: run main(); report bad input as `prog: error: message`, exit status 2;
    a diverged run (non-finite loss) exits with status 3, a failed write (a full disk) with 1,
    a stop on SIGINT / SIGTERM with 130 / 143 (one line: where, and the snapshot kept)."""
    prog = kwargs.get("prog") or os.path.basename(sys.argv[0])
    return run_command(lambda: main(argv, **kwargs) and None, prog,
                       {ConfigError: 2, FileNotFoundError: 2, TrainingStopped: 3, WriteFailed: 1},
                       interrupted="continue with --resume", on_failure=distributed.abort_if_distributed)

"""The command line every study module shares, so that ``gconv_experiments/run_lanes.sh`` can
run any of them in lanes:

* ``--list-jobs`` prints one line ``K FIELD ...`` per run of the study's plan, in training
  order; the first field K is the job index;
* ``--run-job K --datadir DATA`` trains job K alone (or resumes it, or skips it when it has
  finished), then rewrites the report;
* ``--report-only`` rewrites the report from the runs finished so far and trains nothing;
* ``--results DIR`` names the study's folder (its default: the module's ``RESULTS``).

A study module adds the three mode flags with :func:`add_job_arguments` and dispatches with
:func:`run_study`; :func:`job_at` picks job K with a one-line error for a bad K.

>>> print("\\n".join(job_lines([("z2_p4", 0), ("p4_p4", 0)])))
0 z2_p4 0
1 p4_p4 0
"""
from __future__ import annotations

import argparse
from typing import Callable, Mapping, Optional, Sequence

from gconv_experiments.command_errors import run_command
from gconv_experiments.training import ConfigError

__all__ = ["add_job_arguments", "job_lines", "job_at", "run_study"]


def add_job_arguments(parser: argparse.ArgumentParser, fields: str) -> None:
    """Add the mutually exclusive --list-jobs, --run-job K and --report-only to `parser`;
    `fields` names what follows K on a job line (e.g. 'setting model seed')."""
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--list-jobs", action="store_true",
                       help=f"print one line 'K {fields}' per job, in training order")
    modes.add_argument("--run-job", type=int, metavar="K", default=None,
                       help="train (or resume, or skip when finished) job K of --list-jobs alone "
                            "(needs --datadir), then rewrite the report")
    modes.add_argument("--report-only", action="store_true",
                       help="rewrite the report from the runs finished so far; train nothing")


def job_lines(jobs: Sequence[Sequence]) -> list:
    """The --list-jobs lines of `jobs` (each a sequence of fields without spaces)."""
    return [" ".join(map(str, (k, *job))) for k, job in enumerate(jobs)]


def job_at(jobs: Sequence, index: int):
    """jobs[index]; ConfigError naming --run-job and the valid range otherwise.

    >>> job_at(["a", "b"], 1)
    'b'
    >>> job_at(["a", "b"], 2)
    Traceback (most recent call last):
    ...
    gconv_experiments.training.config.ConfigError: --run-job 2: no such job (0..1; see --list-jobs)
    """
    if not 0 <= index < len(jobs):
        raise ConfigError(f"--run-job {index}: no such job (0..{len(jobs) - 1}; see --list-jobs)")
    return jobs[index]


def run_study(args: argparse.Namespace, prog: str, failures: Mapping[type, int], *,
              jobs: Callable[[], Sequence], run_job: Callable[[int], object],
              report: Callable[[], object], run_all: Optional[Callable[[], object]] = None,
              datadir: str = "the data folder", interrupted: Optional[str] = None) -> int:
    """Do what the mode flags of `args` ask -- list the jobs, run one (after checking that
    --datadir is given; `datadir` says what it is), write the report -- and otherwise
    ``run_all()`` (the report when there is none); returns the exit status. Errors of the
    types in `failures` are one line ``prog: error: ...`` (command_errors.run_command)."""
    def main():
        if args.list_jobs:
            lines = job_lines(jobs())
            if lines:
                print("\n".join(lines), flush=True)
            return 0
        if args.run_job is not None:
            if not getattr(args, "datadir", None):
                raise ConfigError(f"--run-job needs --datadir ({datadir})")
            return run_job(args.run_job)
        if args.report_only or run_all is None:
            return report()
        return run_all()

    def status(result):
        return result if isinstance(result, int) and not isinstance(result, bool) else None

    return run_command(lambda: status(main()), prog, dict(failures), interrupted=interrupted)

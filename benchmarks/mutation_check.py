"""Mutation check of the test suite: plant each small plausible bug of ``MUTANTS``
(``mutants.py``: a different statistic, a lost flag, a wrong label, a reversed comparison, an
off-by-one) one at a time, run only the test files named beside it, and report whether a test
failed (caught) or all passed (survived). Every source file is restored byte for byte (and its
modification time) after each mutant, also when the command is interrupted.

    .venv/bin/python benchmarks/mutation_check.py                 # every mutant, then the score
    .venv/bin/python benchmarks/mutation_check.py --only A08,B1   # mutants whose name starts so
    .venv/bin/python benchmarks/mutation_check.py --list          # names and files, nothing run
    .venv/bin/python benchmarks/mutation_check.py --baseline      # the named tests, unmutated

A mutant is (name, file, old text, new text, test files, environment): `old` must occur
exactly once in `file` (the command stops otherwise, so a mutant whose code has moved is
noticed, not silently skipped). Tests run with ``python -m pytest -x -q`` from the repository
root, PYTHONPATH set to it, without writing byte code (so no stale .pyc of a mutant survives
it). A mutant is caught when pytest reports a failure or an error (exit status other than 0,
or 5: no test collected); test files missing from the checkout are left out, so the same
list measures an older commit. The score is caught / all; a survivor is a hole in the tests.
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

from mutants import MUTANTS, Mutant

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

__all__ = ["apply", "run_mutant", "main"]


def _path(mutant: Mutant) -> str:
    return os.path.join(REPO, mutant.file)


def _occurrences(mutant: Mutant) -> int:
    """How often the text to mutate occurs in the mutant's file."""
    with open(_path(mutant), encoding="utf-8") as f:
        return f.read().count(mutant.old)


def apply(mutant: Mutant) -> bytes:
    """Write the mutant into its file; returns the original bytes. ValueError when `old` does
    not occur exactly once."""
    count = _occurrences(mutant)
    if count != 1:
        raise ValueError(f"{mutant.name}: {mutant.old!r} occurs {count} times in {mutant.file} (expected once)")
    with open(_path(mutant), "rb") as f:
        original = f.read()
    with open(_path(mutant), "wb") as f:
        f.write(original.decode("utf-8").replace(mutant.old, mutant.new).encode("utf-8"))
    return original


def _restore(mutant: Mutant, original: bytes, stat: os.stat_result) -> None:
    with open(_path(mutant), "wb") as f:
        f.write(original)
    os.utime(_path(mutant), ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _pytest(tests: tuple, env: tuple, timeout: float) -> tuple:
    """(exit status, seconds, last lines) of pytest on those of `tests` that exist (an older
    checkout may lack some); status None on a timeout, 5 when none exists."""
    tests = tuple(t for t in tests if os.path.exists(os.path.join(REPO, t)))
    if not tests:
        return 5, 0.0, "no test file of the list exists here"
    environ = dict(os.environ, PYTHONPATH=REPO, PYTHONDONTWRITEBYTECODE="1", **dict(env))
    environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "gconv-mutation-numba"))
    start = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                             cwd=REPO, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)  # its own process group: stopped whole below
    try:
        out, _ = child.communicate(timeout=timeout)
    except BaseException as e:  # a timeout, or this command interrupted
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        if isinstance(e, subprocess.TimeoutExpired):
            return None, time.monotonic() - start, "timeout"
        raise
    lines = out.strip().splitlines()
    return child.returncode, time.monotonic() - start, "\n".join(lines[-3:])


def _judge(runs: list, timeout: float) -> tuple:
    """(exit status, seconds, last lines) of pytest on each (environment, test files) of `runs`
    in turn, while each passes (status 0, or 5: no test ran); the status and lines are the last
    run's, the seconds all runs'."""
    seconds, status, tail = 0.0, 0, ""
    for env, tests in runs:
        status, took, tail = _pytest(tests, env, timeout)
        seconds += took
        if status not in (0, 5):
            break
    return status, seconds, tail


def run_mutant(mutant: Mutant, timeout: float = 1200) -> tuple:
    """('caught' | 'survived' | 'timeout', seconds, pytest's last lines) of one mutant."""
    stat = os.stat(_path(mutant))
    original = apply(mutant)
    try:
        status, seconds, tail = _judge(mutant.runs(), timeout)
    finally:
        _restore(mutant, original, stat)
    verdict = "timeout" if status is None else ("survived" if status in (0, 5) else "caught")
    return verdict, seconds, tail


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through run_mutant's restore


def main(argv: "list | None" = None) -> int:
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _interrupt)  # also where a background shell ignores SIGINT
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=None, help="comma-separated prefixes of mutant names")
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    p.add_argument("--baseline", action="store_true", help="run the selected mutants' tests unmutated")
    p.add_argument("--timeout", type=float, default=1200, help="seconds per mutant's test run")
    p.add_argument("--skip-absent", action="store_true",
                   help="leave out mutants whose text is not in the checkout (measuring an older commit)")
    p.add_argument("--verbose", action="store_true", help="print pytest's last lines for each mutant")
    args = p.parse_args(argv)
    prefixes = [s.strip() for s in args.only.split(",")] if args.only else None
    chosen = [m for m in MUTANTS if prefixes is None or any(m.name.startswith(s) for s in prefixes)]
    for m in list(chosen):  # every mutant applies before anything runs
        if _occurrences(m) != 1:
            print(f"{m.name}: the text to mutate does not occur exactly once in {m.file}"
                  + (" (left out)" if args.skip_absent else ""), file=sys.stderr)
            if not args.skip_absent:
                return 2
            chosen.remove(m)
    if args.list:
        for m in chosen:
            print(f"{m.name}  ({m.file}; {' '.join(m.tests)})")
        return 0
    if args.baseline:
        failed = 0
        for env, tests in dict.fromkeys(run for m in chosen for run in m.runs()):
            status, seconds, tail = _pytest(tests, env, args.timeout)
            failed += status != 0
            print(f"{'ok' if status == 0 else 'FAILED'} ({seconds:.0f} s) {' '.join(tests)} {dict(env) or ''}\n  {tail}")
        return 1 if failed else 0
    caught = 0
    survivors = []
    for m in chosen:
        verdict, seconds, tail = run_mutant(m, args.timeout)
        caught += verdict == "caught"
        if verdict != "caught":
            survivors.append(m.name)
        print(f"{verdict:8s} {seconds:5.0f} s  {m.name}", flush=True)
        if args.verbose:
            print("          " + tail.replace("\n", "\n          "), flush=True)
    print(f"\nscore: {caught} of {len(chosen)} caught ({100 * caught / max(len(chosen), 1):.1f} %)")
    for name in survivors:
        print(f"  survived: {name}")
    return 0 if not survivors else 1


if __name__ == "__main__":
    sys.exit(main())

"""How the command lines of gconv_experiments end: bad input is one line ``prog: error: message``
on stderr and an exit status, never a traceback.

>>> import contextlib, sys
>>> def main():
...     raise ValueError("--epochs must be a positive integer, got 0")
>>> with contextlib.redirect_stderr(sys.stdout):  # (to show the line here)
...     status = run_command(main, "train.py", {ValueError: 2})
train.py: error: --epochs must be a positive integer, got 0
>>> status
2
"""
import sys
from typing import Callable, Mapping, Optional

__all__ = ["Interrupted", "report_error", "run_command"]


class Interrupted(KeyboardInterrupt):
    """A stop on a signal that the program has handled (what it must keep is saved): reported by
    :func:`run_command` as ``prog: interrupted (SIGNAL) <detail>; <what to do>`` with exit status
    `status` (128 + the signal's number), or silently with ``report=False`` (e.g. on the ranks
    of a distributed run other than the one that prints)."""

    def __init__(self, signal_name: str, status: int, detail: str = "", report: bool = True) -> None:
        super().__init__(f"({signal_name}) {detail}".strip())
        self.signal_name, self.status, self.detail, self.report = signal_name, status, detail, report


def report_error(prog: str, error: object, status: int = 2) -> int:
    """Print ``prog: error: <error>`` on stderr; returns `status` (the exit status to use)."""
    print(f"{prog}: error: {error}", file=sys.stderr, flush=True)
    return status


def run_command(main: Callable[[], Optional[int]], prog: str, failures: Mapping[type, int], *,
                interrupted: Optional[str] = None, on_failure: Optional[Callable[[int], None]] = None) -> int:
    """Call ``main()`` and return its exit status (its int result; 0 for None). An exception of a
    type in `failures` (type -> exit status; the first matching entry counts) is reported by
    :func:`report_error` and its status returned; ``on_failure(status)`` runs after the report.
    With `interrupted`, Ctrl-C prints ``prog: interrupted; <interrupted>`` and returns 130 (after
    ``on_failure(130)``); an :class:`Interrupted` stop prints ``prog: interrupted (SIGNAL)
    <detail>; <interrupted>`` and returns its status (the program stopped cleanly: no
    on_failure)."""
    try:
        result = main()
    except tuple(failures) as e:
        status = next(code for kind, code in failures.items() if isinstance(e, kind))
        report_error(prog, e, status)
        if on_failure is not None:
            on_failure(status)
        return status
    except KeyboardInterrupt as e:
        if interrupted is None:
            raise
        if isinstance(e, Interrupted):
            if e.report:
                print(f"{prog}: interrupted {e}; {interrupted}", file=sys.stderr, flush=True)
            return e.status
        print(f"{prog}: interrupted; {interrupted}", file=sys.stderr, flush=True)
        if on_failure is not None:
            on_failure(130)
        return 130
    return 0 if result is None else int(result)

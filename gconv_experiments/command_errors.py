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

__all__ = ["report_error", "run_command"]


def report_error(prog: str, error: object, status: int = 2) -> int:
    """Print ``prog: error: <error>`` on stderr; returns `status` (the exit status to use)."""
    print(f"{prog}: error: {error}", file=sys.stderr, flush=True)
    return status


def run_command(main: Callable[[], Optional[int]], prog: str, failures: Mapping[type, int], *,
                interrupted: Optional[str] = None, on_failure: Optional[Callable[[int], None]] = None) -> int:
    """Call ``main()`` and return its exit status (its int result; 0 for None). An exception of a
    type in `failures` (type -> exit status; the first matching entry counts) is reported by
    :func:`report_error` and its status returned; ``on_failure(status)`` runs after the report.
    With `interrupted`, Ctrl-C prints ``prog: interrupted; <interrupted>`` and returns 130."""
    try:
        result = main()
    except tuple(failures) as e:
        status = next(code for kind, code in failures.items() if isinstance(e, kind))
        report_error(prog, e, status)
        if on_failure is not None:
            on_failure(status)
        return status
    except KeyboardInterrupt:
        if interrupted is None:
            raise
        print(f"{prog}: interrupted; {interrupted}", file=sys.stderr, flush=True)
        return 130
    return 0 if result is None else int(result)

"""Stopping a run cleanly on SIGINT (Ctrl-C) or SIGTERM (what a batch system such as Slurm sends
before it kills a job): :class:`StopRequests` turns the first of these signals into a flag,
which the training loop reads between two iterations (:meth:`StopRequests.check`). On the ranks
of a distributed run the flag is all-reduced at every check, so that every rank stops at the
same iteration even when only one of them got the signal. A second signal acts as it would
without the handler (Ctrl-C raises KeyboardInterrupt, SIGTERM ends the process).

>>> import os, signal
>>> with StopRequests() as stop:
...     os.kill(os.getpid(), signal.SIGTERM)
...     stop.requested()
'SIGTERM'
"""
import signal
import threading

from gconv_experiments.training.distributed import ONE_PROCESS

__all__ = ["SIGNALS", "NEVER", "StopRequested", "StopRequests"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(Exception):
    """Raised by :meth:`StopRequests.check` at an iteration boundary: `signal_name` (e.g.
    'SIGTERM') and `status`, the conventional exit status 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        self.status = 128 + signum
        super().__init__(f"stop requested by {self.signal_name}")


class StopRequests:
    """While entered (in the main thread; elsewhere it does nothing): SIGINT and SIGTERM set
    :attr:`signum` instead of interrupting; the handlers that were there before come back at
    the first signal and when the block ends. A signal that was ignored stays ignored."""

    def __init__(self) -> None:
        self.signum = None
        self._previous = {}

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                previous = signal.getsignal(signum)
                if previous is not signal.SIG_IGN:
                    self._previous[signum] = previous
                    signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        self._restore()

    def _handle(self, signum, frame) -> None:
        self.signum = self.signum or signum
        self._restore()

    def _restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}

    def requested(self, ranks=ONE_PROCESS) -> "str | None":
        """The name of the signal that asked to stop, or None. `ranks`: this process's
        training.distributed.Ranks; on the ranks of a distributed run a collective operation
        (every rank must call it at the same point): the signal of any rank counts for all."""
        signum = self.signum or 0
        if ranks.distributed and ranks.size > 1:
            signum = int(ranks.comm.mpi_comm.allreduce(signum, op=_mpi_max()))
        return signal.Signals(signum).name if signum else None

    def check(self, ranks=ONE_PROCESS) -> None:
        """Raise StopRequested when a stop was requested (see :meth:`StopRequests.requested`)."""
        name = self.requested(ranks)
        if name is not None:
            raise StopRequested(signal.Signals[name])


def _mpi_max():
    from mpi4py import MPI
    return MPI.MAX


NEVER = StopRequests()  # never entered: requested() is always None (and all-reduces 0 on ranks)

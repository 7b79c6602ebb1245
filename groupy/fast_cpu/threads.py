"""Worker threads of the fast CPU paths and their per-thread scratch buffers.

NumPy releases the GIL inside its loops and BLAS calls, so a few Python threads each working on
a contiguous slice of the batch run in parallel. The BLAS is pinned to one thread while they run
(``threadpoolctl``), which is faster than BLAS threading for the thin matrices of a CNN step.
The number of threads is ``GROUPY_CPU_CONV_THREADS`` (default: the usable cores, at most 8) or
:func:`set_num_threads`; a forked child builds its own pool. The compiled kernels
(:mod:`groupy.fast_cpu.numba_kernels`) run on as many numba threads, set at each launch.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy

from groupy._checks import positive_int

__all__ = ['BLOCK_BYTES', 'cache_blocks', 'get_num_threads', 'map_batch_chunks',
           'map_batch_slices', 'scratch_buffer', 'set_num_threads']

try:  # optional: pins the BLAS to one thread while our workers run
    import threadpoolctl
except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
    threadpoolctl = None


def _default_num_threads():
    env = os.environ.get('GROUPY_CPU_CONV_THREADS')
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError('GROUPY_CPU_CONV_THREADS must be a positive integer, '
                             'got {!r}'.format(env)) from None
        if n < 1:
            raise ValueError('GROUPY_CPU_CONV_THREADS must be a positive integer, '
                             'got {!r}'.format(env))
        return n
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))


_state = {'num_threads': _default_num_threads(), 'pool': None, 'blas': None}
_state_lock = threading.Lock()


def set_num_threads(n: int) -> None:
    """Sets how many threads the CPU convolution uses (1 = no threads).

    >>> before = get_num_threads()
    >>> set_num_threads(2); get_num_threads()
    2
    >>> set_num_threads(before)
    """
    n = positive_int(n, 'set_num_threads: n')
    with _state_lock:
        if _state['pool'] is not None:
            _state['pool'].shutdown(wait=True)
            _state['pool'] = None
        _state['num_threads'] = n


def get_num_threads() -> int:
    """Returns how many threads the CPU convolution uses."""
    return _state['num_threads']


def _pool():
    with _state_lock:
        if _state['pool'] is not None and _state.get('pid') != os.getpid():
            _state['pool'] = None  # a forked child: the parent's worker threads do not exist here
        if _state['pool'] is None:
            _state['pid'] = os.getpid()
            _state['pool'] = ThreadPoolExecutor(
                _state['num_threads'], thread_name_prefix='groupy-cpu-conv')
        if _state['blas'] is None and threadpoolctl is not None:
            _state['blas'] = threadpoolctl.ThreadpoolController()
        return _state['pool']


def map_batch_chunks(n, chunk, work, parallel=True):
    """Runs ``work(n0, n1, chunk)`` on contiguous slices of ``range(n)`` made of whole chunks of
    ``chunk`` items, one slice per worker thread, with the BLAS pinned to one thread meanwhile;
    returns the workers' results in slice order (one inline call when ``parallel`` is false, or
    there is one thread or one chunk)."""
    n_chunks = -(-n // chunk)
    workers = min(_state['num_threads'], n_chunks)
    if workers <= 1 or not parallel:
        return [work(0, n, chunk)]
    per = -(-n_chunks // workers) * chunk
    ranges = [(s, min(n, s + per)) for s in range(0, n, per)]
    pool = _pool()
    blas = _state['blas']
    limit = blas.limit(limits=1, user_api='blas') if blas is not None else None
    try:
        futures = [pool.submit(work, s, e, chunk) for s, e in ranges[1:]]
        results = [work(ranges[0][0], ranges[0][1], chunk)]
        results += [f.result() for f in futures]
    finally:
        if limit is not None:
            limit.restore_original_limits()
    return results


def map_batch_slices(n, work, parallel=True):
    """Runs ``work(n0, n1)`` on contiguous slices of ``range(n)``, one per worker thread, and
    returns the results in slice order (one slice, inline, when ``parallel`` is false or there
    is one thread). For memory-bound NumPy code, which releases the GIL: the elementwise passes
    of the fast CPU batch normalisation, for instance."""
    workers = min(_state['num_threads'], n) if parallel else 1
    if workers <= 1:
        return [work(0, n)]
    per = -(-n // workers)
    ranges = [(s, min(n, s + per)) for s in range(0, n, per)]
    pool = _pool()
    futures = [pool.submit(work, s, e) for s, e in ranges[1:]]
    return [work(*ranges[0])] + [f.result() for f in futures]


#: bytes of one block of :func:`cache_blocks`: several passes over a block stay in the L2 cache
BLOCK_BYTES = 1 << 19


def cache_blocks(n0, n1, row_bytes):
    """(b0, b1) slices of range(n0, n1) of about BLOCK_BYTES each (at least one row), for
    memory-bound passes that touch the same rows several times."""
    step = max(1, BLOCK_BYTES // max(1, row_bytes))
    return [(b, min(n1, b + step)) for b in range(n0, n1, step)]


_scratch = threading.local()


def scratch_buffer(name, size, dtype):
    """A flat scratch array of ``size`` items, kept per thread and reused between calls (fresh
    multi-megabyte allocations would cost page faults on every call)."""
    store = _scratch.__dict__
    buf = store.get((name, dtype))
    if buf is None or buf.size < size:
        buf = numpy.empty(max(size, 1), dtype)
        store[(name, dtype)] = buf
    return buf[:size]

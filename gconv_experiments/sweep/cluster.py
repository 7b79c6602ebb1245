"""Where a sweep's runs compute: thread counts per run, a dask.distributed LocalCluster, a
connection to an existing Dask cluster, and running a sweep's runs on either.

The LocalCluster of ``--workers N`` listens on 127.0.0.1 only, and with TLS: credentials made
for it alone (``Security.temporary()``, in memory; needs the ``cryptography`` package) encrypt
every connection and authenticate both ends, so other users of the machine can neither submit
work to it nor read what it sends. A cluster started by hand (``--scheduler``) is secured the
same way by its own certificates (docs/tutorials/dask_sweep.md); the sweep finds its client
credentials in Dask's configuration (``distributed.comm.tls.*``).

Each worker process computes one run at a time with `threads` BLAS, OpenMP and groupy conv
threads: the environment variables THREAD_VARIABLES are set before the worker process starts (so
before it imports NumPy), and :func:`limited_threads` sets them again at run time (threadpoolctl,
``groupy.fast_cpu.set_num_threads``), which also covers workers started by hand.
"""
import contextlib
import json
import os
import traceback
from typing import Callable, Iterator

__all__ = ["THREAD_VARIABLES", "LOCAL_HOST", "thread_environment", "usable_cores", "default_threads",
           "limited_threads", "thread_report", "check_tls_support", "local_security", "local_cluster", "scheduler_address",
           "connect", "run_on_dask"]

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "GROUPY_CPU_CONV_THREADS")
LOCAL_HOST = "127.0.0.1"  # where a local cluster's scheduler, workers and nannies listen


def thread_environment(threads: int) -> dict:
    """Environment variables giving BLAS, OpenMP and groupy's conv `threads` threads.

    >>> thread_environment(2)["OMP_NUM_THREADS"]
    '2'
    """
    return {name: str(threads) for name in THREAD_VARIABLES}


def usable_cores() -> int:
    """The number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_threads(workers: int) -> int:
    """Each of `workers` processes gets its share of this machine's usable cores (at least 1)."""
    return max(1, usable_cores() // workers)


@contextlib.contextmanager
def limited_threads(threads: "int | None") -> Iterator[None]:
    """BLAS (threadpoolctl) and groupy conv thread counts set to `threads` inside the block
    (None: unchanged)."""
    if threads is None:
        yield
        return
    from groupy import fast_cpu
    before = fast_cpu.get_num_threads()
    fast_cpu.set_num_threads(threads)
    try:
        with _blas_limits(threads):
            yield
    finally:
        fast_cpu.set_num_threads(before)


def _blas_limits(threads):
    try:
        import threadpoolctl
    except ImportError:  # pragma: no cover - then only the environment variables limit the BLAS
        return contextlib.nullcontext()
    return threadpoolctl.threadpool_limits(limits=threads)


def thread_report() -> dict:
    """This process's thread settings: the environment variables, the BLAS pools' sizes and
    groupy's conv threads (run on a worker to see what a run gets)."""
    import threadpoolctl
    from groupy import fast_cpu
    return dict(env={k: os.environ.get(k) for k in THREAD_VARIABLES},
                blas=sorted({p["num_threads"] for p in threadpoolctl.threadpool_info()}),
                groupy=fast_cpu.get_num_threads(), pid=os.getpid())


def check_tls_support() -> None:
    """ConfigError naming --workers when the 'cryptography' package, which the local cluster's TLS
    credentials need, is not installed."""
    from gconv_experiments.training import ConfigError
    try:
        import cryptography  # noqa: F401  (what Security.temporary needs)
    except ImportError:
        raise ConfigError("--workers > 1 runs a local Dask cluster secured with TLS, which needs the "
                          "'cryptography' package (pip install cryptography)") from None


def local_security() -> "distributed.Security":
    """TLS credentials for one local cluster: a temporary self-signed key and certificate, in
    memory, required on every connection (ConfigError without ``cryptography``)."""
    from distributed.security import Security
    check_tls_support()
    return Security.temporary()


@contextlib.contextmanager
def local_cluster(workers: int, threads: int) -> Iterator:
    """A LocalCluster of `workers` processes, one task at a time each, whose BLAS, OpenMP and
    groupy thread counts are `threads`, on 127.0.0.1 with TLS (:func:`local_security`; a Client
    made from the cluster object has the credentials). The variables are set in this process while the cluster
    lives (and restored after): a Nanny gives the spawned worker the values of the process that
    spawns it, before the worker imports NumPy (and again when it restarts a killed worker)."""
    from distributed import LocalCluster
    security = local_security()
    env = thread_environment(threads)
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=0,
                          host=LOCAL_HOST, protocol="tls://", security=security, dashboard_address=None,
                          scheduler_kwargs={"dashboard_address": f"{LOCAL_HOST}:0"},
                          env=env, silence_logs=50) as cluster:  # no dashboard; its HTTP port: any free one
            yield cluster
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def scheduler_address(scheduler: str) -> str:
    """--scheduler as an address: itself ('tls://host:8786'), or the address in the scheduler file
    it names (the JSON that `dask scheduler --scheduler-file FILE` writes); ConfigError naming
    the file when it is not one."""
    from gconv_experiments.training import ConfigError
    if not os.path.isfile(scheduler):
        return scheduler
    try:
        with open(scheduler, encoding="utf-8") as f:
            content = json.load(f)
        address = content.get("address") if isinstance(content, dict) else None
        why = "no 'address' of the form PROTOCOL://HOST:PORT in it"
    except (OSError, ValueError) as e:
        address, why = None, f"{type(e).__name__}: {e}"
    if not isinstance(address, str) or "://" not in address:
        raise ConfigError(f"--scheduler {scheduler}: not a Dask scheduler file ({why}); expected the JSON file "
                          f"written by `dask scheduler --scheduler-file FILE`, or an address tls://HOST:PORT")
    return address


def connect(scheduler: str) -> "distributed.Client":
    """A distributed.Client for an address ('tls://host:8786') or a scheduler file (JSON), with
    the TLS credentials of Dask's configuration; ConfigError naming --scheduler if it cannot
    connect (within dask's distributed.comm.timeouts.connect, 30 s by default)."""
    import dask
    from distributed import Client
    from gconv_experiments.training import ConfigError
    address = scheduler_address(scheduler)
    timeout = dask.config.get("distributed.comm.timeouts.connect")
    kind = "scheduler file" if address != scheduler else "address"
    try:
        return Client(address, timeout=timeout)
    except TypeError as e:  # a tls:// scheduler without TLS credentials in dask's configuration
        raise ConfigError(f"--scheduler {scheduler}: the scheduler at {address} needs TLS credentials ({e}); "
                          f"give them in dask's configuration: DASK_DISTRIBUTED__COMM__TLS__CA_FILE, "
                          f"DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT and DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY "
                          f"(docs/tutorials/dask_sweep.md)") from None
    except (OSError, ValueError, TimeoutError) as e:
        raise ConfigError(f"--scheduler {scheduler}: cannot connect to a Dask scheduler at this {kind} "
                          f"({type(e).__name__}: {e}); expected tls://HOST:PORT, tcp://HOST:PORT or the file written by "
                          f"`dask scheduler --scheduler-file FILE`") from None


def run_on_dask(function: Callable, jobs: list, workers: int, scheduler: "str | None", threads: "int | None",
                finished: Callable) -> None:
    """Submit ``function(*args)`` for each (key, args) of `jobs` to a LocalCluster of `workers`
    (scheduler None) or to `scheduler`; calls ``finished(key, result=...)`` or
    ``finished(key, error=...)`` as each ends (a run's own error, or KilledWorker after a run
    killed its workers repeatedly). Closes what it started."""
    from distributed import Client, as_completed
    with contextlib.ExitStack() as stack:
        if scheduler is None:
            client = stack.enter_context(Client(stack.enter_context(local_cluster(workers, threads))))
        else:
            client = stack.enter_context(connect(scheduler))
        futures = {client.submit(function, *args, key=key, pure=False): key for key, args in jobs}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as e:
                finished(futures[future], error=e, trace=traceback.format_exc())
            else:
                finished(futures[future], result=result)

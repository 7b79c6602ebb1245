"""Thread counts of a sweep's runs: the worker processes of a local Dask cluster get theirs
before they start, and limited_threads restores this process's settings."""
import os

import pytest

from gconv_experiments.sweep import cluster

pytest.importorskip("distributed")


@pytest.mark.parametrize("workers, threads", [(2, 1), (1, 2)])
def test_worker_processes_get_their_thread_counts(workers, threads):
    from distributed import Client
    with cluster.local_cluster(workers, threads) as local, Client(local) as client:
        reports = list(client.run(cluster.thread_report).values())
    assert len(reports) == workers
    for report in reports:
        assert report["env"] == {k: str(threads) for k in cluster.THREAD_VARIABLES}
        assert report["groupy"] == threads
        assert report["blas"] == [threads]
        assert report["pid"] != os.getpid()


def test_limited_threads_restores_the_process_settings():
    from groupy import fast_cpu
    before = fast_cpu.get_num_threads()
    with cluster.limited_threads(1):
        assert cluster.thread_report()["groupy"] == 1 and cluster.thread_report()["blas"] == [1]
    assert fast_cpu.get_num_threads() == before


def test_default_threads_share_the_cores():
    cores = cluster.usable_cores()
    assert cluster.default_threads(1) == cores
    assert cluster.default_threads(cores * 4) == 1


def test_the_local_cluster_speaks_tls_and_refuses_clients_without_its_credentials():
    """Scheduler and workers listen on tls://127.0.0.1 only; a client made from the cluster works,
    one without credentials, with other credentials or over plain TCP cannot connect."""
    from distributed import Client
    from distributed.security import Security
    with cluster.local_cluster(1, 1) as local:
        address = local.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        with Client(local) as client:
            assert client.submit(sum, [1, 2], pure=False).result(timeout=60) == 3
            workers = client.scheduler_info()["workers"]
        assert workers and all(w.startswith("tls://127.0.0.1:") for w in workers)
        # connections at the comm level, each on its own event loop (a refused Client can leave
        # distributed's shared loop runner in a state that breaks the next Client)
        assert _connects(address, local.security)  # the check itself can succeed
        for target, security in ((address, None), (address, Security.temporary()),
                                 (address.replace("tls://", "tcp://"), None)):
            assert not _connects(target, security), target


def _connects(address, security):
    """Whether a comm to `address` with `security`'s client credentials (none: no TLS
    configuration) opens and completes distributed's handshake within a few seconds."""
    import asyncio
    from distributed.comm import connect
    from distributed.security import Security

    async def attempt():
        args = (security or Security()).get_connection_args("client")
        comm = await connect(address, timeout="5s", **args)
        await comm.close()

    try:
        asyncio.run(attempt())
    except (OSError, TypeError, TimeoutError, ValueError):
        return False
    return True


@pytest.mark.parametrize("content", ["hello\n", '{"a": 1}', '["tls://127.0.0.1:1"]', '{"address": 3}'])
def test_a_file_that_is_not_a_scheduler_file_is_named(tmp_path, content):
    from gconv_experiments.training import ConfigError
    path = tmp_path / "scheduler.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=f"--scheduler {path}: not a Dask scheduler file"):
        cluster.connect(str(path))

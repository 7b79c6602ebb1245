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

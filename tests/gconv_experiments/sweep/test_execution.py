"""Sweeps on Dask and under faults: a LocalCluster sweep, one whose worker is killed mid-run, one
on a scheduler + worker started here on 127.0.0.1, and a sweep killed before / after a run's
first snapshot all end with the same results.csv / runs.csv as one uninterrupted serial sweep
(the clusters with TLS);
settings changed between invocations are detected. Runs are tiny (rotated 8x8 digits)."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from gconv_experiments.sweep import cluster, execution
from gconv_experiments.MNIST_ROT import experiment
from gconv_experiments.MNIST_ROT.digits_rot import save_digits_rot
from gconv_experiments.training import ConfigError

pytest.importorskip("distributed")

FAST = ["--models", "Z2CNN,P4CNN", "--repeats", "2", "--epochs", "2", "--train_size", "32", "--val_size", "16",
        "--batchsize", "16", "--net_kwargs", "{'channels': 3}", "--threads", "1", "--quiet"]
# every side computes with one thread (sums over other thread counts may differ in the last bits)
# runs of a few seconds each (6 epochs of ~0.3 s), snapshots every 2 epochs: time to kill one mid-way
SLOW = ["--models", "Z2CNN,P4CNN", "--repeats", "1", "--epochs", "6", "--batchsize", "16",
        "--net_kwargs", "{'channels': 3}", "--save_freq", "2", "--val_freq", "3", "--threads", "1", "--quiet"]
RUNS = [("Z2CNN", 0), ("Z2CNN", 1), ("P4CNN", 0), ("P4CNN", 1)]
SLOW_RUNS = [("Z2CNN", 0), ("P4CNN", 0)]
TIMEOUT = 180


@pytest.fixture(scope="module")
def datadir(tmp_path_factory):
    d = tmp_path_factory.mktemp("digits_rot")
    save_digits_rot(str(d), n_train=256, n_test=64, n_valid=8)
    return str(d)


def read(path):
    with open(path) as f:
        return f.read()


def tables(resultdir):
    return read(os.path.join(resultdir, "results.csv")), read(os.path.join(resultdir, "runs.csv"))


def trajectory(folder):
    """The per-epoch numbers of a run's log (timings left out)."""
    with open(os.path.join(folder, "log.jsonl")) as f:
        return [{k: v for k, v in json.loads(line).items() if "seconds" not in k and k != "elapsed"} for line in f]


@pytest.fixture(scope="module")
def reference(datadir, tmp_path_factory):
    """Uninterrupted serial sweeps (in this process) of the FAST and SLOW settings."""
    out = {}
    for name, flags in (("fast", FAST), ("slow", SLOW)):
        resultdir = str(tmp_path_factory.mktemp(f"serial_{name}"))
        experiment.main(flags + ["--datadir", datadir, "--resultdir", resultdir])
        out[name] = resultdir
    return out


def sweep_command(datadir, resultdir, flags):
    return [sys.executable, "-m", "gconv_experiments.MNIST_ROT.experiment", "--datadir", datadir,
            "--resultdir", resultdir] + flags


def test_local_cluster_sweep_equals_serial(datadir, reference, tmp_path):
    out = str(tmp_path / "dask")
    result = experiment.main(FAST + ["--datadir", datadir, "--resultdir", out, "--workers", "2"])
    assert tables(out) == tables(reference["fast"])
    pids = set()
    for model, seed in RUNS:  # each run ran in a worker process, its lines in output.log
        text = read(os.path.join(out, model, f"seed{seed}", execution.OUTPUT_FILE))
        pids.update(int(p) for p in re.findall(r"on pid (\d+)", text))
        assert "test error" in text
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert [s["seed"] for s in result["summaries"]] == [0, 1, 0, 1]
    sweep_file = json.loads(read(os.path.join(out, "sweep.json")))
    assert [(r["model"], r["seed"]) for r in sweep_file["runs"]] == RUNS
    for r in sweep_file["runs"]:  # the fingerprints written by the client are the runs' own
        run_json = json.loads(read(os.path.join(out, r["folder"], "run.json")))
        assert r["fingerprint"] == run_json["fingerprint"]


def _attempts(folder):
    path = os.path.join(folder, execution.OUTPUT_FILE)
    return [int(p) for p in re.findall(r"on pid (\d+)", read(path))] if os.path.exists(path) else []


def _log_lines(folder):
    path = os.path.join(folder, "log.jsonl")
    return len(read(path).splitlines()) if os.path.exists(path) else 0


@pytest.mark.slow
def test_worker_killed_mid_run_is_retried_with_identical_results(datadir, reference, tmp_path):
    out = str(tmp_path / "killed")
    proc = subprocess.Popen(sweep_command(datadir, out, SLOW + ["--workers", "2"]), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        victim, deadline = None, time.monotonic() + TIMEOUT
        while victim is None and proc.poll() is None and time.monotonic() < deadline:
            for model, seed in SLOW_RUNS:
                folder = os.path.join(out, model, f"seed{seed}")
                if _attempts(folder) and 1 <= _log_lines(folder) <= 4:
                    os.kill(_attempts(folder)[-1], signal.SIGKILL)
                    victim = folder
                    break
            time.sleep(0.01)
        output, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert victim is not None, "no run was caught mid-way"
    assert proc.returncode == 0, output
    assert len(_attempts(victim)) == 2, read(os.path.join(victim, execution.OUTPUT_FILE))  # retried by Dask
    assert tables(out) == tables(reference["slow"])
    for model, seed in SLOW_RUNS:
        rel = os.path.join(model, f"seed{seed}")
        assert trajectory(os.path.join(out, rel)) == trajectory(os.path.join(reference["slow"], rel))


def _start(args, **kwargs):
    return subprocess.Popen([sys.executable, "-m"] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, **kwargs)


def _stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


@pytest.mark.slow
def test_sweep_on_a_scheduler_and_worker_started_here(datadir, reference, tmp_path):
    """The documented manual cluster: scheduler and worker on 127.0.0.1 with TLS (their own
    certificate and key, here written from temporary ones), the sweep's credentials in dask's
    configuration (as the DASK_DISTRIBUTED__COMM__TLS__* variables give them)."""
    import dask
    from distributed import Client
    from distributed.security import Security
    credentials = Security.temporary()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text(credentials.tls_ca_file)
    key.write_text(credentials.tls_client_key)
    tls = ["--tls-ca-file", str(cert), "--tls-cert", str(cert), "--tls-key", str(key)]
    client_tls = {"distributed.comm.tls.ca-file": str(cert), "distributed.comm.tls.client.cert": str(cert),
                  "distributed.comm.tls.client.key": str(key)}
    scheduler_file = str(tmp_path / "scheduler.json")
    procs = []
    try:
        procs.append(_start(["distributed.cli.dask_scheduler", "--protocol", "tls", "--host", "127.0.0.1",
                             "--port", "0", "--dashboard-address", "127.0.0.1:0", "--scheduler-file",
                             scheduler_file] + tls))
        deadline = time.monotonic() + 60
        while not os.path.exists(scheduler_file) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written at once, but let it be complete
        address = json.loads(read(scheduler_file))["address"]
        assert address.startswith("tls://127.0.0.1:")
        env = dict(os.environ, **cluster.thread_environment(1))
        procs.append(_start(["distributed.cli.dask_worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                             "--nworkers", "1", "--dashboard-address", "127.0.0.1:0", "--memory-limit", "0"] + tls,
                            env=env, cwd=str(tmp_path)))
        with dask.config.set(client_tls):
            with Client(address, timeout="30s") as client:
                client.wait_for_workers(1, timeout=60)
            out = str(tmp_path / "on_scheduler")
            experiment.main(FAST + ["--datadir", datadir, "--resultdir", out, "--scheduler", address])
            assert tables(out) == tables(reference["fast"])
            out_file = str(tmp_path / "via_file")  # the scheduler file works as an address too
            experiment.main(FAST + ["--models", "Z2CNN", "--datadir", datadir, "--resultdir", out_file,
                                    "--scheduler", scheduler_file])
        assert read(os.path.join(out_file, "runs.csv")).splitlines()[1:] == \
            read(os.path.join(reference["fast"], "runs.csv")).splitlines()[1:3]
        with pytest.raises(ConfigError, match="needs TLS credentials"):  # none in dask's configuration
            experiment.main(FAST + ["--models", "Z2CNN", "--datadir", datadir, "--resultdir",
                                    str(tmp_path / "no_credentials"), "--scheduler", address])
    finally:
        for proc in reversed(procs):
            _stop(proc)
    assert all(proc.poll() is not None for proc in procs)


@pytest.mark.slow
def test_sweep_killed_before_and_after_a_first_snapshot_resumes_to_identical_results(datadir, reference, tmp_path):
    """SIGKILL the whole (serial) sweep while a run is before its first snapshot, rerun, SIGKILL
    while a run is past a snapshot, rerun to the end: the tables and every run's per-epoch
    numbers equal the uninterrupted sweep's."""
    out = str(tmp_path / "interrupted")
    caught = []
    for wanted in ("before", "after"):
        proc = subprocess.Popen(sweep_command(datadir, out, SLOW), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + TIMEOUT
            while proc.poll() is None and time.monotonic() < deadline:
                state = None
                for model, seed in SLOW_RUNS:
                    folder = os.path.join(out, model, f"seed{seed}")
                    n, snap = _log_lines(folder), os.path.exists(os.path.join(folder, "snapshot.h5"))
                    if wanted == "before" and n == 1 and not snap:
                        state = (folder, n)
                    elif wanted == "after" and n == 3 and snap and not os.path.exists(os.path.join(folder, "summary.json")):
                        state = (folder, n)
                if state:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
                    caught.append((wanted,) + state)
                    break
                time.sleep(0.01)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
    assert [c[0] for c in caught] == ["before", "after"], caught
    assert not os.path.exists(os.path.join(caught[0][1], "summary.json"))
    result = subprocess.run(sweep_command(datadir, out, SLOW), capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert "resuming from" in result.stdout
    assert tables(out) == tables(reference["slow"])
    for model, seed in SLOW_RUNS:
        rel = os.path.join(model, f"seed{seed}")
        assert trajectory(os.path.join(out, rel)) == trajectory(os.path.join(reference["slow"], rel))
    assert not [f for model, seed in SLOW_RUNS for f in os.listdir(os.path.join(out, model, f"seed{seed}"))
                if f.startswith(".")]  # no temporary files left behind


def test_settings_changed_between_invocations_are_named(datadir, reference, tmp_path, capsys):
    import shutil
    out = str(tmp_path / "changed")
    shutil.copytree(reference["fast"], out)
    status = experiment.cli(FAST + ["--datadir", datadir, "--resultdir", out, "--batchsize", "8",
                                    "--opt_kwargs", "{'alpha':0.002}"])
    err = capsys.readouterr().err
    assert status == 2
    assert "4 run folder(s)" in err and os.path.join(out, "P4CNN", "seed1") in err
    assert "--batchsize: 16 -> 8" in err and "alpha" in err and "--fresh_on_change" in err
    assert tables(out) == tables(reference["fast"])  # nothing was touched

    # the same settings written differently are the same run: reused, nothing retrained
    same = experiment.main(FAST + ["--datadir", datadir, "--resultdir", out, "--opt_kwargs", "{'alpha':0.001}"])
    assert [p.action for p in same["planned"]] == ["done"] * 4

    # other data under the same file names is detected through the content hashes
    other = str(tmp_path / "other_data")
    save_digits_rot(other, n_train=256, n_test=64, n_valid=8, seed=123)
    with pytest.raises(ConfigError, match=r"--trainfn \(with --datadir\)"):
        experiment.main(FAST + ["--datadir", other, "--resultdir", out])

    # --fresh_on_change: the changed runs go to new folders, the old ones stay as they were (their
    # report is replaced only when asked for: the new one covers other runs)
    before = read(os.path.join(out, "Z2CNN", "seed0", "summary.json"))
    result = experiment.main(FAST + ["--datadir", datadir, "--resultdir", out, "--batchsize", "8",
                                     "--models", "Z2CNN", "--fresh_on_change", "--overwrite_report"])
    folders = [p.run.folder for p in result["planned"]]
    assert all(re.fullmatch(r".*seed[01]-[0-9a-f]{8}", f) for f in folders)
    assert read(os.path.join(out, "Z2CNN", "seed0", "summary.json")) == before
    again = experiment.main(FAST + ["--datadir", datadir, "--resultdir", out, "--batchsize", "8", "--models", "Z2CNN"])
    assert [p.action for p in again["planned"]] == ["done", "done"]  # found without the flag too
    assert [p.run.folder for p in again["planned"]] == folders


@pytest.mark.parametrize("address, message", [("no_such_file.json", "missing port number"),
                                              ("tcp://127.0.0.1:1", "Timed out")])
def test_unreachable_scheduler_is_one_error(datadir, tmp_path, capsys, address, message):
    import dask
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        status = experiment.cli(FAST + ["--models", "Z2CNN", "--datadir", datadir, "--resultdir",
                                        str(tmp_path / "r"), "--scheduler", address])
    err = capsys.readouterr().err
    assert status == 2 and f"--scheduler {address}: cannot connect" in err and message in err


def test_a_scheduler_option_naming_another_file_is_one_error(datadir, tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("not a scheduler file\n")
    status = experiment.cli(FAST + ["--models", "Z2CNN", "--datadir", datadir, "--resultdir", str(tmp_path / "r"),
                                    "--scheduler", str(path)])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and f"--scheduler {path}: not a Dask scheduler file" in err


# --- run folders on a shared machine: locks, planted links, folders that cannot be written ------

LOCK_HOLDER = """
import fcntl, os, socket, sys
fd = os.open(os.path.join(sys.argv[1], ".lock"), os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, f"pid={os.getpid()} host={socket.gethostname()} since=2024-01-01T00:00:00\\n".encode())
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def held_lock():
    """held_lock(folder): another process holds the lock of `folder` (flock on its .lock file,
    which names the holder) until the test ends; returns its pid."""
    procs = []

    def hold(folder):
        proc = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, folder], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc.pid
    yield hold
    for proc in procs:
        proc.stdin.close()
        proc.wait(timeout=30)


def _tiny_run(folder, datadir):
    return execution.Run(group="Z2CNN", seed=0, epochs=1, folder=folder, train_module="gconv_experiments.MNIST_ROT.train",
                         argv=("--modelfn", "Z2CNN", "--net_kwargs", "{'channels': 3}", "--datadir", datadir,
                               "--train_size", "32", "--val_size", "16", "--batchsize", "16", "--epochs", "1",
                               "--seed", "0", "--quiet"))


def test_a_run_folder_locked_by_another_process_is_left_alone(datadir, tmp_path, held_lock):
    """A folder without snapshot holds files of a run killed early -- or of a run in progress
    in another process, which the sweep must not delete."""
    folder = str(tmp_path / "Z2CNN" / "seed0")
    os.makedirs(folder)
    files = {name: f"{name} of the run in progress\n" for name in ("run.json", "args.json", "log.jsonl")}
    for name, text in files.items():
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)
    pid = held_lock(folder)
    with pytest.raises(ConfigError, match=rf"--resultdir {folder} is in use by another process \(pid {pid} on host "
                                              rf"{socket.gethostname()} since 2024-01-01T00:00:00; "):
        execution.execute_run(_tiny_run(folder, datadir), output_to_file=True)
    assert {name: read(os.path.join(folder, name)) for name in files} == files
    assert sorted(os.listdir(folder)) == [".lock", "args.json", "log.jsonl", "run.json"]  # no output.log either


def test_a_second_sweep_leaves_the_runs_another_process_trains_alone(datadir, tmp_path, held_lock):
    """Two sweeps on one --resultdir: the runs the other one is training (their folders locked)
    fail with the holder named and their files untouched; the other runs train."""
    out = str(tmp_path / "sweep")
    busy = os.path.join(out, "Z2CNN", "seed0")
    os.makedirs(busy)
    with open(os.path.join(busy, "log.jsonl"), "w") as f:
        f.write('{"epoch": 1}\n')
    pid = held_lock(busy)
    with pytest.raises(execution.SweepError, match=rf"1 of 2 runs failed.*\n  Z2CNN seed 0 \({busy}\): ConfigError: "
                                                   rf"--resultdir {busy} is in use by another process \(pid {pid} "):
        experiment.main(FAST + ["--models", "Z2CNN", "--datadir", datadir, "--resultdir", out])
    assert read(os.path.join(busy, "log.jsonl")) == '{"epoch": 1}\n' and sorted(os.listdir(busy)) == [".lock", "log.jsonl"]
    assert os.path.exists(os.path.join(out, "Z2CNN", "seed1", "summary.json"))


@pytest.mark.parametrize("target_exists", [False, True], ids=["dangling", "to_a_file"])
def test_a_symlink_planted_as_output_log_is_refused(datadir, tmp_path, target_exists):
    folder = str(tmp_path / "run")
    os.makedirs(folder)
    target = tmp_path / "elsewhere.txt"
    if target_exists:
        target.write_text("someone else's file\n")
    os.symlink(target, os.path.join(folder, execution.OUTPUT_FILE))
    with pytest.raises(ConfigError, match=rf"{folder}/output.log is a symbolic link"):
        execution.execute_run(_tiny_run(folder, datadir), output_to_file=True)
    assert (target.read_text() == "someone else's file\n") if target_exists else not target.exists()


def test_a_sweep_resultdir_that_cannot_be_written_is_one_error(datadir, tmp_path, capsys):
    out = tmp_path / "read_only"
    out.mkdir()
    out.chmod(0o555)
    if os.access(out, os.W_OK):
        out.chmod(0o755)
        pytest.skip("this process may write into any folder (root)")
    try:
        status = experiment.cli(FAST + ["--models", "Z2CNN", "--repeats", "1", "--datadir", datadir,
                                        "--resultdir", str(out)])
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1, err
    assert err[0] == (f"MNIST_ROT/experiment.py: error: --resultdir {out} cannot be written (permission denied); "
                      f"choose another --resultdir or change the folder's permissions")

"""A run folder is locked for the whole run: a second process writing it is refused with one line
naming the folder and the holder; the lock of a killed process does not block its --resume."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from gconv_experiments.training import ConfigError
from gconv_experiments.training.folder_lock import LOCK_FILE, FolderLock

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TRAIN = [sys.executable, "-m", "gconv_experiments.MNIST_ROT.train"]


def _flags(tiny, tmp_path, datadir):
    return ["--modelfn", tiny.act_model(tmp_path), "--net_kwargs", "{'channels': 4}", "--batchsize", "16",
            "--quiet", "--datadir", datadir, "--seed", "2"]


def _wait_for(path, proc, timeout=120):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_a_second_process_on_the_same_run_folder_is_refused(datadir, tmp_path, tiny):
    """Run A waits inside epoch 1 (holding its folder); run B on the same folder, with --resume
    as a retried job would be, is refused naming A's pid and host; A then ends normally with a
    log of its own epochs only."""
    out, ready, go = str(tmp_path / "run"), str(tmp_path / "ready"), str(tmp_path / "go")
    flags = _flags(tiny, tmp_path, datadir) + ["--resultdir", out, "--epochs", "2"]
    env = dict(os.environ, PYTHONPATH=REPO, ACT="wait", ACT_STEP="2", ACT_READY=ready, ACT_GO=go)
    first = subprocess.Popen(TRAIN + flags, env=env, cwd=str(tmp_path), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(ready, first)
        env.pop("ACT")
        second = subprocess.run(TRAIN + flags + ["--resume"], env=env, cwd=str(tmp_path), capture_output=True,
                                text=True, timeout=300)
        lines = second.stderr.strip().splitlines()
        assert second.returncode == 2 and len(lines) == 1, second.stderr
        assert lines[0].startswith("MNIST_ROT/train.py: error: --resultdir " + out + " is in use by another process"), lines
        assert f"pid {first.pid} on host {socket.gethostname()}" in lines[0]
    finally:
        open(go, "w").close()
        stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert [e["epoch"] for e in tiny.strict_json(os.path.join(out, "log.jsonl"))] == [1, 2]
    assert not os.path.exists(os.path.join(out, LOCK_FILE))  # removed when the run ends


def test_the_lock_of_a_killed_run_does_not_block_its_resume(datadir, tmp_path, tiny):
    out = str(tmp_path / "run")
    flags = _flags(tiny, tmp_path, datadir) + ["--resultdir", out, "--epochs", "2"]
    env = dict(os.environ, PYTHONPATH=REPO, ACT="SIGKILL", ACT_STEP="6")  # epoch 2, iteration 2
    proc = subprocess.run(TRAIN + flags, env=env, cwd=str(tmp_path), capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with open(os.path.join(out, LOCK_FILE)) as f:
        assert f.read().startswith("pid=")  # the dead run's lock file is still there ...
    env.pop("ACT")
    proc = subprocess.run(TRAIN + ["--resultdir", out, "--resume"], env=env, cwd=str(tmp_path),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr  # ... and blocks nothing
    assert "resuming after epoch 1" in proc.stdout
    assert [e["epoch"] for e in tiny.strict_json(os.path.join(out, "log.jsonl"))] == [1, 2]
    assert not os.path.exists(os.path.join(out, LOCK_FILE))


def test_one_lock_per_folder_even_within_a_process(tmp_path):
    with FolderLock(str(tmp_path), "--resultdir"):
        with pytest.raises(ConfigError, match=rf"--resultdir {tmp_path} is in use by another process "
                                              rf"\(pid {os.getpid()} on host "):
            FolderLock(str(tmp_path)).acquire()
    with FolderLock(str(tmp_path)):  # released: free again
        pass
    assert os.listdir(tmp_path) == []

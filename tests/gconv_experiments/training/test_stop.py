"""SIGTERM (a batch system's warning before it kills a job) and SIGINT (Ctrl-C) stop a run between
two iterations with the last finished epoch saved, one line and exit status 128 + the signal;
--resume then ends bit for bit as an uninterrupted run. Real signals, real processes."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from gconv_experiments.training.stop import StopRequests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TRAIN = [sys.executable, "-m", "gconv_experiments.MNIST_ROT.train"]


def _sigint_default() -> None:
    """In a child before exec: SIGINT at its default, also where this process inherited it
    ignored (a shell starts background jobs so, and StopRequests leaves an ignored signal
    ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(autouse=True)
def sigint_handled():
    """SIGINT raising KeyboardInterrupt in this process during the test, as in a foreground run."""
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _common(tiny, tmp_path, datadir, epochs=3):
    return ["--modelfn", tiny.act_model(tmp_path), "--net_kwargs", "{'channels': 4}", "--batchsize", "16",
            "--quiet", "--datadir", datadir, "--epochs", str(epochs), "--seed", "5"]


def _same_snapshots(tiny, a, b):
    (pa, ea), (pb, eb) = tiny.snapshot(a), tiny.snapshot(b)
    assert ea == eb and sorted(pa) == sorted(pb)
    for name in pa:
        np.testing.assert_array_equal(pa[name], pb[name], err_msg=name)


@pytest.mark.parametrize("name, status", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_stops_the_run_with_its_last_epoch_saved(datadir, tmp_path, tiny, name, status):
    """--save_freq 3: no snapshot would be on disk before epoch 3. The signal arrives in epoch
    2's second update (4 per epoch); the run stops before the third, writes epoch 1's snapshot
    and says so; --resume ends as the uninterrupted run does."""
    common = _common(tiny, tmp_path, datadir) + ["--save_freq", "3"]
    straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
    env = dict(os.environ, PYTHONPATH=REPO)
    assert subprocess.run(TRAIN + common + ["--resultdir", straight], env=env, cwd=str(tmp_path)).returncode == 0
    proc = subprocess.run(TRAIN + common + ["--resultdir", stopped], env=dict(env, ACT=name, ACT_STEP="6"),
                          preexec_fn=_sigint_default,
                          cwd=str(tmp_path), capture_output=True, text=True)
    assert proc.returncode == status, proc.stderr
    assert proc.stderr.strip() == (f"MNIST_ROT/train.py: interrupted ({name}) at epoch 2, iteration 3; the snapshot "
                                   f"of epoch 1 is kept; continue with --resume")
    assert tiny.snapshot(stopped)[1] == 1
    assert [e["epoch"] for e in tiny.strict_json(os.path.join(stopped, "log.jsonl"))] == [1]
    assert not os.path.exists(os.path.join(stopped, "summary.json"))
    assert sorted(n for n in os.listdir(stopped) if n.startswith(".")) == []  # no lock, no temporary file
    proc = subprocess.run(TRAIN + ["--resultdir", stopped, "--resume"], env=env, cwd=str(tmp_path),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "resuming after epoch 1" in proc.stdout
    _same_snapshots(tiny, straight, stopped)
    for key in ("val_error", "test_error", "train_loss"):
        assert tiny.strict_json(os.path.join(stopped, "summary.json"))[key] == \
            tiny.strict_json(os.path.join(straight, "summary.json"))[key]


def test_sigterm_from_outside_in_a_long_run(datadir, tmp_path, tiny):
    """SIGTERM sent by another process at some moment of a long run (as a batch system does):
    the run stops at the next iteration, its folder holds the last finished epoch."""
    out = str(tmp_path / "run")
    proc = subprocess.Popen(TRAIN + _common(tiny, tmp_path, datadir, epochs=500) + ["--save_freq", "1000",
                                                                                    "--resultdir", out],
                            env=dict(os.environ, PYTHONPATH=REPO), cwd=str(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while "epoch 2:" not in proc.stdout.readline():
            assert time.time() < deadline and proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr
    logged = [e["epoch"] for e in tiny.strict_json(os.path.join(out, "log.jsonl"))]
    assert stderr.strip().startswith(f"MNIST_ROT/train.py: interrupted (SIGTERM) at epoch {logged[-1] + 1}, iteration ")
    assert stderr.strip().endswith(f"the snapshot of epoch {logged[-1]} is kept; continue with --resume")
    assert tiny.snapshot(out)[1] == logged[-1] >= 2


def test_a_second_signal_is_not_caught_and_handlers_come_back():
    before = signal.getsignal(signal.SIGINT)
    with StopRequests() as stop:
        assert stop.requested() is None
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested() == "SIGINT"
        with pytest.raises(KeyboardInterrupt):  # the handler of before is back at once
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert signal.getsignal(signal.SIGINT) is before

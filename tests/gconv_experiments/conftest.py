"""Tiny MNIST-like data (`datadir`: 64 training, 32 test images) and a narrow model for
end-to-end runs of the training code, for every test under tests/gconv_experiments; the
helpers reach the tests through the `tiny` fixture (test modules cannot import each other under
--import-mode=importlib)."""
import json
import os
import types

import h5py
import numpy as np
import pytest

from gconv_experiments.MNIST_ROT import train
from gconv_experiments.training import cli

SMALL = ["--modelfn", "Z2CNN", "--net_kwargs", "{'channels': 4}", "--batchsize", "16", "--quiet"]
KW = dict(defaults=train.DEFAULTS, models_package=train.MODELS_PACKAGE, prog="train.py")


def make_digits_like(path, n, seed, labels=None, size=28):
    """n images whose class is the row of a bright bar, plus noise (learnable, tiny)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n).astype(np.int32)
    x = (rng.standard_normal((n, 1, size, size)) * 0.2).astype(np.float32)
    for i, c in enumerate(y):
        x[i, 0, 3 + 2 * c:5 + 2 * c, 6:22] += 1.5
    np.savez(path, data=x, labels=y if labels is None else labels)
    return x, y


@pytest.fixture(scope="module")
def datadir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    make_digits_like(d / "train_all.npz", 64, 0)
    make_digits_like(d / "test.npz", 32, 1)
    return str(d)


def strict_json(path):
    """Parse a JSON file, refusing NaN / Infinity tokens."""
    def bad(token):
        raise ValueError(f"{path}: non-standard JSON token {token}")
    with open(path) as f:
        text = f.read()
    if path.endswith(".jsonl"):
        return [json.loads(line, parse_constant=bad) for line in text.splitlines() if line.strip()]
    return json.loads(text, parse_constant=bad)


def snapshot_params(resultdir):
    with h5py.File(os.path.join(resultdir, "snapshot.h5"), "r") as f:
        params = {}
        f.visititems(lambda name, obj: params.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) and not name.startswith("optimizer/") else None)
        return params, int(f.attrs["epoch"])


def run_cli(argv, capsys):
    """(exit status, stderr, stdout) of train.py's command line on argv."""
    status = cli(argv, **KW)
    captured = capsys.readouterr()
    return status, captured.err, captured.out


ACT_MODEL = """
import os
import resource
import signal
import time

import chainer

from gconv_experiments.MNIST_ROT.models.Z2CNN import Z2CNN


class ActAt(Z2CNN):
    \"\"\"Z2CNN that does something to its own process in the forward pass of training update
    ACT_STEP (1-based, counted over the whole process), on MPI rank ACT_RANK only if set:
    ACT=SIGTERM/SIGINT/SIGKILL sends that signal to itself; ACT=wait touches the file ACT_READY
    and waits (at most 120 s) until the file ACT_GO exists; ACT=fsize:N limits the size of the
    files it writes to N bytes (RLIMIT_FSIZE, with SIGXFSZ ignored: writes fail with EFBIG).\"\"\"
    steps = 0

    def logits(self, x):
        if chainer.config.train and chainer.config.enable_backprop:
            ActAt.steps += 1
            rank = os.environ.get("ACT_RANK")
            this_rank = os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK"))
            if ActAt.steps == int(os.environ.get("ACT_STEP", "0")) and rank in (None, this_rank):
                act = os.environ["ACT"]
                if act.startswith("SIG"):
                    os.kill(os.getpid(), signal.Signals[act])
                elif act == "wait":
                    open(os.environ["ACT_READY"], "w").close()
                    deadline = time.time() + 120
                    while not os.path.exists(os.environ["ACT_GO"]) and time.time() < deadline:
                        time.sleep(0.05)
                elif act.startswith("fsize:"):
                    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                    limit = int(act.split(":")[1])
                    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        return super().logits(x)
"""


def act_model(folder):
    """Path of the ActAt model file (ACT_MODEL) written into `folder`; its flags for train.py:
    ['--modelfn', path, '--net_kwargs', "{'channels': 4}"]."""
    path = os.path.join(str(folder), "ActAt.py")
    with open(path, "w") as f:
        f.write(ACT_MODEL)
    return path


def assert_one_line_error(status, err, expected_status=2):
    """A bad-input failure: the exit status and exactly one 'train.py: error: ...' line."""
    assert status == expected_status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: error: "), err
    assert "Traceback" not in err


@pytest.fixture(scope="session")
def tiny():
    return types.SimpleNamespace(SMALL=SMALL, KW=KW, make=make_digits_like, strict_json=strict_json,
                                 snapshot=snapshot_params, run=run_cli,
                                 assert_one_line_error=assert_one_line_error, act_model=act_model)

"""Data-parallel training (gconv_experiments/training/distributed.py) under `mpiexec -n 2`.

The MPI runs are subprocesses: this file doubles as the worker script of the batch-normalisation
check (``python test_distributed.py bn`` under mpiexec), and the training runs are the real
command line, ``mpiexec -n 2 python -m gconv_experiments.MNIST_ROT.train --communicator naive``.
Everything MPI is skipped, with the reason, where mpiexec or mpi4py is missing.
"""
import json
import os
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([os.path.dirname(sys.executable),
                                                         os.environ.get("PATH", "")]))


def _mpi_missing():
    if MPIEXEC is None:
        return ("no mpiexec on PATH or beside the Python executable "
                "(the mpi extra: make mpi, or pip install -e '.[mpi]')")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (the mpi extra: make mpi, or pip install -e '.[mpi]')"
    return None


needs_mpi = pytest.mark.skipif(_mpi_missing() is not None, reason=str(_mpi_missing()))
ENV = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
           OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
           GROUPY_CPU_CONV_THREADS="1", PYTHONWARNINGS="ignore")


def _run(cmd, cwd=REPO, timeout=300):
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    return proc


def _ok(proc):
    assert proc.returncode == 0, (f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\n"
                                  f"stderr:\n{proc.stderr[-3000:]}")
    return proc


# --- the parts of a global batch (no MPI needed) ------------------------------------------------

def _ranks(rank, size):
    from gconv_experiments.training.distributed import Ranks
    return Ranks(types.SimpleNamespace(rank=rank, size=size))


@pytest.mark.parametrize("n,size", [(9, 2), (8, 2), (7, 3), (5, 5), (128, 3)])
def test_parts_are_array_split_of_the_batch(n, size):
    expected = np.array_split(np.arange(n), size)
    got = [np.arange(n)[_ranks(r, size).part(n)] for r in range(size)]
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("n,batchsize,size", [(11, 3, 2), (12, 3, 2), (10, 4, 3), (5, 8, 2), (100, 7, 3)])
def test_evaluation_blocks_are_whole_batches_of_the_one_process_evaluation(n, batchsize, size):
    one_process = [list(range(i, min(i + batchsize, n))) for i in range(0, n, batchsize)]
    got = []
    for r in range(size):
        block = list(range(n))[_ranks(r, size).whole_batches(n, batchsize)]
        got += [block[i:i + batchsize] for i in range(0, len(block), batchsize)]
    assert got == one_process


def test_loss_weights_make_the_mean_over_ranks_the_batch_mean():
    # rank r's weighted mean loss, averaged over ranks, is the mean loss over the whole batch
    n, size = 9, 2
    losses = np.random.RandomState(0).rand(n)
    averaged = np.mean([_ranks(r, size).scale_loss(losses[_ranks(r, size).part(n)].mean(), n)
                        for r in range(size)])
    assert averaged == pytest.approx(losses.mean(), rel=1e-12)


def test_a_batch_that_leaves_a_rank_empty_is_refused():
    from gconv_experiments.training import ConfigError
    _ranks(0, 2).check_batches(20, batchsize=9, eval_batchsize=10)  # batches 9, 9, 2 and 10, 10
    with pytest.raises(ConfigError, match="--batchsize 4: 2 training examples give a batch of 2"):
        _ranks(0, 3).check_batches(2, batchsize=4)
    with pytest.raises(ConfigError, match="--eval_batchsize 6: 19 .* batch of 1 example.*fewer than the 2"):
        _ranks(0, 2).check_batches(19, batchsize=19, eval_batchsize=6)


def test_pure_nccl_on_the_cpu_is_refused_before_mpi_starts():
    from gconv_experiments.training import ConfigError, distributed
    with pytest.raises(ConfigError, match="pure_nccl runs on GPUs: pass --gpu 0.*naive on the CPU"):
        distributed.start("pure_nccl", -1)
    one = distributed.start("none", -1)
    assert one is distributed.ONE_PROCESS and not one.distributed and one.writes


def test_one_process_is_one_rank_that_changes_nothing():
    from gconv_experiments.training import distributed
    one = distributed.ONE_PROCESS
    assert (one.rank, one.size, one.device_id(3)) == (0, 1, 3)
    assert one.part(7) == slice(0, 7) and one.whole_batches(10, 4) == slice(0, 10)
    loss = object()
    assert one.scale_loss(loss, 5) is loss
    assert one.sum(1.5, 2) == (1.5, 2.0)
    arrays = [np.ones(2), 3]
    assert one.sum_arrays(arrays) == arrays
    model, optimizer = object(), object()
    assert one.prepare_model(model) is model and one.optimizer(optimizer) is optimizer
    assert one.rank0_first(lambda a: a + 1, 1) == 2
    one.check_batches(5, batchsize=4)  # every batch has an example for the one rank


# --- batch normalisation synchronised over ranks --------------------------------------------------

def _bn_worker():
    """Under mpiexec: MultiNodeBatchNormalization on each rank's part of a batch (uneven split)
    against Chainer's L.BatchNormalization on the whole batch on rank 0; prints the largest
    differences as JSON."""
    import chainer
    import chainer.functions as F
    import chainer.links as L
    from gconv_experiments.training import distributed
    ranks = distributed.start("naive", -1)
    out = {}
    for shape in [(7, 3, 5, 5), (7, 2, 4, 3, 3)]:  # planar and G-feature maps (N, C, G, H, W)
        rs = np.random.RandomState(sum(shape))
        u = (rs.randn(*shape) * 1.5 + 0.3).astype(np.float32)
        r = rs.randn(*shape).astype(np.float32)
        a0 = (1 + 0.1 * rs.randn(*shape[1:])).astype(np.float32)
        n, part = shape[0], ranks.part(shape[0])

        def step(bn, a, uu, rr, scale):
            """Upstream scale a, BN, loss scale(mean over examples of sum(y * r)); two
            training steps' statistics and the second's gradients, then test mode."""
            for _ in range(2):
                bn.cleargrads()
                a.cleargrad()
                with chainer.using_config("train", True):
                    y = bn(F.broadcast_to(a, uu.shape) * uu)
                    loss = scale(F.sum(y * rr) / len(uu))
                loss.backward()
            with chainer.using_config("train", False):
                y_test = bn(F.broadcast_to(a, uu.shape) * uu)
            return dict(y=y.array, y_test=y_test.array, a=a.grad, gamma=bn.gamma.grad,
                        beta=bn.beta.grad, mean=bn.avg_mean, var=bn.avg_var)

        def fresh(cls, *args):
            bn = cls(shape[1], *args)
            bn.gamma.array[...] = np.linspace(0.5, 1.5, shape[1])
            bn.beta.array[...] = np.linspace(-1, 1, shape[1])
            return bn

        bn = distributed.MultiNodeBatchNormalization.like(fresh(L.BatchNormalization), ranks)
        mine = step(bn, chainer.Parameter(a0.copy()), u[part], r[part],
                    lambda loss: ranks.scale_loss(loss, n))
        for key in ("a", "gamma", "beta"):  # what the multi-node optimizer does: mean over ranks
            mine[key] = ranks.allreduce(mine[key]) / ranks.size
        gathered = ranks.comm.mpi_comm.gather((mine["y"], mine["y_test"]), root=0)
        if ranks.writes:
            mine["y"] = np.concatenate([g[0] for g in gathered])
            mine["y_test"] = np.concatenate([g[1] for g in gathered])
            ref = step(fresh(L.BatchNormalization), chainer.Parameter(a0.copy()), u, r, lambda loss: loss)
            out[str(len(shape))] = {  # largest difference relative to the largest value
                k: float(np.abs(np.asarray(mine[k]) - ref[k]).max() / (np.abs(ref[k]).max() + 1e-30))
                for k in ref}
    if ranks.writes:
        sys.__stdout__.write(json.dumps(out) + "\n")


@needs_mpi
def test_multi_node_batchnorm_equals_batchnorm_on_the_whole_batch():
    proc = _ok(_run([MPIEXEC, "-n", "2", sys.executable, os.path.abspath(__file__), "bn"], timeout=120))
    diffs = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(diffs) == {"4", "5"}
    for ndim, d in diffs.items():
        assert set(d) == {"y", "y_test", "a", "gamma", "beta", "mean", "var"}
        for key, value in d.items():
            assert value < 1e-5, f"{ndim}-D {key}: relative difference {value}"


# --- the training command line on 2 ranks -------------------------------------------------------

TRAIN = ["-m", "gconv_experiments.MNIST_ROT.train", "--modelfn", "P4CNN",
         "--net_kwargs", "{'channels': 3}", "--trainfn", "train.npz", "--valfn", "val.npz",
         "--batchsize", "9", "--opt", "Adam", "--transformations", "rotation", "--quiet"]


@pytest.fixture(scope="module")
def datadir(tmp_path_factory):
    """20 training (batches of 9: 9, 9, 2) and 11 validation 28x28 images."""
    d = tmp_path_factory.mktemp("mnist_tiny")
    rs = np.random.RandomState(3)
    for name, n in (("train.npz", 20), ("val.npz", 11)):
        np.savez(d / name, data=rs.rand(n, 1, 28, 28).astype(np.float32),
                 labels=rs.randint(0, 10, n).astype(np.int32))
    return str(d)


def _train_command(ranks, datadir, resultdir, *extra):
    args = TRAIN + ["--datadir", datadir, "--resultdir", resultdir, *extra]
    if ranks == 0:  # one process, no communicator
        return [sys.executable, *args]
    return [MPIEXEC, "-n", str(ranks), sys.executable, *args, "--communicator", "naive"]


def _log(resultdir):
    with open(os.path.join(resultdir, "log.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def _weights(resultdir):
    import h5py
    out = {}
    with h5py.File(os.path.join(resultdir, "snapshot.h5"), "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, np.array(obj))
                     if isinstance(obj, h5py.Dataset) and not name.startswith("optimizer") else None)
    return out


@pytest.fixture(scope="module")
def two_rank_run(datadir, tmp_path_factory):
    """3 epochs on 2 ranks, rank 0 working in folder A and rank 1 in folder B, with a relative
    --resultdir: whatever rank 1 wrote would appear under B."""
    base = tmp_path_factory.mktemp("two_ranks")
    a, b = base / "A", base / "B"
    a.mkdir()
    b.mkdir()
    args = TRAIN + ["--datadir", datadir, "--resultdir", "run", "--epochs", "3", "--communicator", "naive"]
    cmd = [MPIEXEC, "-n", "1", "-wdir", str(a), sys.executable, *args,
           ":", "-n", "1", "-wdir", str(b), sys.executable, *args]
    proc = _ok(_run(cmd))
    return types.SimpleNamespace(resultdir=str(a / "run"), other=str(b), proc=proc)


def _assert_same_run(got_dir, ref_dir, epochs):
    """Logs equal to 1e-5 and the weights equal (to float32 rounding) except for the effect of
    Adam on the pre-BN biases, explained below. Returns the prefixes of conv + BN pairs."""
    got, ref = _log(got_dir), _log(ref_dir)
    assert [e["epoch"] for e in got] == [e["epoch"] for e in ref] == list(range(1, epochs + 1))
    for g, r in zip(got, ref):
        for key in ("train_loss", "train_error", "val_loss", "val_error"):
            assert g[key] == pytest.approx(r[key], abs=1e-5), (g["epoch"], key, g[key], r[key])
    w_got, w_ref = _weights(got_dir), _weights(ref_dir)
    assert sorted(w_got) == sorted(w_ref)
    # A convolution bias just before BN has a zero gradient in exact arithmetic; Adam turns its
    # rounding-level gradients into steps of about the learning rate, different in the two runs
    # and without effect on any output (BN subtracts the bias, and its running mean follows it).
    # What BN sees, running mean - bias (the mean of the bias-free convolution), must agree.
    pre_bn = {name[:-len("bn/avg_mean")] for name in w_ref
              if name.endswith("bn/avg_mean") and name[:-len("bn/avg_mean")] + "conv/b" in w_ref}
    for name in w_ref:
        prefix = name.rsplit("/", 2)[0] + "/"
        if prefix in pre_bn and name.endswith(("conv/b", "bn/avg_mean")):
            continue
        np.testing.assert_allclose(w_got[name], w_ref[name], rtol=1e-5, atol=1e-6, err_msg=name)
    for prefix in pre_bn:
        np.testing.assert_allclose(w_got[prefix + "bn/avg_mean"] - w_got[prefix + "conv/b"],
                                   w_ref[prefix + "bn/avg_mean"] - w_ref[prefix + "conv/b"],
                                   rtol=1e-5, atol=1e-6, err_msg=prefix)
    assert ref[0]["train_loss"] != ref[-1]["train_loss"]  # trained: not two untouched models
    return pre_bn


@needs_mpi
def test_two_ranks_follow_the_one_process_trajectory(two_rank_run, datadir, tmp_path):
    # batches of 9 = 5 + 4 examples (and a last one of 1 + 1), rotation augmentation, the
    # release's BN re-estimation (augmented, per-batch averaging) over batches of 9
    single = str(tmp_path / "single")
    _ok(_run(_train_command(0, datadir, single, "--epochs", "3")))
    assert len(_assert_same_run(two_rank_run.resultdir, single, 3)) == 6  # P4CNN's l1..l6


@needs_mpi
def test_two_ranks_follow_the_one_process_with_exact_bn_statistics(datadir, tmp_path):
    extra = ("--epochs", "2", "--bn_reestimation", "clean", "--bn_averaging", "exact", "--eval_batchsize", "7")
    two, single = str(tmp_path / "two"), str(tmp_path / "single")
    _ok(_run(_train_command(2, datadir, two, *extra)))
    _ok(_run(_train_command(0, datadir, single, *extra)))
    _assert_same_run(two, single, 2)


@needs_mpi
def test_cifar_resnet_on_two_ranks_follows_one_process(tmp_path):
    # CIFAR10/train.py: MomentumSGD with weight decay, residual blocks, and the release ResNet's
    # final BN on the statistics of each evaluation batch (equal because every rank evaluates
    # whole batches of the one-process evaluation)
    rs = np.random.RandomState(4)
    for name, n in (("tr.npz", 12), ("te.npz", 6)):
        np.savez(tmp_path / name, data=rs.randn(n, 3, 32, 32).astype(np.float32),
                 labels=rs.randint(0, 10, n).astype(np.int32))
    args = ["-m", "gconv_experiments.CIFAR10.train", "--datadir", str(tmp_path), "--trainfn", "tr.npz",
            "--valfn", "te.npz", "--modelfn", "ResNet", "--net_kwargs", "{'num_blocks': 1, 'nc32': 4, "
            "'nc16': 4, 'nc8': 4}", "--epochs", "2", "--batchsize", "5", "--eval_batchsize", "4",
            "--val_freq", "1", "--quiet"]
    two, single = str(tmp_path / "two"), str(tmp_path / "single")
    _ok(_run([MPIEXEC, "-n", "2", sys.executable, *args, "--resultdir", two, "--communicator", "naive"]))
    _ok(_run([sys.executable, *args, "--resultdir", single]))
    _assert_same_run(two, single, 2)


@needs_mpi
def test_only_rank_0_writes(two_rank_run):
    assert os.listdir(two_rank_run.other) == []
    assert {"args.json", "log.jsonl", "snapshot.h5", "summary.json"} <= set(os.listdir(two_rank_run.resultdir))
    assert "epoch 3" in two_rank_run.proc.stdout
    assert two_rank_run.proc.stdout.count("epoch 3:") == 1  # printed by rank 0 only


@needs_mpi
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_resume_on_two_ranks_continues_the_run(two_rank_run, datadir, tmp_path, dropout):
    # with dropout, each rank draws its own masks: reproducible for 2 ranks, not equal to 1 process
    kwargs = ("--net_kwargs", f"{{'channels': 3, 'dropout': {dropout}}}")
    straight = two_rank_run.resultdir
    if dropout:
        straight = str(tmp_path / "straight")
        _ok(_run(_train_command(2, datadir, straight, "--epochs", "3", *kwargs)))
    out = str(tmp_path / "resumed")
    _ok(_run(_train_command(2, datadir, out, "--epochs", "1", *kwargs)))
    assert [e["epoch"] for e in _log(out)] == [1]
    _ok(_run(_train_command(2, datadir, out, "--epochs", "3", "--resume", *kwargs)))
    got, ref = _log(out), _log(straight)
    assert [e["epoch"] for e in got] == [1, 2, 3]
    for g, r in zip(got, ref):
        for key in ("train_loss", "train_error", "val_loss", "val_error"):
            assert g[key] == r[key], (g["epoch"], key)
    w_got, w_ref = _weights(out), _weights(straight)
    for name in w_ref:
        np.testing.assert_array_equal(w_got[name], w_ref[name], err_msg=name)


@needs_mpi
def test_a_batch_too_small_for_the_ranks_is_an_error_on_the_command_line(datadir, tmp_path):
    proc = _run(_train_command(2, datadir, str(tmp_path / "r"), "--epochs", "1", "--train_size", "19"),
                timeout=120)
    assert proc.returncode != 0
    assert "fewer than the 2 processes" in proc.stderr
    assert not os.path.exists(tmp_path / "r" / "snapshot.h5")


@needs_mpi
def test_a_signal_on_one_rank_stops_every_rank_at_the_same_iteration(datadir, tmp_path, tiny):
    """SIGTERM reaches rank 1 only, in epoch 2's second update (3 per epoch): the ranks agree at
    the next iteration, rank 0 writes epoch 1's snapshot (--save_freq 3 had not), the job ends
    with status 143 and one line; --resume on 2 ranks ends as the uninterrupted 2-rank run."""
    model = tiny.act_model(tmp_path)
    flags = ["--modelfn", model, "--net_kwargs", "{'channels': 3}", "--trainfn", "train.npz", "--valfn",
             "val.npz", "--batchsize", "9", "--quiet", "--datadir", datadir, "--epochs", "3", "--save_freq", "3",
             "--communicator", "naive"]
    mpi = [MPIEXEC, "-n", "2", sys.executable, "-m", "gconv_experiments.MNIST_ROT.train"]
    straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
    _ok(_run(mpi + flags + ["--resultdir", straight]))
    proc = subprocess.run(mpi + flags + ["--resultdir", stopped], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=dict(ENV, ACT="SIGTERM", ACT_STEP="5", ACT_RANK="1"))
    assert proc.returncode == 143, proc.stderr
    assert [line for line in proc.stderr.splitlines() if "interrupted" in line] == [
        "MNIST_ROT/train.py: interrupted (SIGTERM) at epoch 2, iteration 3; the snapshot of epoch 1 is kept; "
        "continue with --resume"]
    assert [e["epoch"] for e in _log(stopped)] == [1]
    _ok(_run(mpi + ["--resultdir", stopped, "--resume", "--communicator", "naive"]))
    got, ref = _weights(stopped), _weights(straight)
    assert [e["epoch"] for e in _log(stopped)] == [1, 2, 3]
    for name in ref:
        np.testing.assert_array_equal(got[name], ref[name], err_msg=name)


if __name__ == "__main__":
    if sys.argv[1:] == ["bn"]:
        sys.path.insert(0, REPO)
        _bn_worker()
    else:
        sys.exit(f"usage: mpiexec -n K {sys.argv[0]} bn")

"""Data-parallel training of one model on K processes with ChainerMN (``--communicator``).

    mpiexec -n 2 python -m gconv_experiments.MNIST_ROT.train --communicator naive ...   # CPU
    mpiexec -n 4 python -m gconv_experiments.CIFAR10.train --communicator pure_nccl --gpu 0 ...

Every process (rank) reads the whole data set and draws the same permutation and the same
augmentation of each global batch of ``--batchsize`` examples from the epoch's seed; rank r then
processes its fixed part of that batch (:meth:`Ranks.part`: ``numpy.array_split`` bounds, so the
first ``n % K`` ranks take one example more). Batch normalisation in training mode uses the
statistics of the whole global batch (:class:`MultiNodeBatchNormalization`, swapped in for every
``L.BatchNormalization`` by :meth:`Ranks.prepare_model`), each rank's loss is weighted by
``K * (its examples) / (batch size)`` (:meth:`Ranks.scale_loss`) and
``chainermn.create_multi_node_optimizer`` averages the gradients: each step is the step of one
process on the whole global batch, up to floating-point summation order. BN re-estimation is the
same pass split the same way; evaluation gives each rank a block of whole evaluation batches
(:meth:`Ranks.whole_batches`) and sums the results (:meth:`Ranks.sum`). Rank 0 alone prints,
shows progress bars and writes files.

Costs: every rank holds the whole data set; the synchronised BN is Chainer's general
implementation (not the fast CPU path or cuDNN) with its per-channel sums all-reduced through
the host, three small all-reduces per BN layer and step.

Dropout is the one difference from a single process: each rank draws its own masks (seeded from
(seed, epoch, rank), :meth:`Ranks.reseed`), so a K-rank run with dropout is reproducible for the
same K but not equal to the 1-process run.
"""
import os
import sys
import warnings
from typing import Callable

import chainer
import chainer.links as L
import numpy as np
from chainer.backends import cuda
from chainer.functions.normalization import batch_normalization as _bn
from chainer.utils import argument

from groupy.fast_cpu.batchnorm import running_average_update

from gconv_experiments.training.config import COMMUNICATORS, ConfigError

__all__ = ["ONE_PROCESS", "Ranks", "MultiNodeBatchNormalization", "start", "abort_if_distributed"]

_active = None  # the Ranks of an MPI job once start() made them


def start(communicator: str, gpu: int) -> "Ranks":
    """Join the MPI job under --communicator `communicator`; returns its :class:`Ranks`, or
    :data:`ONE_PROCESS` for 'none'.

    Ranks other than 0 get stdout sent to os.devnull (and the caller turns their progress bars
    off); an uncaught exception on any rank aborts the whole job (chainermn.global_except_hook)
    instead of leaving the others waiting.
    """
    global _active
    name = communicator
    if name in (None, "none"):
        return ONE_PROCESS
    if name not in COMMUNICATORS:
        raise ConfigError(f"--communicator must be one of {', '.join(COMMUNICATORS)}, got {name!r}")
    if name == "pure_nccl" and gpu < 0:
        raise ConfigError("--communicator pure_nccl runs on GPUs: pass --gpu 0 (rank r uses GPU "
                          "0 + its local rank), or use --communicator naive on the CPU")
    try:
        import mpi4py.MPI  # noqa: F401
    except ImportError as e:
        raise ConfigError(f"--communicator {name} needs mpi4py and an MPI library "
                          f"(the mpi extra: make mpi, or pip install -e '.[mpi]'): {e}") from None
    with warnings.catch_warnings():  # CuPy warns about a missing NCCL that only pure_nccl uses
        warnings.filterwarnings("ignore", message=".*nccl library could not be loaded")
        import chainermn
        from chainermn import global_except_hook
        try:
            comm = chainermn.create_communicator(name)
        except (ImportError, RuntimeError, ValueError) as e:
            raise ConfigError(f"--communicator {name}: cannot create it ({type(e).__name__}: {e})") from None
    global_except_hook.add_hook()
    _active = Ranks(comm)
    if gpu < 0:
        _share_cores(comm.intra_size)
    if not _active.writes:
        sys.stdout = open(os.devnull, "w")
    return _active


def _share_cores(processes):
    """On the CPU: the groupy convolution threads and the BLAS threads of each of the
    `processes` ranks on this node get an equal share of its usable cores, unless set
    explicitly (GROUPY_CPU_CONV_THREADS; OMP/OPENBLAS/MKL_NUM_THREADS)."""
    share = max(1, len(os.sched_getaffinity(0)) // processes)
    if not os.environ.get("GROUPY_CPU_CONV_THREADS"):
        from groupy import fast_cpu
        fast_cpu.set_num_threads(min(share, fast_cpu.get_num_threads()))
    if not any(os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")):
        import threadpoolctl
        threadpoolctl.threadpool_limits(limits=share)


def abort_if_distributed(status: int) -> None:
    """After a reported error: end every rank of a K > 1 job (MPI_Abort with `status`), since
    the other ranks may be waiting for this one; no-op otherwise."""
    if _active is not None and _active.size > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        _active.comm.mpi_comm.Abort(status)


class Ranks:
    """This process's place in a data-parallel run: rank, number of ranks K, and the
    collective operations the training loop needs. `comm` is a ChainerMN communicator.
    A run on one process has the one rank :data:`ONE_PROCESS`, whose operations leave
    everything as it is."""
    distributed = True  # processes of an MPI job (even a job of one)

    def __init__(self, comm) -> None:
        self.comm = comm
        self.rank, self.size = comm.rank, comm.size

    def __copy__(self):  # one handle per process: copies of a model share it
        return self

    def __deepcopy__(self, memo):
        return self

    @property
    def writes(self) -> bool:
        """Whether this rank writes the run folder and prints (rank 0)."""
        return self.rank == 0

    def device_id(self, gpu: int) -> int:
        """The GPU of this rank for --gpu `gpu` (gpu + the rank's index on its node), or -1."""
        return gpu + self.comm.intra_rank if gpu >= 0 else -1

    def part(self, n: int) -> slice:
        """slice of this rank's examples within n consecutive examples (a global batch)."""
        start = self.rank * (n // self.size) + min(self.rank, n % self.size)
        return slice(start, start + n // self.size + (self.rank < n % self.size))

    def whole_batches(self, n: int, batchsize: int) -> slice:
        """slice of this rank's block of whole batches when n examples are cut into batches of
        `batchsize` from 0 (blocks of consecutive batches, array_split over the ranks): the
        batches a rank evaluates are exactly batches of the one-process evaluation, so even a
        batch-dependent evaluation (a BN on the statistics of the batch) gives its numbers."""
        n_batches = -(-n // batchsize)
        first = self.rank * (n_batches // self.size) + min(self.rank, n_batches % self.size)
        last = first + n_batches // self.size + (self.rank < n_batches % self.size)
        return slice(min(first * batchsize, n), min(last * batchsize, n))

    def scale_loss(self, loss: chainer.Variable, n: int) -> chainer.Variable:
        """Weight this rank's mean loss over its part of a batch of n so that the averaged
        gradients are those of the mean loss over all n: factor K * len(part) / n."""
        part = self.part(n)
        factor = self.size * (part.stop - part.start) / n
        return loss if factor == 1 else loss * factor

    def check_batches(self, n: int, **batchsizes: int) -> None:
        """ConfigError unless every batch of each `flag=batchsize` out of n training examples
        gives every rank at least one example (every rank takes part in each step's collective
        operations)."""
        for flag, batchsize in batchsizes.items():
            smallest = min(batchsize, n % batchsize or batchsize)
            if smallest < self.size:
                raise ConfigError(
                    f"--{flag} {batchsize}: {n} training examples give a batch of {smallest} "
                    f"example(s), fewer than the {self.size} processes; change --{flag} or --train_size")

    def sum(self, *values: float) -> tuple:
        """The sums over all ranks of the float `values`, as a tuple of floats (float64)."""
        buf = np.array([float(v) for v in values], dtype=np.float64)
        return tuple(float(v) for v in self.allreduce(buf))

    def sum_arrays(self, arrays: list) -> list:
        """[element-wise sum over ranks of a] for the NumPy/CuPy arrays or numbers `arrays`
        (one all-reduce), as float64 NumPy arrays of the same shapes."""
        flat = [np.asarray(cuda.to_cpu(a), dtype=np.float64) for a in arrays]
        sums = self.allreduce(np.concatenate([a.ravel() for a in flat])) if flat else []
        bounds = np.cumsum([0] + [a.size for a in flat])
        return [sums[b0:b1].reshape(a.shape) for a, b0, b1 in zip(flat, bounds[:-1], bounds[1:])]

    def allreduce(self, array) -> np.ndarray:
        """Element-wise sum over ranks of a small array (NumPy or CuPy; summed in float64 on
        the host), returned as a float64 NumPy array."""
        host = np.ascontiguousarray(cuda.to_cpu(array), dtype=np.float64)
        out = np.empty_like(host)
        self.comm.mpi_comm.Allreduce(host, out)
        return out

    def barrier(self) -> None:
        """Wait for every rank."""
        self.comm.mpi_comm.Barrier()

    def rank0_first(self, fn: Callable, *args):
        """fn(*args) on rank 0, then on the other ranks (e.g. a load that may write a cache)."""
        if self.writes:
            result = fn(*args)
        self.barrier()
        if not self.writes:
            result = fn(*args)
        return result

    def reseed(self, seed: int, epoch: int, device, stream: int = 0) -> None:
        """Reseed the global RNGs (dropout) of this rank from (seed, epoch, stream, rank), after
        the single-process seeding, so that the ranks draw different masks; K = 1: no-op."""
        if self.size == 1:
            return
        np.random.seed([seed, epoch, stream, self.rank, self.size])
        if device.xp is not np:
            device.xp.random.seed(((seed * 1000003 + epoch) * 4 + stream) * 65537 + self.rank)

    def prepare_model(self, model: chainer.Link) -> chainer.Link:
        """Swap every L.BatchNormalization of `model` (a Chain, before optimizer.setup) for a
        MultiNodeBatchNormalization with the same state, then give every rank rank 0's
        parameters (MPI broadcast through the host, whatever the communicator). Returns model."""
        for parent in list(model.links()):
            if isinstance(parent, chainer.ChainList):
                children = [(i, child) for i, child in enumerate(parent._children)]
            elif isinstance(parent, chainer.Chain):
                children = [(name, parent.__dict__[name]) for name in sorted(parent._children)]
            else:
                continue
            for key, child in children:
                if isinstance(child, L.BatchNormalization) and not isinstance(child, MultiNodeBatchNormalization):
                    new = MultiNodeBatchNormalization.like(child, self)
                    if isinstance(parent, chainer.ChainList):
                        parent._children[key] = new
                    else:
                        parent.__dict__[key] = new
                    new.name = str(key)
        for _, param in sorted(model.namedparams()):
            if param.array is not None:
                host = np.ascontiguousarray(cuda.to_cpu(param.array))
                self.comm.mpi_comm.Bcast(host, root=0)
                param.array[...] = chainer.backend.get_array_module(param.array).asarray(host)
        return model

    def optimizer(self, optimizer: chainer.Optimizer) -> chainer.Optimizer:
        """chainermn.create_multi_node_optimizer around `optimizer` (already set up on the
        model), made so that its first update() is a step: ChainerMN's wrapper would spend the
        first call on broadcasting the parameters, which prepare_model has done."""
        import chainermn
        wrapped = chainermn.create_multi_node_optimizer(optimizer, self.comm)
        wrapped.is_changed(optimizer.target)  # records the parameter set: no broadcast step
        return wrapped


class _OneProcess(Ranks):
    """The one rank of a run on one process: its part of a batch is the whole batch, its sums
    are the values themselves, the model and optimizer stay as they are."""
    distributed = False

    def __init__(self):
        self.comm = None
        self.rank, self.size = 0, 1

    def device_id(self, gpu):
        return gpu

    def sum(self, *values):
        return tuple(float(v) for v in values)

    def sum_arrays(self, arrays):
        return list(arrays)

    def allreduce(self, array):
        return np.asarray(cuda.to_cpu(array), dtype=np.float64)

    def barrier(self):
        pass

    def prepare_model(self, model):
        return model

    def optimizer(self, optimizer):
        return optimizer


ONE_PROCESS = _OneProcess()  # the Ranks of every run on one process (--communicator none)


class MultiNodeBatchNormalization(L.BatchNormalization):
    """L.BatchNormalization whose training-mode statistics (and running averages) are those of
    the union of all ranks' batches, computed from all-reduced float64 sums; the backward pass
    all-reduces the gamma/beta gradient sums (each rank's loss carries the weight of
    Ranks.scale_loss). Test mode is L.BatchNormalization's. Same parameters and persistent
    state, so snapshots load into either class. x (N, C, ...) -> y of the same shape."""

    def __init__(self, size, ranks: Ranks, **kwargs) -> None:
        super().__init__(size, **kwargs)
        self.ranks = ranks

    @classmethod
    def like(cls, bn: L.BatchNormalization, ranks: Ranks) -> "MultiNodeBatchNormalization":
        """A copy of the BatchNormalization `bn` (parameters and statistics) synchronised over `ranks`."""
        if bn.avg_mean is None:
            raise ValueError(f"{bn.name}: BatchNormalization without a size cannot be synchronised")
        new = cls(bn.avg_mean.shape, ranks, decay=bn.decay, eps=bn.eps, dtype=bn.avg_mean.dtype,
                  use_gamma=bn.gamma is not None, use_beta=bn.beta is not None, axis=bn.axis)
        new.copyparams(bn)
        new.avg_mean[...] = bn.avg_mean
        new.avg_var[...] = bn.avg_var
        new.N = bn.N
        return new

    def forward(self, x, **kwargs):
        finetune, = argument.parse_kwargs(kwargs, ("finetune", False))
        if not chainer.config.train:
            return super().forward(x, finetune=finetune)
        gamma = self.gamma if self.gamma is not None else self._get_gamma()[0]
        beta = self.beta if self.beta is not None else self._get_beta()[0]
        decay, avg_mean, avg_var = running_average_update(self, finetune)
        impl = _AllReducedImpl(self.ranks)
        node = _bn.BatchNormalization(self.eps, avg_mean, avg_var, decay, self.axis,
                                      impl_selector=lambda func, inputs: impl)
        return node.apply((x, gamma, beta))[0]


class _AllReducedImpl(_bn.GeneralBatchNormalizationImpl):
    """Chainer's general batch normalisation with per-channel sums all-reduced over the ranks:
    mean and (centred) variance over all M = sum of the ranks' counts, the running averages
    with M's unbiased-variance factor, and all-reduced gamma/beta gradient sums."""

    def __init__(self, ranks):
        self.ranks = ranks
        self.count = None

    def get_mean_and_var(self, axis, gamma, x, xp, interm_dtype):
        # (gamma arrives expanded for broadcasting; the statistics are returned unexpanded)
        key_shape = tuple(d for i, d in enumerate(x.shape) if i not in axis)
        local = x.sum(axis=axis, dtype=np.float64).ravel()
        sums = self.ranks.allreduce(xp.concatenate([local, xp.array([x.size // gamma.size], np.float64)]))
        self.count = sums[-1]
        mean = xp.asarray((sums[:-1] / self.count).astype(interm_dtype))
        centred = x - mean.reshape(gamma.shape)
        squares = self.ranks.allreduce((centred * centred).sum(axis=axis, dtype=np.float64).ravel())
        var = xp.asarray((squares / self.count).astype(interm_dtype))
        return mean.reshape(key_shape), var.reshape(key_shape)

    def forward(self, axis, gamma, x, x_layout, xp, expander, beta, eps, decay,
                running_mean, running_var):
        out = list(super().forward(axis, gamma, x, x_layout, xp, expander, beta, eps, decay,
                                   None, None))
        if running_mean is not None:  # as Chainer, with the global count in the unbiased factor
            mean, var = out[4], out[5]
            adjust = self.count / max(self.count - 1., 1.)
            running_mean *= decay
            running_mean += (1 - decay) * mean
            running_var *= decay
            running_var += (1 - decay) * adjust * var
            out[2], out[3] = running_mean, running_var
        return tuple(out)

    def get_ggamma_and_gbeta(self, axis, gamma, gy, x_hat, xp):
        # Each rank's gy is K times the gradient of the global mean loss (Ranks.scale_loss), so
        # the global gamma/beta gradients are the all-reduced sums / K. Chainer's backward then
        # takes gx = gamma * inv_std * (gy - (x_hat * ggamma + gbeta) / m) with m this rank's
        # count, where the global pass needs M / K: the sums are scaled by m K / M here. The
        # scale factors average to 1 over the ranks, so the averaged gamma/beta gradients of
        # the multi-node optimizer are the global ones.
        local = xp.concatenate([gy.sum(axis=axis, dtype=np.float64).ravel(),
                                (gy * x_hat).sum(axis=axis, dtype=np.float64).ravel()])
        m = gy.size // gamma.size
        sums = self.ranks.allreduce(local) * (m / self.count)
        gbeta, ggamma = np.split(sums.astype(gamma.dtype), 2)
        return xp.asarray(gbeta).reshape(gamma.shape), xp.asarray(ggamma).reshape(gamma.shape)

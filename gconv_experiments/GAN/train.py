"""Train a conditional GAN on the MNIST-rot-like training set with a z2/p4 generator and a
z2/p4/p4m discriminator (Dey, Chen & Ghafurian, ICLR 2021), measuring the FID of its samples.

Usage:
    python -m gconv_experiments.GAN.train --datadir DIR --resultdir RUN --gen p4 --disc p4 \\
        [--gen_ch 16] [--disc_ch 16] [--steps 2000] [--fid_every 250] [--seed 0] [--resume]

Defaults as Dey et al.: Adam with beta = (0, 0.9), lr 1e-4 (G) and 4e-4 (D), two D updates per
G step, batch 64, relativistic average loss with an R1 penalty (gamma 0.1); --steps counts G
steps. Every --fid_every G steps (and at the end) the generator (test mode, a fixed noise set)
draws --fid_samples images (the same number per class), their FID against --testfn (features of
``gconv_experiments.GAN.fid_net``) and the fraction of --judge_samples of them the published
P4CNN labels correctly are appended to log.jsonl (with the mean losses every --log_every
steps), and a 10 x 10 grid of samples is saved.

The run folder holds run.json (the flags and derived settings), log.jsonl, snapshot.h5 (written
atomically every --snapshot_every steps and at the end: both models, both optimisers, the
spectral-normalisation vectors, the step), samples_<step>.png, fid_reference.npz (the cached
test-set statistics) and, at the end, generator.npz. A killed run continues with --resume and
ends with the weights an uninterrupted run would have (on the same machine with the same thread
settings: --threads and the BLAS thread variables), as each G step reseeds from (seed, step).
A non-finite loss stops the run before any update, keeping the last snapshot.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy

import chainer

from gconv_experiments import atomic_file
from gconv_experiments.GAN import samples as sample_grid
from gconv_experiments.GAN.discriminator import Discriminator
from gconv_experiments.GAN.fid import FIDMeasure
from gconv_experiments.GAN.fid_net import DEFAULT_DIR, sha256_of
from gconv_experiments.GAN.generator import Generator
from gconv_experiments.GAN.judge import DEFAULT_RUN, Judge
from gconv_experiments.GAN.snapshot import load_snapshot, save_snapshot, snapshot_step
from gconv_experiments.GAN.steps import NonFiniteLoss, StepConfig, train_step
from gconv_experiments.MNIST_ROT import mnist_rot
from gconv_experiments.training.prepare import kernels_of_run
from groupy.fast_cpu.switch import using_kernel_settings

__all__ = ["main", "parse_args"]

RUN, LOG, SNAPSHOT, GENERATOR, REFERENCE = (
    "run.json", "log.jsonl", "snapshot.h5", "generator.npz", "fid_reference.npz")
#: flags that may differ when a run is resumed
RESUMABLE = {"steps", "resume", "quiet", "gpu", "threads"}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, naming the flag
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _nonneg_int(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _float_in(low, high, low_open=True):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        ok = (value > low if low_open else value >= low) and value < high
        if not ok:
            raise argparse.ArgumentTypeError(
                f"expected a number in {'(' if low_open else '['}{low:g}, {high:g}), got {text!r}")
        return value
    return parse


def parse_args(argv=None) -> argparse.Namespace:
    """The flags of the command (see the module docstring); exits with a one-line error."""
    p = _Parser(prog="python -m gconv_experiments.GAN.train", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    a = p.add_argument
    a("--datadir", required=True, help="MNIST-rot(-like) data folder")
    a("--resultdir", required=True, help="run folder (created)")
    a("--trainfn", default="train_all.npz", help="training file in --datadir")
    a("--testfn", default="test.npz", help="FID reference file in --datadir")
    a("--gen", choices=("z2", "p4"), default="z2", help="generator group")
    a("--disc", choices=("z2", "p4", "p4m"), default="z2", help="discriminator group")
    a("--gen_ch", type=_positive_int, default=16, help="generator width ch (Dey et al.: 128)")
    a("--disc_ch", type=_positive_int, default=16, help="discriminator width ch (Dey et al.: 128)")
    a("--latent_dim", type=_positive_int, default=128)
    a("--embed_dim", type=_positive_int, default=64, help="generator label embedding")
    a("--steps", type=_positive_int, default=2000, help="G steps in all")
    a("--batchsize", type=_positive_int, default=64)
    a("--d_steps", type=_positive_int, default=2, help="D updates per G step")
    a("--lr_g", type=_float_in(0, float("inf")), default=1e-4)
    a("--lr_d", type=_float_in(0, float("inf")), default=4e-4)
    a("--beta1", type=_float_in(0, 1, low_open=False), default=0.0, help="Adam beta1 (both)")
    a("--beta2", type=_float_in(0, 1, low_open=False), default=0.9, help="Adam beta2 (both)")
    a("--r1_gamma", type=_float_in(0, 1e6, low_open=False), default=0.1, help="R1 weight")
    a("--fid_every", type=_positive_int, default=250, help="G steps between FID evaluations")
    a("--fid_samples", type=_positive_int, default=10000, help="generated images per FID "
      "(a multiple of 10: the same number per class)")
    a("--fid_net", default=DEFAULT_DIR, help="folder of the FID feature network (weights.npz)")
    a("--judge_samples", type=_nonneg_int, default=2000, help="of these, judged by the P4CNN "
      "(0: no judge)")
    a("--judge_run", default=DEFAULT_RUN, help="run folder of the judge (the published P4CNN)")
    a("--snapshot_every", type=_positive_int, default=None, help="default: --fid_every")
    a("--log_every", type=_positive_int, default=50, help="G steps per line of mean losses")
    a("--seed", type=_nonneg_int, default=0)
    a("--gpu", type=int, default=-1, help="CUDA device (-1: CPU)")
    a("--threads", type=_positive_int, default=None, help="threads of groupy's CPU convolution")
    a("--resume", action="store_true", help="continue the run in --resultdir from its snapshot")
    a("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.snapshot_every is None:
        args.snapshot_every = args.fid_every
    if args.fid_samples % 10:
        p.error(f"argument --fid_samples: expected a multiple of 10, got {args.fid_samples}")
    if args.judge_samples > args.fid_samples:
        p.error(f"argument --judge_samples: at most --fid_samples ({args.fid_samples}), "
                f"got {args.judge_samples}")
    return args


def _settings(args, gen, dis):
    count = lambda m: int(sum(p.size for p in m.params()))  # noqa: E731
    return {"gen_widths": list(gen.widths), "disc_widths": list(dis.widths),
            "gen_params": count(gen), "disc_params": count(dis),
            "loss": "relativistic average (softplus form) + R1 on real images",
            "data_range": "[-1, 1] (2 x - 1)", "adam": {"beta1": args.beta1, "beta2": args.beta2},
            "fid_net_sha256": sha256_of(os.path.join(args.fid_net, "weights.npz")),
            "numpy": numpy.__version__, "chainer": chainer.__version__}


def _check_resumable(args, path):
    """Refuse --resume with other flags than the run's; returns the CPU code paths it recorded
    (None: none recorded)."""
    with open(path) as f:
        record = json.load(f)
    old = record["args"]
    for key, value in vars(args).items():
        if key not in RESUMABLE and old.get(key) != value:
            raise ValueError(f"--{key} is {value!r} but the run in {os.path.dirname(path)} was "
                             f"started with {old.get(key)!r}; resume with the same flags")
    return record.get("settings", {}).get("cpu_kernels")


def _truncate_log(path, step):
    """Drop the lines of steps after ``step`` (written after the last snapshot)."""
    if not os.path.isfile(path):
        return
    with open(path) as f:
        lines = [ln for ln in f if ln.strip() and json.loads(ln)["step"] <= step]
    atomic_file.write_text(path, "".join(lines))


def _append_log(path, record):
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def _load_images(datadir, name):
    x, y = mnist_rot.load_split(datadir, name)
    if not numpy.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError(f"{os.path.join(datadir, name)}: pixels must be finite and in [0, 1]")
    return x, y


class _Progress:
    def __init__(self, quiet, start, total):
        self.bar = None
        if not quiet:
            import progressbar
            self.bar = progressbar.ProgressBar(min_value=0, max_value=total, initial_value=start,
                                               fd=sys.stderr).start()

    def update(self, step):
        if self.bar is not None:
            self.bar.update(step)

    def finish(self):
        if self.bar is not None:
            self.bar.finish()


def _evaluate(args, step, gen, measure, judge, labels):
    """FID (and the judge's accuracy) of --fid_samples images from a fixed noise set."""
    start = time.time()
    x = gen.sample(labels, numpy.random.default_rng([args.seed, 2 ** 31]))
    if not numpy.isfinite(x).all():
        raise NonFiniteLoss(f"the generated images are not finite after G step {step}")
    record = {"step": step, "fid": measure(x)}
    if judge is not None:
        keep = numpy.arange(len(x)) % (len(x) // args.judge_samples) == 0
        keep &= numpy.cumsum(keep) <= args.judge_samples
        record["judge_accuracy"] = judge.accuracy(x[keep], labels[keep])
    record["eval_seconds"] = round(time.time() - start, 2)
    sample_grid.save_grid(os.path.join(args.resultdir, f"samples_{step:06d}.png"), x, labels)
    return record


def run(args) -> int:
    """Train (or resume) the run of ``args``; returns the exit status."""
    if args.threads:
        from groupy.fast_cpu import set_num_threads
        set_num_threads(args.threads)
    device = chainer.get_device("@numpy")
    if args.gpu >= 0:
        try:
            import cupy
            usable = cupy.is_available()
        except Exception:  # no cupy, no driver
            usable = False
        if not usable:
            raise ValueError(f"--gpu {args.gpu}: no usable CUDA device (cupy.is_available() is false)")
        device = chainer.get_device(f"@cupy:{args.gpu}")
        device.use()
    os.makedirs(args.resultdir, exist_ok=True)
    run_path, log_path, snap_path = (os.path.join(args.resultdir, n) for n in (RUN, LOG, SNAPSHOT))
    if os.path.isfile(snap_path) and not args.resume:
        raise ValueError(f"--resultdir {args.resultdir} already holds a run ({SNAPSHOT}); pass "
                         "--resume to continue it or choose another folder")
    recorded = None
    if args.resume and os.path.isfile(run_path):
        recorded = _check_resumable(args, run_path)
    kernels = kernels_of_run(recorded, args.resultdir, resume=args.resume and os.path.isfile(run_path))
    images, labels = _load_images(args.datadir, args.trainfn)
    if args.batchsize > len(images):
        raise ValueError(f"--batchsize {args.batchsize} exceeds the {len(images)} images of "
                         f"{args.trainfn}")
    measure = FIDMeasure.from_test_set(args.datadir, args.testfn,
                                       cache=os.path.join(args.resultdir, REFERENCE),
                                       net_dir=args.fid_net)
    judge = Judge.from_run(args.judge_run, args.datadir) if args.judge_samples else None

    numpy.random.seed(args.seed)  # initial weights and spectral-normalisation vectors
    gen = Generator(args.gen, ch=args.gen_ch, latent_dim=args.latent_dim, embed_dim=args.embed_dim)
    dis = Discriminator(args.disc, ch=args.disc_ch)
    gen.to_device(device)
    dis.to_device(device)
    opt_gen = chainer.optimizers.Adam(args.lr_g, beta1=args.beta1, beta2=args.beta2)
    opt_dis = chainer.optimizers.Adam(args.lr_d, beta1=args.beta1, beta2=args.beta2)
    opt_gen.setup(gen)
    opt_dis.setup(dis)
    step = 0
    if args.resume and os.path.isfile(snap_path):
        step = load_snapshot(snap_path, gen, dis, opt_gen, opt_dis)
        _truncate_log(log_path, step)
    elif os.path.isfile(log_path):
        os.remove(log_path)  # a run killed before its first snapshot starts over
    atomic_file.write_text(run_path, json.dumps(
        {"args": vars(args), "settings": dict(_settings(args, gen, dis), cpu_kernels=kernels)}, indent=2) + "\n")

    config = StepConfig(batchsize=args.batchsize, d_steps=args.d_steps, r1_gamma=args.r1_gamma,
                        seed=args.seed)
    fid_labels = numpy.repeat(numpy.arange(10, dtype=numpy.int32), args.fid_samples // 10)
    losses, start = [], time.time()
    progress = _Progress(args.quiet, step, args.steps)
    with using_kernel_settings(kernels):
        try:
            while step < args.steps:
                losses.append(train_step(step, gen, dis, opt_gen, opt_dis, images, labels, config))
                step += 1
                if step % args.log_every == 0 or step == args.steps:
                    mean = {k: float(numpy.mean([d[k] for d in losses])) for k in losses[0]}
                    _append_log(log_path, {"step": step, **mean,
                                           "seconds_per_step": (time.time() - start) / len(losses)})
                    losses, start = [], time.time()
                if step % args.fid_every == 0 or step == args.steps:
                    _append_log(log_path, _evaluate(args, step, gen, measure, judge, fid_labels))
                    start = time.time()
                if step % args.snapshot_every == 0 or step == args.steps:
                    save_snapshot(snap_path, step, gen, dis, opt_gen, opt_dis)
                progress.update(step)
        except NonFiniteLoss as e:
            kept = snapshot_step(snap_path) if os.path.isfile(snap_path) else None
            where = f"the snapshot of step {kept} is kept" if kept is not None else "no snapshot yet"
            print(f"train: error: stopped: {e} ({where})", file=sys.stderr)
            return 1
        finally:
            progress.finish()
    gen.to_device("@numpy")
    with atomic_file.atomic_path(os.path.join(args.resultdir, GENERATOR)) as tmp:
        chainer.serializers.save_npz(tmp, gen)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except ValueError as e:
        print(f"train: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""Mutation check of the test suite: plant each small plausible bug of :data:`MUTANTS` (a
different statistic, a lost flag, a wrong label, a reversed comparison, an off-by-one) one at a
time, run only the test files named beside it, and report whether a test failed (caught) or
all passed (survived). Every source file is restored byte for byte (and its modification time)
after each mutant, also when the command is interrupted.

    .venv/bin/python benchmarks/mutation_check.py                 # every mutant, then the score
    .venv/bin/python benchmarks/mutation_check.py --only A08,B1   # mutants whose name starts so
    .venv/bin/python benchmarks/mutation_check.py --list          # names and files, nothing run
    .venv/bin/python benchmarks/mutation_check.py --baseline      # the named tests, unmutated

A mutant is (name, file, old text, new text, test files, environment): `old` must occur
exactly once in `file` (the command stops otherwise, so a mutant whose code has moved is
noticed, not silently skipped). Tests run with ``python -m pytest -x -q`` from the repository
root, PYTHONPATH set to it, without writing byte code (so no stale .pyc of a mutant survives
it). A mutant is caught when pytest reports a failure or an error (exit status other than 0,
or 5: no test collected); test files missing from the checkout are left out, so the same
list measures an older commit. The score is caught / all; a survivor is a hole in the tests.
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

__all__ = ["Mutant", "MUTANTS", "apply", "run_mutant", "main"]


class Mutant(NamedTuple):
    """One planted bug: `old` replaced by `new` in `file`, judged by the test files `tests`."""
    name: str
    file: str
    old: str
    new: str
    tests: tuple
    env: tuple = ()   # extra environment variables, (name, value) pairs
    then: tuple = ()  # further (env, tests) runs, each made only while the earlier ones pass

    def runs(self) -> list:
        """[(env, tests)]: the pytest runs that judge this mutant, in order."""
        return [(self.env, self.tests)] + list(self.then)


T = "tests/"
MR = "gconv_experiments/MNIST_ROT/"
TR = "gconv_experiments/training/"
CG = "groupy/gconv/chainer_gconv/"
GAN = "gconv_experiments/GAN/"
FC = "groupy/fast_cpu/"
T_EVAL = T + "gconv_experiments/MNIST_ROT/test_evaluate.py"
T_SWEEP = (T + "gconv_experiments/MNIST_ROT/test_experiment.py", T + "gconv_experiments/sweep/test_report.py",
           T + "gconv_experiments/sweep/test_execution.py")
T_PARTIAL = (T + "groupy/gconv/chainer_gconv/test_partial.py", T + "gconv_experiments/MNIST_ROT/test_partial_models.py",
             T + "gconv_experiments/training/test_hooks.py")
T_GAN = (T + "gconv_experiments/GAN/test_models.py", T + "gconv_experiments/GAN/test_losses.py",
         T + "gconv_experiments/GAN/test_fid.py", T + "gconv_experiments/GAN/test_train.py",
         T + "gconv_experiments/GAN/test_steps.py")
T_SUBSET = (T + "gconv_experiments/training/test_subset_and_steps.py",
            T + "gconv_experiments/MNIST_ROT/test_data_efficiency.py")
T_NUMBA = (T + "groupy/fast_cpu/test_numba_kernels.py",)  # switches the kernels on and off itself
# the fast CPU nodes' own tests, with the compiled kernels as their default
NUMBA = ((("GROUPY_FAST_CPU_NUMBA", "1"),), tuple(T + f"groupy/fast_cpu/test_{name}.py" for name in (
    "batchnorm", "activation", "pooling", "orientation_pooling", "conv2d"))),

MUTANTS = [
    # --- part A: bugs each named by a review as passing the suite ---------------------------------
    Mutant("A01 evaluate: normalisation ignores --train_size", MR + "evaluate.py",
           "    train_x = train_x[index]\n", "    train_x = train_x\n",
           (T_EVAL, T + "gconv_experiments/training/test_subset_and_steps.py")),
    Mutant("A02 evaluate: --val_size truncation lost", MR + "evaluate.py",
           'x, y = x[:config["val_size"]], y[:config["val_size"]]', "pass", (T_EVAL,)),
    Mutant("A03 --testfn truncated by --train_size", TR + "prepare.py",
           '("testfn", "val_size"))', '("testfn", "train_size"))',
           (T + "gconv_experiments/training/test_faults.py", T + "gconv_experiments/training/test_training.py",
            T + "gconv_experiments/MNIST_ROT/test_train.py")),
    Mutant("A04 sweep report averages val_error", "gconv_experiments/sweep/report.py",
           'model_statistics([s["test_error"]', 'model_statistics([s["val_error"]', T_SWEEP),
    Mutant("A05 sweep passes the seed's position in --seeds", "gconv_experiments/sweep/command_line.py",
           'run_argv(run_flags(m), s, epochs[m], extra)',
           'run_argv(run_flags(m), seeds.index(s), epochs[m], extra)',
           T_SWEEP + (T + "gconv_experiments/sweep/test_command_line.py",)),
    Mutant("A06 --fresh_on_change folder reused whatever its settings", "gconv_experiments/sweep/runs.py",
           "if alt_saved is not None and not alt_diffs:", "if alt_saved is not None:",
           (T + "gconv_experiments/sweep/test_runs.py",) + T_SWEEP),
    Mutant("A07 reproduction: paper's numbers beside every setting", MR + "reproduction.py",
           'paper = PAPER_RESULTS.get(model) if setting == "released" else None',
           "paper = PAPER_RESULTS.get(model)", (T + "gconv_experiments/MNIST_ROT/test_reproduction.py",)),
    Mutant("A08 training data never shuffled", TR + "loop.py",
           "    order = rng.permutation(n)\n", "    order = np.arange(n)\n",
           (T + "gconv_experiments/training/test_training.py",)),
    Mutant("A09 AllCNNC input dropout 0.5", "gconv_experiments/CIFAR10/models/AllCNNC.py",
           "h = self._drop(x, 0.2)", "h = self._drop(x, 0.5)", (T + "gconv_experiments/CIFAR10/test_models.py",)),
    Mutant("A10 ResNet head: global max pooling", "gconv_experiments/CIFAR10/models/ResNet.py",
           "self.top(F.mean(h, axis=(2, 3), keepdims=True))", "self.top(F.max(h, axis=(2, 3), keepdims=True))",
           (T + "gconv_experiments/CIFAR10/test_models.py",)),
    Mutant("A11 P4CNN head: orientation mean", MR + "models/P4CNN.py",
           "        return orientation_max_pooling(h)\n", "        return F.mean(h, axis=2)\n",
           (T + "gconv_experiments/MNIST_ROT/test_models.py",)),
    Mutant("A12 MNIST default bn_averaging exact", MR + "train.py",
           '    bn_averaging="batch",\n', '    bn_averaging="exact",\n',
           (T + "gconv_experiments/MNIST_ROT/test_train_defaults.py",)),
    Mutant("A13 exactness analysis ignores dilation", CG + "exactness_analysis.py",
           "    k = dy * (kh - 1) + 1\n", "    k = kh\n", (T + "groupy/gconv/chainer_gconv/test_exactness_analysis.py",)),
    Mutant("A14 check_equivariance D4 labels in r-major order", CG + "check_equivariance.py",
           "for m in range(2) for r in range(4)]", "for r in range(4) for m in range(2)]",
           (T + "groupy/gconv/chainer_gconv/test_check_equivariance.py",)),
    Mutant("A15 integer-indexing table cache keyed without the input shape",
           CG + "kernels/integer_indexing_cuda_kernel.py",
           "key = (src_shape, t.shape, t.tobytes()", "key = (t.shape, t.tobytes()",
           (T + "groupy/gconv/chainer_gconv/kernels/test_integer_indexing_cuda_kernel.py",
            T + "groupy/original/test_integer_indexing_cuda_kernel.py")),
    Mutant("A16 plot_p4m mirror labels swapped", "groupy/gfunc/plot/plot_p4m.py",
           '"cayley_mr": ["$e$", "$r$", "$r^2$", "$r^3$", "$m$", "$mr$", "$mr^2$", "$mr^3$"]',
           '"cayley_mr": ["$e$", "$r$", "$r^2$", "$r^3$", "$m$", "$mr^3$", "$mr^2$", "$mr$"]',
           (T + "groupy/gfunc/plot/",)),
    Mutant("A17 plot_p4m outer-ring arrows reversed", "groupy/gfunc/plot/plot_p4m.py",
           "rings.ring_arrows(ax, outer, -1,", "rings.ring_arrows(ax, outer, +1,", (T + "groupy/gfunc/plot/",)),
    Mutant("A18 export_onnx reports the mean difference", "groupy/export/onnx.py",
           "- expected).max())", "- expected).mean())", (T + "groupy/export/test_onnx.py",)),
    # --- part B: code added this round -----------------------------------------------------------
    Mutant("B01 partial: D4 product ignores the reflection", CG + "partial.py",
           "((-r1 if m2 else r1) + r2) % 4", "(r1 + r2) % 4", T_PARTIAL),
    Mutant("B02 partial: kept elements off by one", CG + "partial.py",
           "[0] + [i + 1 for i in numpy.flatnonzero(keep)]", "[0] + [i for i in numpy.flatnonzero(keep)]", T_PARTIAL),
    Mutant("B03 partial: a zero logit keeps its plane", CG + "partial.py",
           "keep = (self.gate_logits.array > 0)", "keep = (self.gate_logits.array >= 0)", T_PARTIAL),
    Mutant("B04 partial: Stab(K) by right multiplication", CG + "partial.py",
           "{_product(stabiliser, g, s) for s in k}", "{_product(stabiliser, s, g) for s in k}", T_PARTIAL),
    Mutant("B05 partial: bias of dropped planes kept", CG + "partial.py",
           "b = F.reshape(F.reshape(b, (out, nos)) * g[:, :, 0], (out * nos,))", "b = b", T_PARTIAL),
    Mutant("B06 partial: predicted equivariance is the union", CG + "partial.py",
           "common &= set(link.equivariant_elements().indices)", "common |= set(link.equivariant_elements().indices)",
           T_PARTIAL),
    Mutant("B07 partial: test mode never masks", CG + "partial.py",
           "if self.last_kept.all() and not chainer.config.train:", "if self.last_kept.any() and not chainer.config.train:",
           T_PARTIAL),
    Mutant("B08 partial: D4 element names m r1 / m r3 swapped", CG + "partial.py",
           "'m', 'm r1', 'm r2', 'm r3'),", "'m', 'm r3', 'm r2', 'm r1'),", T_PARTIAL),
    Mutant("B09 gate: hard sample ignores the noise", CG + "partial_gate.py",
           "hard = (z.array > 0)", "hard = (logits.array > 0)", T_PARTIAL),
    Mutant("B10 gate: temperature multiplies", CG + "partial_gate.py",
           "F.sigmoid(z * (1.0 / temperature))", "F.sigmoid(z * temperature)", T_PARTIAL),
    Mutant("B11 gate: logistic noise log u + log(1 - u)", CG + "partial_gate.py",
           "(xp.log(u) - xp.log1p(-u))", "(xp.log(u) + xp.log1p(-u))", T_PARTIAL),
    Mutant("B12 gate: straight-through gradient negated", CG + "partial_gate.py",
           "return grad_outputs[0], None", "return -grad_outputs[0], None", T_PARTIAL),
    Mutant("B13 gate: temperature 0 accepted", CG + "partial_gate.py",
           "if not temperature > 0:", "if not temperature >= 0:", T_PARTIAL),
    Mutant("B14 training: temperature schedule reversed", CG + "partial_training.py",
           "return start * (1.0 - progress) + end * progress", "return start * progress + end * (1.0 - progress)",
           T_PARTIAL),
    Mutant("B15 training: progress 1 refused", CG + "partial_training.py",
           "if not 0.0 <= progress <= 1.0:", "if not 0.0 <= progress < 1.0:", T_PARTIAL),
    Mutant("B16 training: gate rate set on W", CG + "partial_training.py",
           "rule = link.gate_logits.update_rule", "rule = link.W.update_rule", T_PARTIAL),
    Mutant("B17 training: gate rate 0 refused", CG + "partial_training.py",
           "if not lr >= 0:", "if not lr > 0:", T_PARTIAL),
    Mutant("B18 RaGAN: real logits relative to their own mean", GAN + "losses.py",
           "real_rel = real - F.broadcast_to(F.mean(fake), real.shape)",
           "real_rel = real - F.broadcast_to(F.mean(real), real.shape)", T_GAN[1:2]),
    Mutant("B19 RaGAN: generator loss with the roles kept", GAN + "losses.py",
           "return ragan_discriminator_loss(fake, real)", "return ragan_discriminator_loss(real, fake)", T_GAN[1:2]),
    Mutant("B20 R1: gamma without the 1/2", GAN + "losses.py",
           "penalty = 0.5 * gamma *", "penalty = gamma *", T_GAN[1:2]),
    Mutant("B21 R1: gradient norm not squared", GAN + "losses.py",
           "F.sum(F.square(gx),", "F.sum(F.absolute(gx),", T_GAN[1:2]),
    Mutant("B22 discriminator: third block pooled too", GAN + "discriminator.py",
           "            if i < 2:\n", "            if i < 3:\n", T_GAN[:1]),
    Mutant("B23 discriminator: global max instead of average", GAN + "discriminator.py",
           "return F.mean(h, axis=(2, 3))", "return F.max(h, axis=(2, 3))", T_GAN[:1]),
    Mutant("B24 discriminator: LeakyReLU slope 0.1", GAN + "discriminator.py",
           "h = leaky_relu(conv(h), 0.2)", "h = leaky_relu(conv(h), 0.1)", T_GAN[:1]),
    Mutant("B25 discriminator: projection on the label lost", GAN + "discriminator.py",
           "return F.reshape(self.out(phi), (-1,)) + projection", "return F.reshape(self.out(phi), (-1,))",
           T_GAN[:1]),
    Mutant("B26 generator: samples left in [-1, 1]", GAN + "generator.py",
           "return ((numpy.concatenate(out) + 1) / 2).astype(numpy.float32)",
           "return numpy.concatenate(out).astype(numpy.float32)", T_GAN[:1] + T_GAN[3:4]),
    Mutant("B27 generator: uniform sampling noise", GAN + "generator.py",
           "z = rng.standard_normal((len(y), self.latent_dim))", "z = rng.random((len(y), self.latent_dim))",
           T_GAN[:1] + T_GAN[3:4]),
    Mutant("B28 FID: covariance with ddof 0", GAN + "fid.py",
           "numpy.cov(feats, rowvar=False)", "numpy.cov(feats, rowvar=False, ddof=0)", T_GAN[2:3]),
    Mutant("B29 FID: trace term without the 2", GAN + "fid.py",
           "- 2 * numpy.trace(covmean)", "- numpy.trace(covmean)", T_GAN[2:3]),
    Mutant("B30 FID: cached reference used whatever its key", GAN + "fid.py",
           'if str(f["key"]) == key:', 'if "key" in f:', T_GAN[2:]),
    Mutant("B31 judge: input multiplied by the scale", GAN + "judge.py",
           "- self.shift) / self.scale", "- self.shift) * self.scale", T_GAN[2:]),
    Mutant("B32 GAN step: one D update too few", GAN + "steps.py",
           "for _ in range(config.d_steps):", "for _ in range(config.d_steps - 1):", T_GAN[4:] + T_GAN[1:2] + T_GAN[3:4]),
    Mutant("B33 GAN step: real batch drawn with replacement", GAN + "steps.py",
           "size=batchsize, replace=False)", "size=batchsize, replace=True)", T_GAN[4:] + T_GAN[1:2] + T_GAN[3:4]),
    Mutant("B34 GAN step: real images left in [0, 1]", GAN + "steps.py",
           "x = images[idx] * 2 - 1", "x = images[idx]", T_GAN[4:] + T_GAN[1:2] + T_GAN[3:4]),
    Mutant("B35 GAN train: D learning rate 1e-4", GAN + "train.py",
           'a("--lr_d", type=_float_in(0, float("inf")), default=4e-4)',
           'a("--lr_d", type=_float_in(0, float("inf")), default=1e-4)', T_GAN[3:]),
    Mutant("B36 GAN train: judge takes one image too few", GAN + "train.py",
           "keep &= numpy.cumsum(keep) <= args.judge_samples", "keep &= numpy.cumsum(keep) < args.judge_samples",
           T_GAN[3:]),
    Mutant("B37 GAN train: no FID after the last step", GAN + "train.py",
           "if step % args.fid_every == 0 or step == args.steps:", "if step % args.fid_every == 0:", T_GAN[3:]),
    Mutant("B38 subset: classes of a round in a fixed order", TR + "data.py",
           "order.extend(int(present[i][k]) for i in rng.permutation(len(present)))",
           "order.extend(int(q[k]) for q in present)", T_SUBSET),
    Mutant("B39 subset: indices not sorted", TR + "data.py",
           "return np.sort(balanced_order(labels, seed)[:n])", "return balanced_order(labels, seed)[:n]", T_SUBSET),
    Mutant("B40 subset: --subset_seed defaults to 0, not --seed", TR + "settings.py",
           'values["subset_seed"] = args.seed', 'values["subset_seed"] = 0', T_SUBSET),
    Mutant("B41 --steps: epochs rounded down", TR + "settings.py",
           "epochs=-(-self.steps // batches_per_epoch)", "epochs=self.steps // batches_per_epoch", T_SUBSET),
    Mutant("B42 --steps: last epoch one batch short", TR + "settings.py",
           "return self.steps - (epoch - 1) * batches_per_epoch", "return self.steps - epoch * batches_per_epoch",
           T_SUBSET),
    Mutant("B43 study: epochs of a partial last batch dropped", MR + "data_efficiency.py",
           "per_epoch = -(-size // self.batchsize)", "per_epoch = size // self.batchsize", T_SUBSET[1:]),
    Mutant("B44 study: runs on the first N, not balanced", MR + "data_efficiency.py",
           '"--train_subset", "balanced"', '"--train_subset", "first"', T_SUBSET[1:]),
    Mutant("B45 study: a size equal to the batch refused", MR + "data_efficiency.py",
           "small = [n for n in sizes if n < args.batchsize]", "small = [n for n in sizes if n <= args.batchsize]",
           T_SUBSET[1:]),
    Mutant("B46 study report: target reached only below it", MR + "data_efficiency_report.py",
           "        if e1 <= target:\n", "        if e1 < target:\n", T_SUBSET[1:]),
    Mutant("B47 study report: error_at interpolated linearly in size", MR + "data_efficiency_report.py",
           "t = (math.log(size) - math.log(s0)) / (math.log(s1) - math.log(s0))", "t = (size - s0) / (s1 - s0)",
           T_SUBSET[1:]),
    Mutant("B48 study report: std with ddof 0", MR + "data_efficiency_report.py",
           "float(errors.std(ddof=1))", "float(errors.std())", T_SUBSET[1:]),
    Mutant("B49 study report: saving factor inverted", MR + "data_efficiency_report.py",
           "data saving factor {full / size:.1f}.", "data saving factor {size / full:.1f}.", T_SUBSET[1:]),
    Mutant("B50 study report: finished whatever the steps", MR + "data_efficiency_report.py",
           'summary["epochs"] == epochs and summary.get("steps") == study.steps)', 'summary["epochs"] == epochs)',
           T_SUBSET[1:]),
    Mutant("B51 numba BN: unbiased batch variance", FC + "numba_kernels.py",
           "    m = x.size // c\n", "    m = x.size // c - 1\n", T_NUMBA, then=NUMBA),
    Mutant("B52 numba ReLU gradient passes at zero", FC + "numba_kernels.py",
           "gx[i] = gy[i] * (one if z[i] > zero else zero)", "gx[i] = gy[i] * (one if z[i] >= zero else zero)",
           T_NUMBA, then=NUMBA),
    Mutant("B53 numba BN apply without gamma", FC + "numba_kernels.py",
           "                y[r, j] = (x2[r, j] - mu) * s * g + b\n", "                y[r, j] = (x2[r, j] - mu) * s + b\n",
           T_NUMBA, then=NUMBA),
    Mutant("B54 numba BN gx: ReLU mask passes at zero", FC + "numba_kernels.py",
           "                g = g2[r, j] * (one if z2[r, j] > zero else zero)\n",
           "                g = g2[r, j] * (one if z2[r, j] >= zero else zero)\n", T_NUMBA, then=NUMBA),
    Mutant("B55 numba BN output: ReLU flag ignored", FC + "numba_kernels.py",
           "v = h * g + b\n                y[r, j] = zero if v <= zero else v  # NaN stays NaN\n",
           "v = h * g + b\n                y[r, j] = v  # NaN stays NaN\n", T_NUMBA, then=NUMBA),
    Mutant("B56 numba max pool: ties go to the later tap", FC + "numba_pool_kernels.py",
           "k_top = 1 if b > a else 0", "k_top = 1 if b >= a else 0", T_NUMBA, then=NUMBA),
    Mutant("B57 numba max pool gradient: tap transposed", FC + "numba_pool_kernels.py",
           "(one if k == 2 * i + j else zero)", "(one if k == 2 * j + i else zero)", T_NUMBA, then=NUMBA),
    Mutant("B58 numba orientation max skips the last plane", FC + "numba_pool_kernels.py",
           "for g in range(1, n_g):", "for g in range(1, n_g - 1):", T_NUMBA, then=NUMBA),
    Mutant("B59 numba orientation max gather keeps one plane", FC + "numba_pool_kernels.py",
           "ggy2[r, j] += ggx3[r, g, j]", "ggy2[r, j] = ggx3[r, g, j]", T_NUMBA, then=NUMBA),
    Mutant("B60 numba col2im: last column dropped", FC + "numba_conv_kernels.py",
           "v1 = min(wo, (w - 1 + pw - j) // sx + 1)", "v1 = min(wo, (w - 1 + pw - j) // sx)", T_NUMBA, then=NUMBA),
    Mutant("B61 MNIST6-M mirrored up-down", "gconv_experiments/MNIST6/mnist6.py",
           "np.flip(images, axis=-1)", "np.flip(images, axis=-2)", (T + "gconv_experiments/MNIST6/test_mnist6.py",)),
    Mutant("B62 MNIST6-180 rotated by 90 degrees", "gconv_experiments/MNIST6/mnist6.py",
           "np.rot90(images, 2, axes=(-2, -1))", "np.rot90(images, 1, axes=(-2, -1))",
           (T + "gconv_experiments/MNIST6/test_mnist6.py",)),
    Mutant("B63 MNIST6 labels interleaved", "gconv_experiments/MNIST6/mnist6.py",
           "np.repeat(np.arange(2, dtype=np.int32), len(index))", "np.tile(np.arange(2, dtype=np.int32), len(index))",
           (T + "gconv_experiments/MNIST6/test_mnist6.py",)),
    Mutant("B64 MNIST6 pixels over 256", "gconv_experiments/MNIST6/mnist6.py",
           "/ np.float32(255))", "/ np.float32(256))", (T + "gconv_experiments/MNIST6/test_mnist6.py",)),
]


def _path(mutant: Mutant) -> str:
    return os.path.join(REPO, mutant.file)


def _occurrences(mutant: Mutant) -> int:
    """How often the text to mutate occurs in the mutant's file."""
    with open(_path(mutant), encoding="utf-8") as f:
        return f.read().count(mutant.old)


def apply(mutant: Mutant) -> bytes:
    """Write the mutant into its file; returns the original bytes. ValueError when `old` does
    not occur exactly once."""
    count = _occurrences(mutant)
    if count != 1:
        raise ValueError(f"{mutant.name}: {mutant.old!r} occurs {count} times in {mutant.file} (expected once)")
    with open(_path(mutant), "rb") as f:
        original = f.read()
    with open(_path(mutant), "wb") as f:
        f.write(original.decode("utf-8").replace(mutant.old, mutant.new).encode("utf-8"))
    return original


def _restore(mutant: Mutant, original: bytes, stat: os.stat_result) -> None:
    with open(_path(mutant), "wb") as f:
        f.write(original)
    os.utime(_path(mutant), ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _pytest(tests: tuple, env: tuple, timeout: float) -> tuple:
    """(exit status, seconds, last lines) of pytest on those of `tests` that exist (an older
    checkout may lack some); status None on a timeout, 5 when none exists."""
    tests = tuple(t for t in tests if os.path.exists(os.path.join(REPO, t)))
    if not tests:
        return 5, 0.0, "no test file of the list exists here"
    environ = dict(os.environ, PYTHONPATH=REPO, PYTHONDONTWRITEBYTECODE="1", **dict(env))
    environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "gconv-mutation-numba"))
    start = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                             cwd=REPO, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)  # its own process group: stopped whole below
    try:
        out, _ = child.communicate(timeout=timeout)
    except BaseException as e:  # a timeout, or this command interrupted
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        if isinstance(e, subprocess.TimeoutExpired):
            return None, time.monotonic() - start, "timeout"
        raise
    lines = out.strip().splitlines()
    return child.returncode, time.monotonic() - start, "\n".join(lines[-3:])


def _judge(runs: list, timeout: float) -> tuple:
    """(exit status, seconds, last lines) of pytest on each (environment, test files) of `runs`
    in turn, while each passes (status 0, or 5: no test ran); the status and lines are the last
    run's, the seconds all runs'."""
    seconds, status, tail = 0.0, 0, ""
    for env, tests in runs:
        status, took, tail = _pytest(tests, env, timeout)
        seconds += took
        if status not in (0, 5):
            break
    return status, seconds, tail


def run_mutant(mutant: Mutant, timeout: float = 1200) -> tuple:
    """('caught' | 'survived' | 'timeout', seconds, pytest's last lines) of one mutant."""
    stat = os.stat(_path(mutant))
    original = apply(mutant)
    try:
        status, seconds, tail = _judge(mutant.runs(), timeout)
    finally:
        _restore(mutant, original, stat)
    verdict = "timeout" if status is None else ("survived" if status in (0, 5) else "caught")
    return verdict, seconds, tail


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through run_mutant's restore


def main(argv: "list | None" = None) -> int:
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _interrupt)  # also where a background shell ignores SIGINT
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=None, help="comma-separated prefixes of mutant names")
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    p.add_argument("--baseline", action="store_true", help="run the selected mutants' tests unmutated")
    p.add_argument("--timeout", type=float, default=1200, help="seconds per mutant's test run")
    p.add_argument("--skip-absent", action="store_true",
                   help="leave out mutants whose text is not in the checkout (measuring an older commit)")
    p.add_argument("--verbose", action="store_true", help="print pytest's last lines for each mutant")
    args = p.parse_args(argv)
    prefixes = [s.strip() for s in args.only.split(",")] if args.only else None
    chosen = [m for m in MUTANTS if prefixes is None or any(m.name.startswith(s) for s in prefixes)]
    for m in list(chosen):  # every mutant applies before anything runs
        if _occurrences(m) != 1:
            print(f"{m.name}: the text to mutate does not occur exactly once in {m.file}"
                  + (" (left out)" if args.skip_absent else ""), file=sys.stderr)
            if not args.skip_absent:
                return 2
            chosen.remove(m)
    if args.list:
        for m in chosen:
            print(f"{m.name}  ({m.file}; {' '.join(m.tests)})")
        return 0
    if args.baseline:
        failed = 0
        for env, tests in dict.fromkeys(run for m in chosen for run in m.runs()):
            status, seconds, tail = _pytest(tests, env, args.timeout)
            failed += status != 0
            print(f"{'ok' if status == 0 else 'FAILED'} ({seconds:.0f} s) {' '.join(tests)} {dict(env) or ''}\n  {tail}")
        return 1 if failed else 0
    caught = 0
    survivors = []
    for m in chosen:
        verdict, seconds, tail = run_mutant(m, args.timeout)
        caught += verdict == "caught"
        if verdict != "caught":
            survivors.append(m.name)
        print(f"{verdict:8s} {seconds:5.0f} s  {m.name}", flush=True)
        if args.verbose:
            print("          " + tail.replace("\n", "\n          "), flush=True)
    print(f"\nscore: {caught} of {len(chosen)} caught ({100 * caught / max(len(chosen), 1):.1f} %)")
    for name in survivors:
        print(f"  survived: {name}")
    return 0 if not survivors else 1


if __name__ == "__main__":
    sys.exit(main())

"""Seconds per G step of the rotated-MNIST GAN (``gconv_experiments.GAN``): 2 discriminator
updates (with R1) + 1 generator update at batch 64, on one CPU thread, for generator /
discriminator pairings and widths; and the seconds of one FID evaluation (10,000 generated
images, their FID features and the P4CNN judge on 2,000 of them).

    python benchmarks/gan_step_time.py [--pairs z2:z2,z2:p4,p4:p4] [--widths 8,16,32]
        [--steps 5] [--fid] [--datadir /work/data/mnist_rot]

Prints one line per (pairing, width) and a JSON line per measurement: the median wall-clock
and CPU (process) seconds of the timed steps; the FID evaluation is timed in CPU seconds. Runs
at one thread: the thread variables are set before NumPy is imported.
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "GROUPY_CPU_CONV_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import chainer  # noqa: E402
import numpy  # noqa: E402

from groupy.fast_cpu import set_num_threads  # noqa: E402
from gconv_experiments.GAN.discriminator import Discriminator  # noqa: E402
from gconv_experiments.GAN.generator import Generator  # noqa: E402
from gconv_experiments.GAN.steps import StepConfig, train_step  # noqa: E402


def time_steps(gen_group, dis_group, width, steps, batchsize=64):
    numpy.random.seed(0)
    gen, dis = Generator(gen_group, ch=width), Discriminator(dis_group, ch=width)
    opt_g = chainer.optimizers.Adam(1e-4, beta1=0.0, beta2=0.9)
    opt_d = chainer.optimizers.Adam(4e-4, beta1=0.0, beta2=0.9)
    opt_g.setup(gen)
    opt_d.setup(dis)
    rng = numpy.random.RandomState(0)
    images = rng.rand(512, 1, 28, 28).astype(numpy.float32)
    labels = rng.randint(0, 10, 512).astype(numpy.int32)
    config = StepConfig(batchsize=batchsize)
    train_step(0, gen, dis, opt_g, opt_d, images, labels, config)  # warm-up
    times, cpu = [], []
    for k in range(1, steps + 1):
        t, c = time.perf_counter(), time.process_time()
        train_step(k, gen, dis, opt_g, opt_d, images, labels, config)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    params = {name: sum(p.size for p in m.params()) for name, m in (("gen", gen), ("dis", dis))}
    return float(numpy.median(times)), float(numpy.median(cpu)), params, gen


def time_fid(gen, datadir):
    from gconv_experiments.GAN.fid import FIDMeasure
    from gconv_experiments.GAN.judge import Judge
    measure = FIDMeasure.from_test_set(datadir, "test.npz")
    judge = Judge.from_run(Judge.DEFAULT_RUN, datadir)
    t = time.process_time()
    labels = numpy.repeat(numpy.arange(10, dtype=numpy.int32), 1000)
    x = gen.sample(labels, numpy.random.default_rng(0))
    t_gen = time.process_time() - t
    fid = measure(x)
    t_fid = time.process_time() - t - t_gen
    acc = judge.accuracy(x[::5], labels[::5])
    t_judge = time.process_time() - t - t_gen - t_fid
    return {"generate_s": t_gen, "fid_features_s": t_fid, "judge_s": t_judge, "fid": fid,
            "judge_accuracy": acc}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", default="z2:z2,z2:p4,p4:p4", help="gen:dis pairings, comma separated")
    p.add_argument("--widths", default="8,16,32", help="ch of both models, comma separated")
    p.add_argument("--steps", type=int, default=5, help="timed G steps per measurement")
    p.add_argument("--fid", action="store_true", help="also time one FID evaluation (with the "
                   "untrained generator) per measurement")
    p.add_argument("--datadir", default="/work/data/mnist_rot")
    args = p.parse_args()
    set_num_threads(1)
    for width in [int(w) for w in args.widths.split(",")]:
        for pair in args.pairs.split(","):
            g, d = pair.split(":")
            med, cpu, params, gen = time_steps(g, d, width, args.steps)
            print(f"G {g:3} D {d:3} ch {width:3}: {med:.3f} s per G step (CPU time {cpu:.3f} s); "
                  f"params G {params['gen']:,} D {params['dis']:,}", flush=True)
            record = {"gen": g, "dis": d, "ch": width, "median_s": med, "cpu_s": cpu, **params}
            if args.fid:
                record["fid_eval"] = time_fid(gen, args.datadir)
                print(f"  one FID evaluation: {record['fid_eval']}", flush=True)
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()

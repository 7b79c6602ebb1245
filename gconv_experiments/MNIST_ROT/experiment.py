"""The MNIST-rot sweep of Cohen & Welling (2016), Table 1: several models x several seeds.

    python -m gconv_experiments.MNIST_ROT.experiment --datadir DIR [--resultdir results/mnist_rot]
        [--models Z2CNN,P4CNN_RP,P4CNN] [--epochs Z2CNN=300,P4CNN=100,P4CNN_RP=100 | --epochs 5]
        [--repeats 5 | --seeds 0,1,2] [--workers N | --scheduler ADDRESS] [--threads T]
        [any other train.py flag, e.g. --batchsize 64 --opt_kwargs "{'alpha': 0.002}"]
    cd gconv_experiments && python MNIST_ROT/experiment.py --trainfn=DIR/train_all.npz \\
        --valfn=DIR/test.npz --modelpath=MNIST_ROT/models/ --repeats 5      # the release's command

Defaults are the released protocol (tscohen/gconv_experiments MNIST_ROT/experiment.py): Z2CNN
300 epochs, P4CNN and P4CNN_RP 100, 5 repeats with seeds 0..4, Adam alpha 1e-3, batch 128,
training on train_all.npz (12k) and reporting the error on test.npz (50k), validation and
snapshots every 25 epochs, augmentation `rotation` as released (at most +-3.14 degrees), input
normalisation and BN re-estimation as MNIST_ROT/train.py's defaults.

Each (model, seed) is one MNIST_ROT/train.py run in <resultdir>/<model>/seed<k>/ with its run
record (run.json). Re-running the command reuses finished runs and resumes interrupted ones --
only where the run record matches the requested settings; otherwise it stops naming the
differing settings (see gconv_experiments/sweep.py). Afterwards the sweep writes results.csv,
results.md, runs.csv, sweep.json and learning_curves.png into <resultdir>
(gconv_experiments/sweep_report.py).
"""
import argparse
import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from gconv_experiments import sweep, sweep_report, training  # noqa: E402
from gconv_experiments.MNIST_ROT import train  # noqa: E402

PAPER_MODELS = ("Z2CNN", "P4CNN_RP", "P4CNN")
PAPER_EPOCHS = {"Z2CNN": 300, "P4CNN": 100, "P4CNN_RP": 100, "P4MCNN": 100}
# Test error as printed in the paper's Table 1 (and the original README): mean % ± np.std of the fraction.
PAPER_RESULTS = {"Z2CNN": "5.03 ± 0.0020", "P4CNN_RP": "3.21 ± 0.0012", "P4CNN": "2.28 ± 0.0004"}
RELEASED_FREQ = 25  # validation (with BN re-estimation) and snapshots every 25 epochs, as released
SWEEP_FLAGS = ("--modelfn", "--epochs", "--seed", "--resultdir", "--resume")
TRAIN_MODULE = "gconv_experiments.MNIST_ROT.train"


def build_parser():
    p = argparse.ArgumentParser(
        prog="MNIST_ROT/experiment.py", allow_abbrev=False,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Run the MNIST-rot sweep (models x seeds) and tabulate mean ± std test error. "
                    "Every default is the released protocol of Cohen & Welling (2016): Z2CNN 300 epochs, "
                    "P4CNN and P4CNN_RP 100, 5 repeats (seeds 0..4), Adam alpha 1e-3 and batch 128 "
                    "(MNIST_ROT/train.py defaults), train_all.npz (12k) vs test.npz (50k), validation and "
                    "snapshots every 25 epochs, augmentation 'rotation' as released. Flags not listed "
                    "here (e.g. --batchsize, --opt_kwargs, --normalization, --bn_reestimation) are "
                    "passed on to every MNIST_ROT/train.py run.")
    p.add_argument("--datadir", default=os.environ.get("DATADIR") or train.DEFAULTS["datadir"],
                   help="folder with the MNIST-rot .npz files (default: $DATADIR, as the release, else "
                        "MNIST_ROT/data); --trainfn/--valfn are relative to it")
    p.add_argument("--trainfn", default=train.DEFAULTS["trainfn"], help="training file (the release: 12k train_all)")
    p.add_argument("--valfn", default=train.DEFAULTS["valfn"],
                   help="file evaluated every --val_freq epochs; its final error is the reported test error")
    p.add_argument("--resultdir", default=os.path.join("results", "mnist_rot"), help="output folder of the sweep")
    p.add_argument("--models", default=",".join(PAPER_MODELS), help="comma-separated model names")
    p.add_argument("--modelpath", default=None,
                   help="folder of the model files (<model>.py), as the release's --modelpath "
                        "MNIST_ROT/models/ (default: the package's models)")
    p.add_argument("--epochs", default=",".join(f"{k}={v}" for k, v in PAPER_EPOCHS.items()),
                   help="one epoch count for all models, or MODEL=EPOCHS pairs (others keep the paper's)")
    p.add_argument("--repeats", type=int, default=5, help="runs per model, seeds 0..repeats-1")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (overrides --repeats)")
    p.add_argument("--train_size", type=int, default=None, help="use only the first N training images")
    p.add_argument("--val_size", type=int, default=None, help="use only the first N test images")
    p.add_argument("--transformations", default="rotation",
                   help="training augmentation. 'rotation' = as released: an angle r uniform in [-pi, pi] "
                        "passed to skimage's rotate, which reads degrees, so at most +-3.14 degrees; "
                        "'uniform_rotation' = true rotations uniform in [0, 2 pi); '' = none")
    p.add_argument("--gpu", type=int, default=-1, help="CUDA device id, -1 for the CPU (the release used GPU 0)")
    p.add_argument("--val_freq", type=int, default=RELEASED_FREQ,
                   help="validate (re-estimate BN, evaluate the --valfn set) every N epochs and after the "
                        "last; on a CPU each costs about 1.3 training epochs")
    p.add_argument("--save_freq", type=int, default=RELEASED_FREQ,
                   help="snapshot every N epochs and after the last (a killed run resumes from the last one)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--dry_run", action="store_true", help="check the settings and every run folder, print the "
                                                         "plan, train nothing")
    sweep.add_distribution_arguments(p)
    return p


def parse_epochs(text, models):
    """'7' -> every model 7 epochs; 'Z2CNN=30,P4CNN=10' -> those, the paper's for the others."""
    epochs = {m: PAPER_EPOCHS.get(m, 100) for m in models}
    text = text.strip()
    try:
        if "=" not in text:
            return {m: _positive(int(text)) for m in models}
        for item in text.split(","):
            name, value = (s.strip() for s in item.split("="))
            if name in epochs:
                epochs[name] = _positive(int(value))
            elif name not in PAPER_EPOCHS:
                raise training.ConfigError(f"--epochs names unknown model {name!r}")
    except ValueError as e:
        if isinstance(e, training.ConfigError):
            raise
        raise training.ConfigError(f"--epochs must be a positive integer or MODEL=EPOCHS pairs joined by ',', "
                                   f"got {text!r}") from None
    return epochs


def _positive(n):
    if n < 1:
        raise ValueError(n)
    return n


def parse_seeds(args):
    if args.seeds is None:
        if args.repeats < 1:
            raise training.ConfigError(f"--repeats must be a positive integer, got {args.repeats}")
        return list(range(args.repeats))
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        raise training.ConfigError(f"--seeds must be integers joined by ',', got {args.seeds!r}") from None
    if len(set(seeds)) != len(seeds):
        raise training.ConfigError(f"--seeds has repeated values: {args.seeds!r}")
    return seeds


def run_dir(resultdir, model, seed):
    return os.path.join(resultdir, model, f"seed{seed}")


def _modelfn(model, args):
    if args.modelpath is None:
        return model
    path = os.path.join(args.modelpath, model + ".py")
    return os.path.abspath(path) if os.path.isfile(path) else path  # else relative to gconv_experiments/


def build_runs(args, extra, models, epochs, seeds):
    """The sweep's runs, every path absolute (a Dask worker may have another working directory)."""
    resultdir = os.path.abspath(args.resultdir)
    runs = []
    for model in models:
        for seed in seeds:
            argv = ["--modelfn", _modelfn(model, args), "--seed", str(seed), "--epochs", str(epochs[model]),
                    "--datadir", os.path.abspath(args.datadir), "--trainfn", args.trainfn, "--valfn", args.valfn,
                    "--transformations", args.transformations, "--gpu", str(args.gpu),
                    "--val_freq", str(args.val_freq), "--save_freq", str(args.save_freq), "--quiet"]
            for flag in ("train_size", "val_size"):
                if getattr(args, flag) is not None:
                    argv += [f"--{flag}", str(getattr(args, flag))]
            runs.append(sweep.Run(group=model, seed=seed, epochs=epochs[model], folder=run_dir(resultdir, model, seed),
                                  argv=tuple(argv + list(extra)), train_module=TRAIN_MODULE))
    return runs


def main(argv=None, dataset="MNIST-rot"):
    """Run the sweep; returns {'summaries': [...], 'table': markdown, 'plot': png path, 'rows': per
    model}. `dataset` names the data in the plot title; the paper's numbers are tabulated for
    MNIST-rot only."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args, extra = build_parser().parse_known_args(argv)
    clash = [a.split("=")[0] for a in extra if a.split("=")[0] in SWEEP_FLAGS]
    if clash:
        raise training.ConfigError(f"{', '.join(clash)} is set by the sweep for each run; use --models, "
                                   f"--epochs, --seeds/--repeats and --resultdir instead")
    threads = sweep.check_distribution_flags(args.workers, args.scheduler, args.threads)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.modelpath is None:
        known = training.available_models(train.MODELS_PACKAGE)
        unknown = [m for m in models if m not in known]
        if not models or unknown:
            raise training.ConfigError(f"--models: unknown model(s) {unknown or args.models!r}; "
                                       f"available: {', '.join(known)}")
    epochs = parse_epochs(args.epochs, models)
    seeds = parse_seeds(args)
    if os.path.exists(args.resultdir) and not os.path.isdir(args.resultdir):
        raise training.ConfigError(f"--resultdir {args.resultdir} is an existing file, not a folder")
    runs = build_runs(args, extra, models, epochs, seeds)
    planned = sweep.plan(runs, fresh_on_change=args.fresh_on_change)
    if args.dry_run:
        for p in planned:
            print(f"{p.run.label}: {p.action} in {p.run.folder} (fingerprint {p.record['fingerprint'][:12]})"
                  + (f" -- {p.note}" if p.note else ""))
        return dict(planned=planned)
    os.makedirs(args.resultdir, exist_ok=True)
    summaries = sweep.execute(planned, workers=args.workers, scheduler=args.scheduler, threads=threads,
                              quiet=args.quiet, log=lambda text: print(text, flush=True))
    report = sweep_report.write_report(
        os.path.abspath(args.resultdir), [p.run for p in planned], summaries,
        sweep.fingerprints(planned, os.path.abspath(args.resultdir)), ["MNIST_ROT/experiment.py"] + argv,
        paper=PAPER_RESULTS if dataset == "MNIST-rot" else None, title=f"{dataset} learning curves")
    print("\n" + report["table"])
    print(f"results: {os.path.join(args.resultdir, 'results.md')}, {os.path.join(args.resultdir, 'results.csv')}")
    print(f"learning curves: {report['plot']}", flush=True)
    return dict(summaries=summaries, planned=planned, **report)


def cli(argv=None):
    try:
        main(argv)
    except (training.ConfigError, FileNotFoundError, sweep.SweepError) as e:
        print(f"MNIST_ROT/experiment.py: error: {e}", file=sys.stderr)
        return 1 if isinstance(e, sweep.SweepError) else 2
    except KeyboardInterrupt:
        print("MNIST_ROT/experiment.py: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(cli())

"""The MNIST-rot sweep of Cohen & Welling (2016), Table 1: several models x several seeds.

    python -m gconv_experiments.MNIST_ROT.experiment --datadir DIR [--resultdir results/mnist_rot]
        [--models Z2CNN,P4CNN_RP,P4CNN] [--epochs Z2CNN=300,P4CNN=100,P4CNN_RP=100 | --epochs 5]
        [--repeats 5 | --seeds 0,1,2] [--train_size N] [--val_size N] [--val_freq 10] [--gpu -1]
        [any other train.py flag, e.g. --batchsize 64 --opt_kwargs "{'lr': 0.002}"]

Defaults are the paper's: Adam (learning rate 1e-3), batch size 128, random-rotation
augmentation, Z2CNN for 300 epochs and P4CNN / P4CNN_RP for 100, 5 repeats with seeds 0..4,
training on train_all.npz (12k) and reporting the error on test.npz (50k).
The test error is measured every --val_freq (default 10) epochs and after the last one.

Each (model, seed) is one train.py run (MNIST_ROT/train.py's main, in this process) in
<resultdir>/<model>/seed<k>/. Re-running the same command continues a killed sweep: runs with a
summary.json for the requested epochs are skipped, runs with a snapshot resume from it (a
finished run asked for more epochs resumes too), and a run killed before its first snapshot
starts again. Afterwards the sweep writes into <resultdir>:
  results.csv           one row per run (errors as fractions)
  results.md            mean ± std (sample std over seeds) test error in percent per model,
                        beside the paper's numbers
  learning_curves.png   validation (solid) and training (dashed) error per epoch, mean over seeds
"""
import argparse
import csv
import json
import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import numpy as np  # noqa: E402

from gconv_experiments import training  # noqa: E402
from gconv_experiments.MNIST_ROT import train  # noqa: E402

PAPER_MODELS = ("Z2CNN", "P4CNN_RP", "P4CNN")
PAPER_EPOCHS = {"Z2CNN": 300, "P4CNN": 100, "P4CNN_RP": 100, "P4MCNN": 100}
# Test error as printed in the paper's Table 1 (and the original README).
PAPER_RESULTS = {"Z2CNN": "5.03 ± 0.0020", "P4CNN_RP": "3.21 ± 0.0012", "P4CNN": "2.28 ± 0.0004"}
SWEEP_FLAGS = ("--modelfn", "--epochs", "--seed", "--resultdir", "--resume")


def build_parser():
    p = argparse.ArgumentParser(
        prog="MNIST_ROT/experiment.py", allow_abbrev=False,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Run the MNIST-rot sweep (models x seeds) and tabulate mean ± std test error. "
                    "Flags not listed here are passed on to every train.py run.")
    p.add_argument("--datadir", default=train.DEFAULTS["datadir"], help="folder with the MNIST-rot .npz files")
    p.add_argument("--resultdir", default=os.path.join("results", "mnist_rot"), help="output folder of the sweep")
    p.add_argument("--models", default=",".join(PAPER_MODELS), help="comma-separated model names")
    p.add_argument("--epochs", default=",".join(f"{k}={v}" for k, v in PAPER_EPOCHS.items()),
                   help="one epoch count for all models, or MODEL=EPOCHS pairs (others keep the paper's)")
    p.add_argument("--repeats", type=int, default=5, help="runs per model, seeds 0..repeats-1")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (overrides --repeats)")
    p.add_argument("--train_size", type=int, default=None, help="use only the first N training images")
    p.add_argument("--val_size", type=int, default=None, help="use only the first N test images")
    p.add_argument("--transformations", default="rotation", help="training augmentation")
    p.add_argument("--gpu", type=int, default=-1, help="CUDA device id, -1 for the CPU")
    p.add_argument("--val_freq", type=int, default=10,
                   help="evaluate on the test set every N epochs (and after the last); on a CPU each "
                        "evaluation (BN re-estimation + 50k test images) costs about 1.3 training epochs")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
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


def run_one(model, seed, epochs, args, extra):
    """Train (or skip, or resume) one run; returns its summary dict."""
    out = run_dir(args.resultdir, model, seed)
    summary_path = os.path.join(out, training.SUMMARY_FILE)
    argv = ["--modelfn", model, "--seed", str(seed), "--epochs", str(epochs), "--resultdir", out,
            "--datadir", args.datadir, "--transformations", args.transformations, "--gpu", str(args.gpu),
            "--val_freq", str(args.val_freq)]
    for flag in ("train_size", "val_size"):
        if getattr(args, flag) is not None:
            argv += [f"--{flag}", str(getattr(args, flag))]
    if args.quiet:
        argv.append("--quiet")
    argv += extra
    summary = _read_summary(summary_path)
    if summary is not None:
        if summary["epochs"] == epochs:
            print(f"{model} seed {seed}: finished earlier ({out}), skipping", flush=True)
            return summary
        if summary["epochs"] > epochs:
            raise training.ConfigError(f"{out} was trained for {summary['epochs']} epochs, more than the "
                                       f"{epochs} requested; choose another --resultdir")
    if os.path.isfile(os.path.join(out, training.SNAPSHOT_FILE)):
        print(f"{model} seed {seed}: resuming from {out}", flush=True)
        return train.main(argv + ["--resume"])
    for name in (training.ARGS_FILE, training.LOG_FILE, training.SUMMARY_FILE):  # killed before its first snapshot
        if os.path.exists(os.path.join(out, name)):
            os.remove(os.path.join(out, name))
    print(f"{model} seed {seed}: training for {epochs} epochs in {out}", flush=True)
    return train.main(argv)


def _read_summary(path):
    """A run's summary.json, or None where it is absent or unreadable (the run is then resumed
    from its snapshot, which rewrites it)."""
    try:
        with open(path) as f:
            summary = json.load(f)
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) and isinstance(summary.get("epochs"), int) else None


def write_results(resultdir, summaries, paper_column=True):
    """results.csv (all runs) and results.md (per model); returns the markdown text."""
    fields = ["model", "seed", "epochs", "test_error", "val_error", "train_error", "n_params",
              "seconds_per_epoch", "seconds_total", "resultdir"]
    with open(os.path.join(resultdir, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for s in summaries:
            w.writerow(s)
    paper = " paper, MNIST-rot (Table 1) |" if paper_column else ""
    lines = [f"| model | runs | epochs | test error (%) mean ± std |{paper} parameters | s / epoch |",
             "|---" * (6 + paper_column) + "|"]
    for model in dict.fromkeys(s["model"] for s in summaries):
        rows = [s for s in summaries if s["model"] == model]
        errors = 100 * np.array([s["test_error"] for s in rows])
        std = f" ± {errors.std(ddof=1):.2f}" if len(rows) > 1 else ""
        paper = f" {PAPER_RESULTS.get(model, '–')} |" if paper_column else ""
        lines.append(f"| {model} | {len(rows)} | {rows[0]['epochs']} | {errors.mean():.2f}{std} |{paper} "
                     f"{rows[0]['n_params']:,} | "
                     f"{np.mean([s['seconds_per_epoch'] for s in rows]):.1f} |")
    text = "\n".join(lines) + "\n\nstd: sample standard deviation over seeds." + (
        " The paper's column is printed as in its Table 1." if paper_column else "") + "\n"
    with open(os.path.join(resultdir, "results.md"), "w") as f:
        f.write(text)
    return text


def plot_learning_curves(resultdir, runs, path, title):
    """Validation (solid) and training (dashed) error per epoch, mean over each model's seeds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (model, seeds) in enumerate(runs.items()):
        color = f"C{i}"
        logs = [training.read_log(os.path.join(run_dir(resultdir, model, s), training.LOG_FILE)) for s in seeds]
        n = min(len(log) for log in logs)
        epochs = np.arange(1, n + 1)
        train_err = np.mean([[e["train_error"] for e in log[:n]] for log in logs], axis=0)
        val = np.array([[np.nan if e["val_error"] is None else e["val_error"] for e in log[:n]] for log in logs])
        ok = ~np.isnan(val).any(axis=0)
        ax.plot(epochs, 100 * train_err, "--", color=color, alpha=0.7, label=f"{model} train")
        ax.plot(epochs[ok], 100 * val[:, ok].mean(axis=0), "-o" if ok.sum() < 20 else "-", color=color,
                markersize=3, label=f"{model} test ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None, dataset="MNIST-rot"):
    """Run the sweep; returns {'summaries': [...], 'table': markdown, 'plot': png path}.
    `dataset` names the data in the plot title; the paper's numbers are tabulated for MNIST-rot only."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    clash = [a.split("=")[0] for a in extra if a.split("=")[0] in SWEEP_FLAGS]
    if clash:
        raise training.ConfigError(f"{', '.join(clash)} is set by the sweep for each run; use --models, "
                                   f"--epochs, --seeds/--repeats and --resultdir instead")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    known = training.available_models(train.MODELS_PACKAGE)
    unknown = [m for m in models if m not in known]
    if not models or unknown:
        raise training.ConfigError(f"--models: unknown model(s) {unknown or args.models!r}; available: {', '.join(known)}")
    epochs = parse_epochs(args.epochs, models)
    seeds = parse_seeds(args)
    os.makedirs(args.resultdir, exist_ok=True)
    summaries = [run_one(m, s, epochs[m], args, extra) for m in models for s in seeds]
    table = write_results(args.resultdir, summaries, paper_column=dataset == "MNIST-rot")
    plot = plot_learning_curves(args.resultdir, {m: seeds for m in models},
                                os.path.join(args.resultdir, "learning_curves.png"), f"{dataset} learning curves")
    print("\n" + table)
    print(f"results: {os.path.join(args.resultdir, 'results.md')}, {os.path.join(args.resultdir, 'results.csv')}")
    print(f"learning curves: {plot}", flush=True)
    return dict(summaries=summaries, table=table, plot=plot)


def cli(argv=None):
    try:
        main(argv)
    except (training.ConfigError, FileNotFoundError) as e:
        print(f"MNIST_ROT/experiment.py: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("MNIST_ROT/experiment.py: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(cli())

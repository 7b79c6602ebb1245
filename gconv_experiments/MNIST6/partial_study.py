"""The partial-equivariance study: full and partial G-CNNs on data where full invariance is
harmful (MNIST6-180, MNIST6-M) and where it helps (MNIST-rot), after Romero & Lohit, "Learning
Partial Equivariances from Data" (NeurIPS 2022, arXiv:2110.10211).

PLAN (setting -> data, models, seeds, epochs; each setting one sweep folder results/partial/<setting>)::

  mnist6_180  MNIST6-180  Z2CNN, P4CNN, PartialP4CNN     seeds 0..2, 20 epochs
  mnist6_m    MNIST6-M    Z2CNN, P4MCNN, PartialP4MCNN   seeds 0..2, 20 epochs
  mnist_rot   MNIST-rot   P4CNN, PartialP4CNN            seeds 0, 1, 100 epochs

Every run is MNIST_ROT/train.py with the released sizes and protocol (Adam 1e-3, batch 128,
train_all.npz -> test.npz, input normalisation and BN re-estimation as MNIST_ROT/train.py), with
--net_kwargs "{'n_classes': 2}" on MNIST6 and no augmentation there (MNIST-rot: the released
'rotation'). The partial models train with temperature falling linearly from 0.5 to 1e-4 over
the run (the paper's default), start with every gate logit at 0.1 (``initial_gate_logit``; the
layers' default is 2.0) and give the gate logits a learning rate of 1e-2 (``gate_lr``; the
paper's and the layers' default is 1e-4). At 1e-4 the gates cannot decide within these runs:
on MNIST6-180 (PartialP4CNN, seeds 0 and 1, 20 epochs, 1,850 updates) every logit moved by
about 0.02, every gate stayed open (probability 0.52) and the test error stayed at chance, 50 %,
although the gate of r2 was the lowest in every layer; at 1e-2 the same model closed r2 in five
of its six partial layers within 3 epochs and reached 0.16 % test error (one run: MNIST_ROT/train.py
--modelfn PartialP4CNN --epochs 3 --val_freq 3 --transformations '' --net_kwargs "{'n_classes':
2, 'initial_gate_logit': 0.1, 'gate_lr': 0.01}" on MNIST6-180, seed 0). Validation and
snapshots every 5 epochs on MNIST6, every 25 (as released) on MNIST-rot.

Epochs: on MNIST6-180 Z2CNN has converged after 2 epochs (a 4-epoch run of MNIST_ROT/train.py,
seed 0: test error 0.00, 0.05, 0.05, 0.00 % after epochs 1-4, training error 0.08 % by epoch 2),
so 20 epochs leave the partial models ten times as long for their gates and the temperature
schedule, within the compute below; MNIST-rot keeps the released 100.

Compute estimate, about 6 CPU-hours (one thread per run, today's code): one-thread seconds per
training epoch of 12k images from the logs of results/mnist_rot (Z2CNN 14.6, P4CNN 24.2,
P4MCNN 38.0; the partial models measured at the full ones' step time, within 5 %), so an epoch
of all 18 MNIST6 runs is 3 x (14.6 + 24.2 + 24.2) + 3 x (14.6 + 38.0 + 38.0) = 461 s, plus
~8 % for the validations: 20 epochs ~2.6 h; MNIST-rot 4 runs x 0.71 h (P4CNN's hours per run
in results/mnist_rot/results.md) ~2.8 h; in all ~5.5 h, on 2 lanes ~3 h of wall time.

Data (folders under --datadir, built by the data commands)::

  python -m gconv_experiments.MNIST6.mnist6 --from-mnist ../shared/data/mnist --datadir DATA/mnist6_180 --variant rot180
  python -m gconv_experiments.MNIST6.mnist6 --from-mnist ../shared/data/mnist --datadir DATA/mnist6_m --variant mirror
  python -m gconv_experiments.MNIST_ROT.mnist_rot --from-mnist ../shared/data/mnist --datadir DATA/mnist_rot

Training: ``bash gconv_experiments/run_lanes.sh gconv_experiments.MNIST6.partial_study DATA
[LANES]`` (lanes of ``--run-job K`` over ``--list-jobs``, gconv_experiments/study_jobs.py).
Report: ``python -m gconv_experiments.MNIST6.partial_study --results results/partial`` writes
results.md (test accuracy mean ± sample std per setting and model; every run with the elements
each partial layer kept, read from its snapshot, and the rotations / mirrors the network stays
invariant to), results.csv (per model), runs.csv (per run) and gate_probabilities.png (the gates' probabilities per layer over the epochs, from log.jsonl).
"""
import argparse
import os
import sys
import types

import numpy as np

from gconv_experiments import study_jobs
from gconv_experiments.atomic_file import save_figure, write_text
from gconv_experiments.MNIST_ROT import evaluate, experiment
from gconv_experiments.MNIST_ROT.reproduction import run_state
from gconv_experiments.layers.partial_gates import gate_layers
from gconv_experiments.sweep import report as sweep_report
from gconv_experiments.training import LOG_FILE, RUN_FILE, ConfigError, read_log, read_record
from groupy.gconv.chainer_gconv.partial import predicted_equivariance

__all__ = ["RESULTS", "PLAN", "DATA", "PARTIAL_NET", "MODEL_FIELDS", "RUN_FIELDS", "jobs", "net_kwargs", "job_argv", "run_job", "run_folder",
           "write_setting_tables", "kept_elements", "collect", "markdown", "plot_gates", "write_report", "main"]

RESULTS = os.path.join("results", "partial")  # the study's folder
DATA = {"mnist6_180": "MNIST6-180", "mnist6_m": "MNIST6-M", "mnist_rot": "MNIST-rot"}
PARTIAL_NET = {"initial_gate_logit": 0.1, "gate_lr": 0.01}
PLAN = {
    "mnist6_180": dict(models=("Z2CNN", "P4CNN", "PartialP4CNN"), seeds=(0, 1, 2), epochs=20, n_classes=2,
                       transformations="", freq=5),
    "mnist6_m": dict(models=("Z2CNN", "P4MCNN", "PartialP4MCNN"), seeds=(0, 1, 2), epochs=20, n_classes=2,
                     transformations="", freq=5),
    "mnist_rot": dict(models=("P4CNN", "PartialP4CNN"), seeds=(0, 1), epochs=100, n_classes=10,
                      transformations="rotation", freq=25),
}
MODEL_FIELDS = ["setting", "data", "model", "runs_finished", "runs_planned", "epochs", "test_accuracy_pct_mean",
                "test_accuracy_pct_std_ddof1", "test_error_mean", "hours_per_run", "n_params"]
RUN_FIELDS = ["setting", "data", "model", "seed", "epochs", "at_epoch", "test_error", "test_accuracy_pct",
              "kept", "invariant_to", "hours", "folder", "problem"]


def _plan(setting: str, epochs: "int | None" = None) -> dict:
    """PLAN[setting], with every run's epochs replaced by `epochs` when given (smoke tests)."""
    if setting not in PLAN:
        raise ConfigError(f"setting {setting!r}: expected one of {', '.join(PLAN)}")
    return dict(PLAN[setting], epochs=epochs or PLAN[setting]["epochs"])


def jobs() -> list:
    """[(setting, model, seed)] in training order, seed-major within each setting.

    >>> jobs()[:2]
    [('mnist6_180', 'Z2CNN', 0), ('mnist6_180', 'P4CNN', 0)]
    """
    return [(setting, model, seed) for setting, plan in PLAN.items()
            for seed in plan["seeds"] for model in plan["models"]]


def net_kwargs(setting: str, model: str) -> dict:
    """The --net_kwargs of a model in a setting.

    >>> net_kwargs("mnist6_180", "PartialP4CNN")
    {'n_classes': 2, 'initial_gate_logit': 0.1, 'gate_lr': 0.01}
    """
    kwargs = {"n_classes": 2} if PLAN[setting]["n_classes"] == 2 else {}
    return dict(kwargs, **PARTIAL_NET) if model.startswith("Partial") else kwargs


def job_argv(setting: str, model: str, seed: int, datadir: str, results: str, epochs: "int | None" = None) -> list:
    """The MNIST_ROT/experiment.py flags of one job (one model and seed, one thread); data from
    <datadir>/<setting>."""
    plan = _plan(setting, epochs)
    return ["--datadir", os.path.join(datadir, setting), "--resultdir", os.path.join(results, setting),
            "--models", model, "--seeds", str(seed), "--epochs", str(plan["epochs"]),
            "--transformations", plan["transformations"], "--val_freq", str(plan["freq"]),
            "--save_freq", str(plan["freq"]), "--net_kwargs", repr(net_kwargs(setting, model)),
            "--threads", "1", "--quiet"]


def run_folder(results: str, setting: str, model: str, seed: int) -> str:
    """The folder of one run of the study."""
    return os.path.join(results, setting, model, f"seed{seed}")


def run_job(index: int, datadir: str, results: str, epochs: "int | None" = None) -> None:
    """Train (or resume) job `index` of jobs() unless it has finished, then rewrite its setting's
    sweep tables from every finished run."""
    setting, model, seed = study_jobs.job_at(jobs(), index)
    if run_state(run_folder(results, setting, model, seed), _plan(setting, epochs)["epochs"])[0] is not None:
        print(f"{setting} {model} seed {seed}: finished already (summary.json)", flush=True)
    else:
        experiment.main(job_argv(setting, model, seed, datadir, results, epochs), dataset=DATA[setting],
                        write_tables=False)
    write_setting_tables(results, setting, epochs)


def write_setting_tables(results: str, setting: str, epochs: "int | None" = None) -> int:
    """The sweep tables (gconv_experiments/sweep/report.py) of results/<setting>/ over its
    finished runs; returns how many runs they cover."""
    plan, folder = _plan(setting, epochs), os.path.join(results, setting)
    runs, summaries, fingerprints = [], [], []
    for model in plan["models"]:
        for seed in plan["seeds"]:
            run = run_folder(results, setting, model, seed)
            summary = run_state(run, plan["epochs"])[0]
            if summary is None:
                continue
            runs.append(types.SimpleNamespace(group=model, seed=seed, folder=run))
            summaries.append(summary)
            fingerprints.append(dict(model=model, seed=seed, epochs=plan["epochs"], folder=os.path.relpath(run, folder),
                                     fingerprint=read_record(os.path.join(run, RUN_FILE))["fingerprint"]))
    if runs:
        sweep_report.write_report(folder, runs, summaries, fingerprints,
                                  ["python", "-m", "gconv_experiments.MNIST6.partial_study"],
                                  title=f"{DATA[setting]}: learning curves")
    return len(runs)


def kept_elements(folder: str) -> tuple:
    """({layer: names of the elements kept} of a finished run's partial layers (test mode, from
    snapshot.h5), names of the stabiliser elements the network stays invariant to); ({}, None)
    for a model without partial layers."""
    model, _ = evaluate.load_run(folder)
    layers = gate_layers(model)
    if not layers:
        return {}, None
    return ({name: link.kept_elements().names for name, link in layers.items()},
            predicted_equivariance(model).names)


def collect(results: str, epochs: "int | None" = None) -> tuple:
    """(model rows, run rows) over PLAN with whatever has finished."""
    model_rows, run_rows = [], []
    for setting in PLAN:
        plan = _plan(setting, epochs)
        for model in plan["models"]:
            finished = []
            for seed in plan["seeds"]:
                folder = run_folder(results, setting, model, seed)
                summary, at, problem = run_state(folder, plan["epochs"])
                kept, invariant = kept_elements(folder) if summary is not None else ({}, None)
                run_rows.append(dict(
                    setting=setting, data=DATA[setting], model=model, seed=seed, epochs=plan["epochs"], at_epoch=at,
                    test_error=None if summary is None else summary["test_error"],
                    test_accuracy_pct=None if summary is None else 100 * (1 - summary["test_error"]),
                    kept="; ".join(f"{k}: {{{', '.join(v)}}}" for k, v in kept.items()),
                    invariant_to="" if invariant is None else "{" + ", ".join(invariant) + "}",
                    hours=None if summary is None else summary["seconds_total"] / 3600,
                    folder=os.path.relpath(folder, results), problem=problem))
                if summary is not None:
                    finished.append(summary)
            row = dict(setting=setting, data=DATA[setting], model=model, runs_finished=len(finished),
                       runs_planned=len(plan["seeds"]), epochs=plan["epochs"],
                       n_params=finished[0].get("n_params") if finished else None)
            if finished:
                accuracy = 100 * (1 - np.array([s["test_error"] for s in finished]))
                row.update(test_accuracy_pct_mean=float(accuracy.mean()),
                           test_accuracy_pct_std_ddof1=float(accuracy.std(ddof=1)) if len(accuracy) > 1 else None,
                           test_error_mean=float(np.mean([s["test_error"] for s in finished])),
                           hours_per_run=sum(s["seconds_total"] for s in finished) / 3600 / len(finished))
            model_rows.append(row)
    return model_rows, run_rows


def _fmt(value, spec):
    return "–" if value is None else format(value, spec)


def markdown(model_rows: list, run_rows: list) -> str:
    """results.md from collect()'s rows."""
    done = sum(r["test_error"] is not None for r in run_rows)
    hours = sum(r["hours"] for r in run_rows if r["hours"] is not None)
    lines = ["# Partial equivariance: full and partial G-CNNs on MNIST6-180, MNIST6-M and MNIST-rot", "",
             f"{done} of {len(run_rows)} planned runs finished; their total compute: {hours:.1f} hours of one "
             "CPU thread (wall time of each run, summed).", "",
             "| data | model | runs | epochs | test accuracy % (mean ± sample std) | hours / run | parameters |",
             "|---|---|---|---|---|---|---|"]
    for r in model_rows:
        acc = _fmt(r.get("test_accuracy_pct_mean"), ".2f")
        if r.get("test_accuracy_pct_std_ddof1") is not None:
            acc += f" ± {r['test_accuracy_pct_std_ddof1']:.2f}"
        lines.append(f"| {r['data']} | {r['model']} | {r['runs_finished']}/{r['runs_planned']} | {r['epochs']} | "
                     f"{acc} | {_fmt(r.get('hours_per_run'), '.2f')} | {_fmt(r['n_params'], ',')} |")
    lines += ["", "Test accuracy: on test.npz of each data set (MNIST6: 1,916 images, half of them transformed; "
              "MNIST-rot: 50,000) after the last epoch. Chance on MNIST6 is 50 %: a network invariant to the "
              "transformation that defines the label cannot do better.", "",
              "## Runs and the elements their partial layers kept", "",
              "Kept: per partial layer, the stabiliser elements whose gate logit is > 0 in the final snapshot "
              "(the identity always; r1..r3 the rotations by 90, 180, 270 degrees, m the mirror). Invariant to: "
              "the elements the whole network stays invariant to (the intersection of each layer's "
              "Stab(K)).", "",
              "| data | model | seed | epochs done | test accuracy % | kept | invariant to | hours | folder |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in run_rows:
        lines.append(f"| {r['data']} | {r['model']} | {r['seed']} | {r['at_epoch']}/{r['epochs']} | "
                     f"{_fmt(r['test_accuracy_pct'], '.2f')} | {r['kept'] or '–'} | {r['invariant_to'] or '–'} | "
                     f"{_fmt(r['hours'], '.2f')} | `{r['folder']}`{' (' + r['problem'] + ')' if r['problem'] else ''} |")
    return "\n".join(lines) + "\n"


def plot_gates(results: str, run_rows: list, path: str) -> "str | None":
    """gate_probabilities.png: one row of panels per (setting, partial model), one panel per
    layer, one colour per stabiliser element, one line per run (from log.jsonl); None when no
    log has gate probabilities yet."""
    curves = {}  # (data, model) -> [log rows with gate probabilities]
    for r in run_rows:
        log_path = os.path.join(results, r["folder"], LOG_FILE)
        if r["model"].startswith("Partial") and os.path.isfile(log_path):
            log = [e for e in read_log(log_path, drop_partial_last=True) if e.get("gate_probabilities")]
            if log:
                curves.setdefault((r["data"], r["model"]), []).append(log)
    if not curves:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    from groupy.gconv.chainer_gconv.partial import element_names

    layers = list(next(iter(curves.values()))[0][0]["gate_probabilities"])
    fig, axes = plt.subplots(len(curves), len(layers), figsize=(2.4 * len(layers), 2.2 * len(curves)),
                             squeeze=False, sharey=True)
    for row, ((data, model), logs) in enumerate(curves.items()):
        for col, layer in enumerate(layers):
            ax = axes[row, col]
            for log in logs:
                epochs = [e["epoch"] for e in log]
                probs = np.array([e["gate_probabilities"][layer] for e in log])
                names = element_names("C4" if probs.shape[1] == 3 else "D4")[1:]
                for j in range(probs.shape[1]):
                    ax.plot(epochs, probs[:, j], color=f"C{j}", alpha=0.8, linewidth=1,
                            label=names[j] if log is logs[0] else None)
            ax.axhline(0.5, color="grey", linewidth=0.5, linestyle=":")
            ax.set_ylim(0, 1)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(f"{data} {model}: {layer}" if col == 0 else layer, fontsize=8)
            if row == len(curves) - 1:
                ax.set_xlabel("epoch")
        axes[row, 0].set_ylabel("gate probability")
        axes[row, -1].legend(fontsize=6, loc="lower right")
    return save_figure(fig, path, dpi=100, format="png")


def write_report(results: str, epochs: "int | None" = None) -> str:
    """results.md, results.csv, runs.csv and gate_probabilities.png in `results`, and each
    setting's sweep tables; returns the markdown."""
    for setting in PLAN:
        write_setting_tables(results, setting, epochs)
    model_rows, run_rows = collect(results, epochs)
    text = markdown(model_rows, run_rows)
    write_text(os.path.join(results, "results.md"), text)
    write_text(os.path.join(results, "results.csv"), sweep_report.csv_text(MODEL_FIELDS, model_rows))
    write_text(os.path.join(results, "runs.csv"), sweep_report.csv_text(RUN_FIELDS, run_rows))
    plot_gates(results, run_rows, os.path.join(results, "gate_probabilities.png"))
    return text


def main(argv: "list | None" = None) -> int:
    """Command line (gconv_experiments/study_jobs.py): the job list, one job, or the report;
    returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m gconv_experiments.MNIST6.partial_study",
                                description="The partial-equivariance study's job list, jobs and report "
                                            "(results.md, results.csv, runs.csv, gate_probabilities.png).")
    p.add_argument("--results", default=RESULTS, help="the study's folder")
    p.add_argument("--datadir", default=None,
                   help="folder holding the data folders " + ", ".join(DATA) + " (for --run-job)")
    study_jobs.add_job_arguments(p, "setting model seed")
    p.add_argument("--epochs", type=int, default=None,
                   help="every run this many epochs instead of the plan's (smoke tests; the report then "
                        "expects runs of this length)")
    args = p.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        p.error(f"--epochs {args.epochs}: expected a whole number >= 1")

    def report():
        if not os.path.isdir(args.results):
            raise ConfigError(f"--results {args.results}: no such folder (the runs are trained by "
                              "`bash gconv_experiments/run_lanes.sh gconv_experiments.MNIST6.partial_study DATA`)")
        print(write_report(args.results, args.epochs), end="")

    return study_jobs.run_study(
        args, "partial_study", {ValueError: 2, FileNotFoundError: 2}, jobs=jobs,
        run_job=lambda k: run_job(k, os.path.abspath(args.datadir), os.path.abspath(args.results), args.epochs),
        report=report, datadir="the folder holding " + ", ".join(DATA))


if __name__ == "__main__":
    sys.exit(main())

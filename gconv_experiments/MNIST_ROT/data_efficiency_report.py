"""The report of the data-efficiency study (MNIST_ROT/data_efficiency.py): which runs have
finished, the table of test error against training-set size, the headline numbers by log-log
interpolation, and the plot. Written from whatever has finished, at any time.

>>> size, how = size_reaching([1000, 3000], [0.04, 0.01], 0.02)  # log-log: 1000 * 3 ** (log 2 / log 4)
>>> round(size, 6), how
(1732.050808, 'interpolated')
>>> round(error_at([300, 3000], [0.10, 0.01], 1000)[0], 12)  # 0.1 * 0.1 ** (log(1000/300) / log 10)
0.03
"""
import math
import os
from typing import Sequence

import numpy as np

from gconv_experiments.atomic_file import save_figure, write_text
from gconv_experiments.sweep.report import csv_text
from gconv_experiments.sweep.runs import read_summary
from gconv_experiments.training import LOG_FILE, SUMMARY_FILE, ConfigError, read_log

__all__ = ["GROUP_FIELDS", "RUN_FIELDS", "size_reaching", "error_at", "collect", "group_rows", "headline",
           "markdown", "plot", "write_report"]

GROUP_FIELDS = ["model", "size", "runs_finished", "runs_planned", "test_error_mean", "test_error_std_ddof1",
                "test_error_pct_mean", "test_error_pct_std_ddof1", "hours_per_run"]
RUN_FIELDS = ["model", "size", "seed", "finished", "test_error", "epochs_done", "epochs", "steps", "hours", "folder"]
_FLOOR = 1e-6  # an error of 0 is taken as this on the log scale


def _log(value: float) -> float:
    return math.log(max(value, _FLOOR))


def size_reaching(sizes: Sequence[int], errors: Sequence[float], target: float) -> tuple:
    """The smallest training-set size at which the error curve (sizes ascending, mean errors)
    reaches `target`, interpolated linearly in (log size, log error): (size, 'interpolated');
    (sizes[0], 'at or below the smallest size') when already there; (None, 'not reached').

    >>> size_reaching([300, 1000], [0.05, 0.03], 0.01)
    (None, 'not reached')
    """
    if not sizes:
        return None, "not reached"
    if errors[0] <= target:
        return sizes[0], "at or below the smallest size"
    for (s0, e0), (s1, e1) in zip(zip(sizes, errors), zip(sizes[1:], errors[1:])):
        if e1 <= target:
            t = (_log(target) - _log(e0)) / (_log(e1) - _log(e0))
            return math.exp(math.log(s0) + t * (math.log(s1) - math.log(s0))), "interpolated"
    return None, "not reached"


def error_at(sizes: Sequence[int], errors: Sequence[float], size: int) -> tuple:
    """The error of the curve at `size`: (error, 'measured' / 'interpolated') or (None,
    'outside the measured range'); log-log interpolation between the neighbouring sizes.

    >>> error_at([300, 1000], [0.05, 0.03], 1000)
    (0.03, 'measured')
    """
    if size in sizes:
        return errors[list(sizes).index(size)], "measured"
    for (s0, e0), (s1, e1) in zip(zip(sizes, errors), zip(sizes[1:], errors[1:])):
        if s0 < size < s1:
            t = (math.log(size) - math.log(s0)) / (math.log(s1) - math.log(s0))
            return math.exp(_log(e0) + t * (_log(e1) - _log(e0))), "interpolated"
    return None, "outside the measured range"


def collect(study) -> list:
    """One row per planned run of `study` (data_efficiency.Study): finished (a summary for the
    study's epochs and steps), its test error, epochs done (from the log while unfinished), hours."""
    rows = []
    for model, size, seed in study.jobs():
        folder = study.run_folder(model, size, seed)
        epochs = study.epochs(size)
        summary, _ = read_summary(os.path.join(folder, SUMMARY_FILE))
        finished = (summary is not None and summary["epochs"] == epochs and summary.get("steps") == study.steps)
        if finished:
            done, hours = epochs, summary.get("seconds_total", 0.0) / 3600
        else:
            try:
                log = read_log(os.path.join(folder, LOG_FILE), drop_partial_last=True)
            except ConfigError:
                log = []
            done, hours = (log[-1]["epoch"] if log else 0), (log[-1].get("elapsed", 0.0) / 3600 if log else 0.0)
        rows.append(dict(model=model, size=size, seed=seed, finished=finished, epochs=epochs, steps=study.steps,
                         test_error=summary["test_error"] if finished else None, epochs_done=done, hours=hours,
                         folder=os.path.relpath(folder, study.resultdir)))
    return rows


def group_rows(run_rows: list) -> list:
    """One row per (model, size), models in plan order, sizes ascending: finished runs, mean and
    sample std of the error."""
    groups = {}
    for r in run_rows:
        groups.setdefault((r["model"], r["size"]), []).append(r)
    order = list(dict.fromkeys(r["model"] for r in run_rows))
    out = []
    for (model, size), runs in sorted(groups.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
        errors = np.array([r["test_error"] for r in runs if r["finished"]], dtype=np.float64)
        row = dict(model=model, size=size, runs_finished=len(errors), runs_planned=len(runs),
                   errors=errors.tolist())
        if len(errors):
            std = float(errors.std(ddof=1)) if len(errors) > 1 else None
            row.update(test_error_mean=float(errors.mean()), test_error_std_ddof1=std,
                       test_error_pct_mean=100 * float(errors.mean()), test_error_pct_std_ddof1=None if std is None else 100 * std,
                       hours_per_run=sum(r["hours"] for r in runs if r["finished"]) / len(errors))
        out.append(row)
    return out


def _curve(rows, model):
    points = [(r["size"], r["test_error_mean"]) for r in rows if r["model"] == model and r["runs_finished"]]
    return [s for s, _ in points], [e for _, e in points]


def headline(rows: list, reference: str = "Z2CNN", at: int = 1000) -> list:
    """The headline lines: for each other model the size at which it reaches `reference`'s
    error with its largest measured size (the data saving factor = that size / the size
    reached), and each model's error at `at` images."""
    sizes, errors = _curve(rows, reference)
    models = list(dict.fromkeys(r["model"] for r in rows))
    if not sizes:
        lines = [f"- {reference} has no finished run yet: no data saving factor."]
    else:
        full, target = sizes[-1], errors[-1]
        lines = [f"- Reference: {reference} with {full:,} images, test error {100 * target:.2f}%."]
        for model in models:
            if model == reference:
                continue
            model_sizes, model_errors = _curve(rows, model)
            size, how = size_reaching(model_sizes, model_errors, target)
            if not model_sizes:
                lines.append(f"- {model}: no finished run yet.")
            elif size is None:
                lines.append(f"- {model}: does not reach it within the sizes measured (up to {model_sizes[-1]:,} "
                             f"images); no data saving factor.")
            elif how == "interpolated":
                lines.append(f"- {model}: reaches it with about {size:,.0f} images (log-log interpolation); "
                             f"data saving factor {full / size:.1f}.")
            else:
                lines.append(f"- {model}: reaches it already with {size:,} images (the smallest size measured); "
                             f"data saving factor at least {full / size:.1f} (not measured beyond).")
    for model in models:
        value, how = error_at(*_curve(rows, model), at)
        lines.append(f"- {model} with {at:,} images: " + (f"{100 * value:.2f}% test error ({how})."
                                                            if value is not None else f"{how}."))
    return lines


def _fmt(value, spec):
    return "–" if value is None else format(value, spec)


def markdown(study, run_rows: list, rows: list, comparison: Sequence[str] = ()) -> str:
    """results.md: the headline, the settings, the table per (model, size), the lines of
    `comparison` (the largest size against the reproduction) and every run."""
    done = sum(r["finished"] for r in run_rows)
    hours = sum(r["hours"] for r in run_rows)
    lines = [f"# How much data does a G-CNN save? MNIST-rot, {study.steps:,} Adam steps per run", "",
             *headline(rows), "",
             f"{done} of {len(run_rows)} planned runs finished ({hours:.1f} hours of compute{'' if done == len(run_rows) else ' so far'}, summed over "
             f"runs). Each run: the class-balanced subset of train_all.npz of the given size for its seed "
             f"(`--train_subset balanced`, nested across sizes), {study.steps:,} Adam updates (alpha 1e-3, batch "
             f"{study.batchsize}), BN re-estimation and evaluation on test.npz as released, after the last step. "
             "Mean ± sample std (ddof 1) over the finished seeds; interpolation in log size and log error "
             "between measured sizes.", "",
             "| model | training images | runs | test error % | hours / run |", "|---|---|---|---|---|"]
    for r in rows:
        pct = _fmt(r.get("test_error_pct_mean"), ".2f")
        if r.get("test_error_pct_std_ddof1") is not None:
            pct += f" ± {r['test_error_pct_std_ddof1']:.2f}"
        lines.append(f"| {r['model']} | {r['size']:,} | {r['runs_finished']}/{r['runs_planned']} | {pct} | "
                     f"{_fmt(r.get('hours_per_run'), '.2f')} |")
    lines += ["", *comparison, "## Runs", "", "| model | size | seed | test error % | epochs done | hours | folder |",
              "|---|---|---|---|---|---|---|"]
    for r in run_rows:
        error = _fmt(None if r["test_error"] is None else 100 * r["test_error"], ".2f")
        lines.append(f"| {r['model']} | {r['size']:,} | {r['seed']} | {error} | {r['epochs_done']}/{r['epochs']} | "
                     f"{r['hours']:.2f} | {r['folder']} |")
    return "\n".join(lines) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def plot(rows: list, path: str, title: str, reference: str = "Z2CNN") -> str:
    """data_efficiency.png: mean test error against training-set size (log-log) per model, the
    seeds' range shaded and each seed a dot; the reference's error with all images dotted."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, ax = plt.subplots(figsize=(7, 4.8))
    for i, model in enumerate(dict.fromkeys(r["model"] for r in rows)):
        mine = [r for r in rows if r["model"] == model and r["runs_finished"]]
        if not mine:
            continue
        sizes = np.array([r["size"] for r in mine], dtype=float)
        ax.plot(sizes, [100 * r["test_error_mean"] for r in mine], "-o", color=f"C{i}", markersize=4,
                label=f"{model} (mean of {_count(max(r['runs_finished'] for r in mine), 'seed')})")
        ax.fill_between(sizes, [100 * min(r["errors"]) for r in mine], [100 * max(r["errors"]) for r in mine],
                        color=f"C{i}", alpha=0.2, linewidth=0)
        for r in mine:
            ax.plot([r["size"]] * len(r["errors"]), [100 * e for e in r["errors"]], ".", color=f"C{i}", alpha=0.5)
    sizes, errors = _curve(rows, reference)
    if sizes:
        ax.axhline(100 * errors[-1], color="gray", linestyle=":",
                   label=f"{reference} with {sizes[-1]:,} images")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):  # 1-2-5 ticks: labelled even within one decade
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training images (class-balanced subset of train_all.npz)")
    ax.set_ylabel("test error (%), rotated test set")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return save_figure(fig, path, dpi=110, format="png")


def write_report(study, reproduction: "str | None" = None) -> dict:
    """Write results.md, results.csv, runs.csv, reproduction.csv (the largest size against the
    reproduction in `reproduction`, default the folder mnist_rot beside the study's) and
    data_efficiency.png into the study's folder from the runs finished so far; returns
    {'markdown', 'rows', 'runs', 'comparison', 'plot', 'finished'}."""
    from gconv_experiments.MNIST_ROT import data_efficiency_consistency as consistency  # it uses error_at

    run_rows = collect(study)
    rows = group_rows(run_rows)
    reproduction = reproduction or consistency.reproduction_folder(study.resultdir)
    compared, problem = consistency.compare(study, run_rows, reproduction)
    os.makedirs(study.resultdir, exist_ok=True)
    text = markdown(study, run_rows, rows, consistency.markdown_section(study, compared, problem, reproduction))
    write_text(os.path.join(study.resultdir, "results.md"), text)
    write_text(os.path.join(study.resultdir, "results.csv"), csv_text(GROUP_FIELDS, rows))
    write_text(os.path.join(study.resultdir, "runs.csv"), csv_text(RUN_FIELDS, run_rows))
    write_text(os.path.join(study.resultdir, "reproduction.csv"), csv_text(consistency.FIELDS, compared))
    finished = sum(r["finished"] for r in run_rows)
    path = plot(rows, os.path.join(study.resultdir, "data_efficiency.png"),
                f"MNIST-rot: test error vs training-set size\n({study.steps:,} Adam steps; "
                f"{finished} of {len(run_rows)} runs finished)")
    return dict(markdown=text, rows=rows, runs=run_rows, comparison=compared, plot=path, finished=finished)

"""What a finished sweep writes into its folder, once, from the runs' summary and log files::

  results.csv          one row per model: runs, epochs, seeds, the test error's mean and
                       population std (np.std, ddof 0) as fractions, the paper-style text
                       "mean% ± std" (e.g. "2.28 ± 0.0004", the std as a fraction, as in Cohen &
                       Welling's Table 1), and mean ± sample std (ddof 1) in percent
  results.md           the same table in markdown, beside the paper's numbers where given
  runs.csv             one row per run: errors (fractions), parameters, folder, fingerprint
  sweep.json           the command line and every run's folder and fingerprint
  learning_curves.png  validation (solid) and training (dashed) error per epoch, mean over seeds

Timings are in results.md only, so results.csv and runs.csv are identical for identical runs
(whatever ran them, one after another or on a Dask cluster).

A report is never silently replaced by one of other runs (:func:`report_target_problem`): a
folder holding report files but no readable sweep.json (e.g. a published report written by
another command), or a sweep.json listing runs (folder and fingerprint) that the new report
leaves out, is refused unless asked for (--overwrite_report). The same sweep again, or with
more seeds or epochs, rewrites its own report.
"""
import csv
import io
import json
import os
from typing import Sequence

import numpy as np

from gconv_experiments.atomic_file import save_figure, write_text
from gconv_experiments.training import LOG_FILE, ConfigError, read_log

__all__ = ["RUN_FIELDS", "MODEL_FIELDS", "REPORT_FILES", "model_statistics", "csv_text", "model_rows",
           "markdown_table", "report_target_problem", "check_report_target", "write_report", "plot_learning_curves"]

RUN_FIELDS = ["model", "seed", "epochs", "test_error", "val_error", "train_error", "train_loss",
              "test_loss", "n_params", "folder", "fingerprint"]
MODEL_FIELDS = ["model", "runs", "epochs", "seeds", "test_error_mean", "test_error_std_ddof0",
                "paper_style", "test_error_pct_mean", "test_error_pct_std_ddof1", "n_params"]
REPORT_FILES = ("results.md", "results.csv", "runs.csv", "sweep.json", "learning_curves.png")


def model_statistics(errors: Sequence[float]) -> dict:
    """Statistics of one model's test errors (fractions, one per seed): mean, population std
    (ddof 0, as the paper), the paper-style text, and mean / sample std (ddof 1) in percent
    (sample std None for a single run).

    >>> model_statistics([0.02, 0.03])["paper_style"]
    '2.50 ± 0.0050'
    """
    e = np.asarray(errors, dtype=np.float64)
    mean, std = float(e.mean()), float(e.std(ddof=0))
    sample = float(100 * e.std(ddof=1)) if len(e) > 1 else None
    return dict(test_error_mean=mean, test_error_std_ddof0=std, paper_style=f"{100 * mean:.2f} ± {std:.4f}",
                test_error_pct_mean=100 * mean, test_error_pct_std_ddof1=sample)


def csv_text(fields: list, rows: list) -> str:
    """CSV text of `rows` (dicts) with the columns `fields`; None is written as an empty cell.

    >>> print(csv_text(["model", "error"], [{"model": "P4CNN", "error": 0.1}, {"model": "Z2CNN"}]), end="")
    model,error
    P4CNN,0.1
    Z2CNN,
    """
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: ("" if row.get(k) is None else _csv_value(row[k])) for k in fields})
    return buf.getvalue()


def _csv_value(value):
    return repr(value) if isinstance(value, float) else value  # repr: every digit, round-trips


def model_rows(runs: list, summaries: list) -> list:
    """One dict per model (in sweep order) with MODEL_FIELDS and its mean seconds per epoch."""
    rows = []
    for model in dict.fromkeys(r.group for r in runs):
        mine = [(r, s) for r, s in zip(runs, summaries) if r.group == model]
        stats = model_statistics([s["test_error"] for _, s in mine])
        epochs = sorted({s["epochs"] for _, s in mine})
        seconds = [s.get("seconds_per_epoch") for _, s in mine if s.get("seconds_per_epoch") is not None]
        rows.append(dict(model=model, runs=len(mine), epochs="/".join(map(str, epochs)),
                         seeds=" ".join(str(r.seed) for r, _ in mine), n_params=mine[0][1].get("n_params"),
                         seconds_per_epoch=float(np.mean(seconds)) if seconds else None, **stats))
    return rows


def markdown_table(rows: list, paper: "dict | None" = None, paper_label: str = "paper") -> str:
    """results.md: mean ± std per model, in percent and paper-style, beside `paper` {model: text}
    in a column headed `paper_label`."""
    head = "| model | runs | epochs | test error (%), mean ± sample std | paper-style mean ± std |"
    if paper is not None:
        head += f" {paper_label} |"
    head += " parameters | s / epoch |"
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for row in rows:
        pct = f"{row['test_error_pct_mean']:.2f}"
        if row["test_error_pct_std_ddof1"] is not None:
            pct += f" ± {row['test_error_pct_std_ddof1']:.2f}"
        cells = [row["model"], str(row["runs"]), row["epochs"], pct, row["paper_style"]]
        if paper is not None:
            cells.append(paper.get(row["model"], "–"))
        cells.append("–" if row["n_params"] is None else f"{row['n_params']:,}")
        cells.append("–" if row["seconds_per_epoch"] is None else f"{row['seconds_per_epoch']:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    notes = ("Test error over the seeds of each model. Percent column: mean ± sample standard deviation "
             "(ddof 1). Paper-style column: the mean in percent ± np.std (ddof 0) of the error as a "
             "fraction, the way the paper's MNIST-rot table prints it (e.g. 2.28 ± 0.0004).")
    return "\n".join(lines) + "\n\n" + notes + "\n"


def report_target_problem(resultdir: str, fingerprints: list) -> str:
    """Why writing the report of the runs `fingerprints` (dicts with 'folder', relative to
    `resultdir`, and 'fingerprint') into `resultdir` would replace a report of other runs; ""
    when it would not (no report there, or one of a subset of these runs).

    >>> report_target_problem("/nonexistent", [{"folder": "Z2CNN/seed0", "fingerprint": "ab"}])
    ''
    """
    present = [name for name in REPORT_FILES if os.path.lexists(os.path.join(resultdir, name))]
    if not present:
        return ""
    path = os.path.join(resultdir, "sweep.json")
    try:
        with open(path, encoding="utf-8") as f:
            earlier = {(r["folder"], r["fingerprint"]) for r in json.load(f)["runs"]}
    except (OSError, ValueError, KeyError, TypeError):
        return (f"it holds a report ({', '.join(present)}) without a readable sweep.json, so not one a sweep "
                f"wrote (e.g. a published report)")
    left_out = sorted(earlier - {(fp["folder"], fp["fingerprint"]) for fp in fingerprints})
    if left_out:
        folder, fingerprint = left_out[0]
        return (f"it holds the report of {len(earlier)} run(s) (sweep.json), {len(left_out)} of which this "
                f"sweep does not cover (e.g. {folder} with fingerprint {str(fingerprint)[:12]})")
    return ""


def check_report_target(resultdir: str, fingerprints: list, overwrite: bool = False,
                        shown: "str | None" = None) -> None:
    """ConfigError naming --resultdir (as `shown`, default `resultdir`) and --overwrite_report
    when :func:`report_target_problem` finds a report of other runs in `resultdir` (unless
    `overwrite`)."""
    problem = report_target_problem(resultdir, fingerprints)
    if problem and not overwrite:
        raise ConfigError(f"--resultdir {shown or resultdir}: {problem}; choose another --resultdir, or pass "
                          f"--overwrite_report to replace that report")


def write_report(resultdir: str, runs: list, summaries: list, fingerprints: list, command: list,
                 paper: "dict | None" = None, paper_label: str = "paper", title: str = "learning curves") -> dict:
    """Write every file of the module docstring into `resultdir`; returns {'table': markdown,
    'plot': png path, 'rows': per-model rows}."""
    rows = model_rows(runs, summaries)
    run_rows = [dict(s, model=r.group, seed=r.seed, folder=os.path.relpath(r.folder, resultdir),
                     fingerprint=fp["fingerprint"]) for r, s, fp in zip(runs, summaries, fingerprints)]
    # sweep.json first: it says whose report the folder holds (report_target_problem)
    write_text(os.path.join(resultdir, "sweep.json"),
               json.dumps(dict(command=list(command), runs=fingerprints), indent=2, allow_nan=False) + "\n")
    write_text(os.path.join(resultdir, "runs.csv"), csv_text(RUN_FIELDS, run_rows))
    write_text(os.path.join(resultdir, "results.csv"), csv_text(MODEL_FIELDS, rows))
    table = markdown_table(rows, paper, paper_label)
    write_text(os.path.join(resultdir, "results.md"), table)
    plot = plot_learning_curves(runs, os.path.join(resultdir, "learning_curves.png"), title)
    return dict(table=table, plot=plot, rows=rows)


def plot_learning_curves(runs: list, path: str, title: str) -> str:
    """Validation (solid) and training (dashed) error per epoch of each model, mean over its runs."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

    fig, ax = plt.subplots(figsize=(9, 4.5))
    highest = 0.0
    for i, model in enumerate(dict.fromkeys(r.group for r in runs)):
        color = f"C{i}"
        logs = [read_log(os.path.join(r.folder, LOG_FILE)) for r in runs if r.group == model]
        n = min(len(log) for log in logs)
        if n == 0:
            continue
        epochs = np.arange(1, n + 1)
        train_err = np.mean([[e["train_error"] for e in log[:n]] for log in logs], axis=0)
        val = np.array([[np.nan if e["val_error"] is None else e["val_error"] for e in log[:n]] for log in logs])
        ok = ~np.isnan(val).any(axis=0)
        ax.plot(epochs, 100 * train_err, "--", color=color, alpha=0.7, label=f"{model} train")
        ax.plot(epochs[ok], 100 * val[:, ok].mean(axis=0), "-o" if ok.sum() < 20 else "-", color=color,
                markersize=3, label=f"{model} test ({len(logs)} run{'s' if len(logs) > 1 else ''})")
        highest = max(highest, 100 * float(np.max(train_err)), 100 * float(np.nanmax(val, initial=0.0)))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")
    # logarithmic above 0.1 %, linear below, so that a training error of exactly 0 stays on the plot
    ax.set_yscale("symlog", linthresh=0.1, linscale=0.5)
    ax.set_ylim(bottom=0)
    ticks = [0, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
    ax.yaxis.set_major_locator(FixedLocator([t for t in ticks if t <= max(highest, 1) * 2]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    ax.set_title(title)
    return save_figure(fig, path, dpi=110, format="png")

"""The data-efficiency study's largest size against the reproduction at a like budget.

With all of train_all.npz (12,000 images) a study run trains on the reproduction's training set
(results/mnist_rot, the released protocol) for the study's updates (4,000: 43 epochs), while the
reproduction ran 100 or 300 epochs and evaluated every 25 with the same BN re-estimation. Its
evaluations just before and just after the study's updates bracket the study's budget; the
reproduction's mean error there, interpolated in (log updates, log error), is what a study run
should reach. Only reproduction runs of the same protocol count: the same train_all.npz and
test.npz (SHA-256), no subset, and the same model, augmentation, optimizer, batch size,
normalization and BN re-estimation (their run.json).

>>> bracket([25, 50, 75], per_epoch=94, steps=4000)  # 2,350 <= 4,000 <= 4,700 updates
(25, 50)
"""
import glob
import os

import numpy as np

from gconv_experiments.MNIST_ROT.data_efficiency_report import error_at
from gconv_experiments.MNIST_ROT.mnist_rot import N_TRAIN_ALL
from gconv_experiments.sweep.runs import read_summary
from gconv_experiments.training import LOG_FILE, RUN_FILE, SUMMARY_FILE, ConfigError, read_log, read_record

__all__ = ["REPRODUCTION_RUNS", "FIELDS", "reproduction_folder", "bracket", "compare", "markdown_section"]

# study model -> its runs in the reproduction's folder (<setting>/<model>/seed<k>)
REPRODUCTION_RUNS = {"Z2CNN": "released/Z2CNN", "Z2CNN_uniform_rotation": "uniform_rotation/Z2CNN",
                     "P4CNN": "released/P4CNN", "P4MCNN": "p4mcnn/P4MCNN"}
FIELDS = ["model", "reproduction", "reproduction_runs", "study_runs", "study_error_mean", "study_error_std_ddof1",
          "before_epoch", "before_updates", "before_error_mean", "before_error_std_ddof1", "after_epoch",
          "after_updates", "after_error_mean", "after_error_std_ddof1", "interpolated_error", "difference_pp",
          "end_epoch", "end_error_mean", "end_error_std_ddof1"]
_SAME = ("modelfn", "transformations", "opt", "opt_kwargs", "batchsize", "weight_decay", "lr_decay_schedule",
         "normalization", "bn_reestimation", "bn_averaging")


def reproduction_folder(resultdir: str) -> str:
    """The reproduction's folder beside the study's: <parent of resultdir>/mnist_rot."""
    return os.path.join(os.path.dirname(os.path.abspath(resultdir)), "mnist_rot")


def bracket(epochs, per_epoch: int, steps: int) -> "tuple | None":
    """(last evaluated epoch at or before `steps` updates, first at or after), or None when the
    evaluations do not surround `steps`."""
    before = [e for e in epochs if e * per_epoch <= steps]
    after = [e for e in epochs if e * per_epoch >= steps]
    return (max(before), min(after)) if before and after else None


def _record(folder):
    try:
        return read_record(os.path.join(folder, RUN_FILE))
    except ConfigError:
        return None


def _same_protocol(record: dict, study_record: dict) -> bool:
    """A reproduction run trained on the whole training file of the study run, as the study run did."""
    mine, theirs = study_record["config"], record["config"]
    nets = mine.get("net_kwargs") or {}, theirs.get("net_kwargs") or {}
    return (all(mine.get(k) == theirs.get(k) for k in _SAME) and theirs.get("train_size") is None
            and all(nets[0][k] == nets[1][k] for k in nets[0].keys() & nets[1].keys())
            and all((study_record.get("data") or {}).get(f, {}).get("sha256") is not None
                    and study_record["data"][f]["sha256"] == (record.get("data") or {}).get(f, {}).get("sha256")
                    for f in ("trainfn", "valfn")))


def _stats(values):
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), (float(values.std(ddof=1)) if len(values) > 1 else None)


def compare(study, run_rows: list, reproduction: str, full_size: int = N_TRAIN_ALL) -> tuple:
    """(rows, None), one row per study model with reproduction runs of its protocol, or ([],
    reason). `run_rows` are data_efficiency_report.collect(study); `full_size` is the number of
    images of train_all.npz (the study's largest size must be all of them)."""
    if study.sizes[-1] != full_size:
        return [], f"the study's largest size ({study.sizes[-1]:,}) is not all {full_size:,} images of train_all.npz"
    if not os.path.isdir(reproduction):
        return [], f"no reproduction in {reproduction}"
    per_epoch = -(-full_size // study.batchsize)
    rows = []
    for model in study.models:
        mine = [r for r in run_rows if r["model"] == model and r["size"] == full_size and r["finished"]]
        study_record = _record(os.path.join(study.resultdir, mine[0]["folder"])) if mine else None
        if model not in REPRODUCTION_RUNS or study_record is None:
            continue
        evaluations, ends = [], []
        for folder in sorted(glob.glob(os.path.join(reproduction, REPRODUCTION_RUNS[model], "seed*"))):
            record = _record(folder)
            if record is None or not _same_protocol(record, study_record):
                continue
            try:
                log = read_log(os.path.join(folder, LOG_FILE), drop_partial_last=True)
            except ConfigError:
                continue
            evaluations.append({r["epoch"]: r["val_error"] for r in log if r.get("val_error") is not None})
            summary, _ = read_summary(os.path.join(folder, SUMMARY_FILE))
            if summary is not None and summary["epochs"] == record["config"].get("epochs"):
                ends.append((summary["epochs"], summary["test_error"]))
        common = set.intersection(*(set(e) for e in evaluations)) if evaluations else set()
        found = bracket(sorted(common), per_epoch, study.steps)
        if found is None:
            continue
        row = dict(model=model, reproduction=REPRODUCTION_RUNS[model], reproduction_runs=len(evaluations),
                   study_runs=len(mine))
        row["study_error_mean"], row["study_error_std_ddof1"] = _stats([r["test_error"] for r in mine])
        for name, epoch in zip(("before", "after"), found):
            row[f"{name}_epoch"], row[f"{name}_updates"] = epoch, epoch * per_epoch
            row[f"{name}_error_mean"], row[f"{name}_error_std_ddof1"] = _stats([e[epoch] for e in evaluations])
        if found[0] == found[1]:
            row["interpolated_error"] = row["before_error_mean"]
        else:
            row["interpolated_error"] = error_at([row["before_updates"], row["after_updates"]],
                                                 [row["before_error_mean"], row["after_error_mean"]], study.steps)[0]
        row["difference_pp"] = 100 * (row["study_error_mean"] - row["interpolated_error"])
        last = [e for e in ends if e[0] == max(ends)[0]] if ends else []
        row["end_epoch"] = last[0][0] if last else None
        row["end_error_mean"], row["end_error_std_ddof1"] = _stats([e for _, e in last]) if last else (None, None)
        rows.append(row)
    return rows, (None if rows else f"no finished {full_size:,}-image run with reproduction runs of its protocol "
                                     f"in {reproduction}")


def _pct(mean, std):
    return "–" if mean is None else f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


def markdown_section(study, rows: list, problem: "str | None", reproduction: str) -> list:
    """The lines of results.md's section on the largest size against the reproduction."""
    where = os.path.relpath(reproduction, study.resultdir)
    lines = [f"## {study.sizes[-1]:,} images against the reproduction", ""]
    if problem:
        return lines + [f"Not compared: {problem}.", ""]
    lines += [f"With {study.sizes[-1]:,} images a run trains on the reproduction's training set (`{where}`: the "
              "same train_all.npz and test.npz by SHA-256, model, augmentation, optimizer, batch and BN "
              f"re-estimation) for {study.steps:,} updates; the reproduction ran on to the epoch of the last column. "
              "It evaluated along the way with the same procedure: its mean test error at the evaluations just "
              f"before and after {study.steps:,} updates, interpolated in log updates and log error, is the error "
              "a study run should reach. Test error %, mean ± sample std; (n): runs.", ""]
    same = len({(r["before_epoch"], r["after_epoch"]) for r in rows}) == 1
    heads = [f"epoch {rows[0][f'{k}_epoch']} ({rows[0][f'{k}_updates']:,} updates)" if same else k
             for k in ("before", "after")]
    lines += [f"| model | study, {study.steps:,} updates | reproduction | reproduction, {heads[0]} | reproduction, "
              f"{heads[1]} | reproduction, interpolated | study − interpolated (pp) | reproduction at its end "
              "(epoch) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        at = {k: _pct(r[f"{k}_error_mean"], r[f"{k}_error_std_ddof1"])
              + ("" if same else f" (epoch {r[f'{k}_epoch']}, {r[f'{k}_updates']:,} updates)") for k in ("before", "after")}
        end = (f"{_pct(r['end_error_mean'], r['end_error_std_ddof1'])} ({r['end_epoch']})"
               if r["end_epoch"] is not None else "–")
        lines.append(f"| {r['model']} | {_pct(r['study_error_mean'], r['study_error_std_ddof1'])} ({r['study_runs']}) | "
                     f"{r['reproduction']} ({r['reproduction_runs']}) | {at['before']} | {at['after']} | "
                     f"{100 * r['interpolated_error']:.2f} | {r['difference_pp']:+.2f} | {end} |")
    return lines + [""]

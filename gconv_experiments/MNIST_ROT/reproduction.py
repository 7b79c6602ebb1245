"""The MNIST-rot reproduction of Cohen & Welling (2016) as a whole: which runs it consists of
(PLAN), and the report over all of them in results/mnist_rot/.

PLAN (setting -> models and seeds; each setting is one sweep folder, results/mnist_rot/<setting>)::

  released          Z2CNN 300, P4CNN_RP 100, P4CNN 100 epochs, seeds 0..4: the sweep as released
  p4mcnn            P4MCNN 100 epochs, seeds 0, 1 (the released protocol otherwise)
  uniform_rotation  Z2CNN 300, P4CNN 100 epochs, seeds 0, 1, --transformations uniform_rotation
  dropout           P4CNN 100 epochs, seeds 0, 1, dropout 0.3 after l1, l3, l4, l5, l6 (Z2CNN's
                    places; the 2023 tiny paper's "P4CNN drop")
  momentum_sgd      P4CNN, P4MCNN 100 epochs, seeds 0, 1, MomentumSGD lr 0.01, momentum 0.5
                    (the tiny paper's optimiser) instead of Adam

The runs are trained by gconv_experiments/MNIST_ROT/run_sweeps.sh (gconv_experiments/run_lanes.sh
for this module): lanes that take the jobs
listed by ``--list-jobs`` in order, each job one ``--run-job K`` (one MNIST_ROT/experiment.py
sweep of one model and seed, then the setting's own tables rewritten from all its finished runs).

The report (``python -m gconv_experiments.MNIST_ROT.reproduction --results results/mnist_rot
--datadir DIR --mnist MNIST_DIR``; its text and plot are made by reproduction_report.py) writes
into --results:

* results.md: per setting and model: finished runs, test error mean ± sample std (%), the
  paper-style text (mean % ± np.std of the fraction), the paper's number and our difference to
  it, the error on upright MNIST, wall time per run; then every run (with the test error one
  evaluation earlier and the last epoch's training error, which show a final loss spike);
  written with whatever has finished (rows say how many);
* results.csv: the per-model rows, every digit;
* learning_curves.png: test (solid) and training (dashed) error per epoch, mean over finished
  runs;
* <setting>/: each setting's sweep tables (results.md, results.csv, runs.csv, sweep.json,
  learning_curves.png; gconv_experiments/sweep/report.py) over every finished run of the
  setting, rewritten after each job and by the report.

A run counts as finished only when its summary.json is for the planned epochs, its snapshot.h5
is there, and its run.json is the run PLAN asks for: every setting of the setting's job
(``planned_record``; gconv_experiments/sweep/record_check.py) and the data files of DATA_SHA256.
Any other run is listed as a problem and left out of the means and the setting's tables.
The upright-MNIST error of a finished run is computed once (evaluate.py) and kept in its folder
as upright_mnist.json, keyed by the sha256 of its snapshot and of the MNIST test file, so it is
recomputed whenever either changes.
"""
import argparse
import json
import os
import sys
import types

from gconv_experiments.atomic_file import write_text
from gconv_experiments.command_errors import run_command
from gconv_experiments.file_digest import sha256_file
from gconv_experiments.MNIST_ROT import evaluate, experiment, train
from gconv_experiments.MNIST_ROT.experiment import PAPER_EPOCHS, PAPER_RESULTS
from gconv_experiments.MNIST_ROT.reproduction_report import SETTING_TEXT, markdown, plot
from gconv_experiments.sweep import command_line, record_check
from gconv_experiments.sweep import report as sweep_report
from gconv_experiments.sweep.runs import read_summary
from gconv_experiments.training import (
    LOG_FILE, RUN_FILE, SNAPSHOT_FILE, SUMMARY_FILE, ConfigError, read_log, read_record)

__all__ = ["RESULTS", "PLAN", "DATA_SHA256", "UPRIGHT_FILE", "FIELDS", "jobs", "job_argv", "run_job", "write_setting_tables", "run_folder", "run_state", "planned_record", "plan_problem", "finished_run", "upright_error", "trajectory", "collect", "write_report", "main"]

RESULTS = os.path.join("results", "mnist_rot")  # the reproduction's folder
PLAN = {
    "released": dict(models=("Z2CNN", "P4CNN_RP", "P4CNN"), seeds=(0, 1, 2, 3, 4), transformations="rotation"),
    "p4mcnn": dict(models=("P4MCNN",), seeds=(0, 1), transformations="rotation"),
    "uniform_rotation": dict(models=("Z2CNN", "P4CNN"), seeds=(0, 1), transformations="uniform_rotation"),
    # the 2023 tiny paper's variants: P4CNN with dropout 0.3 where Z2CNN drops ("drop"), and
    # MomentumSGD lr 0.01, momentum 0.5 instead of Adam
    "dropout": dict(models=("P4CNN",), seeds=(0, 1), transformations="rotation",
                    flags=("--net_kwargs", "{'dropout': 0.3, 'dropout_after': (1, 3, 4, 5, 6)}")),
    "momentum_sgd": dict(models=("P4CNN", "P4MCNN"), seeds=(0, 1), transformations="rotation",
                         flags=("--opt", "MomentumSGD", "--opt_kwargs", "{'lr': 0.01, 'momentum': 0.5}")),
}
# The data of every run: the MNIST-rot-like files that `mnist_rot --from-mnist` builds from the four
# official raw MNIST files (seed 0; byte-identical on every rebuild, results/mnist_rot/README.md)
DATA_SHA256 = {"trainfn": "e0c4c2bd87743f2302830b1b84988bbf632d3064d538960d36504d2bf596101a",
               "valfn": "c6f9366a50ab3b744352836c0703053ce65a32ecd6265204533276ba9e67fd6c"}
UPRIGHT_FILE = "upright_mnist.json"
FIELDS = ["setting", "model", "runs_finished", "runs_planned", "epochs", "test_error_mean",
          "test_error_std_ddof0", "paper_style", "test_error_pct_mean", "test_error_pct_std_ddof1",
          "paper", "difference_pp", "upright_error_pct_mean", "hours_per_run", "n_params"]


def jobs() -> list:
    """[(setting, model, seed, transformations)] in training order: setting by setting (the
    released sweep first), seed-major within a setting, so that every model has finished runs
    early on (an interrupted reproduction has a little of everything, not all of one model)."""
    return [(setting, model, seed, plan["transformations"]) for setting, plan in PLAN.items()
            for seed in plan["seeds"] for model in plan["models"]]


def job_argv(setting: str, model: str, seed: int, datadir: str, results: str) -> list:
    """The MNIST_ROT/experiment.py flags of one job: one model and seed of a setting, one thread."""
    plan = PLAN[setting]
    return ["--datadir", datadir, "--resultdir", os.path.join(results, setting), "--models", model,
            "--seeds", str(seed), "--transformations", plan["transformations"], "--threads", "1", "--quiet",
            *plan.get("flags", ())]


def run_job(index: int, datadir: str, results: str) -> None:
    """Train (or resume) job `index` of jobs() unless its run has finished (a summary.json for its
    epochs: never trained again), then rewrite its setting's tables from every finished run."""
    all_jobs = jobs()
    if not 0 <= index < len(all_jobs):
        raise ConfigError(f"--run-job {index}: no such job (0..{len(all_jobs) - 1}; see --list-jobs)")
    setting, model, seed, _ = all_jobs[index]
    if run_state(run_folder(results, setting, model, seed), PAPER_EPOCHS[model])[0] is not None:
        print(f"{setting} {model} seed {seed}: finished already (summary.json)", flush=True)
    else:
        experiment.main(job_argv(setting, model, seed, datadir, results), write_tables=False)
    write_setting_tables(results, setting)


def write_setting_tables(results: str, setting: str) -> int:
    """The sweep tables of results/<setting>/ over every finished run of the setting (none are
    written while no run has finished); returns the number of runs they cover."""
    plan, folder = PLAN[setting], os.path.join(results, setting)
    runs, summaries, fingerprints = [], [], []
    for model in plan["models"]:
        for seed in plan["seeds"]:
            run = run_folder(results, setting, model, seed)
            summary, _, _ = finished_run(results, setting, model, seed)
            if summary is None:
                continue
            record = read_record(os.path.join(run, RUN_FILE))
            runs.append(types.SimpleNamespace(group=model, seed=seed, folder=run))
            summaries.append(summary)
            fingerprints.append(dict(model=model, seed=seed, epochs=PAPER_EPOCHS[model],
                                     folder=os.path.relpath(run, folder), fingerprint=record["fingerprint"]))
    if runs:
        sweep_report.write_report(
            folder, runs, summaries, fingerprints,
            ["python", "-m", "gconv_experiments.MNIST_ROT.reproduction"],
            paper=PAPER_RESULTS if setting == "released" else None, paper_label="paper (Table 1)",
            title=f"MNIST-rot, {SETTING_TEXT[setting]}: learning curves")
    return len(runs)


def run_folder(results: str, setting: str, model: str, seed: int) -> str:
    """The folder of one run of the reproduction."""
    return os.path.join(results, setting, model, f"seed{seed}")


def run_state(folder: str, epochs: int) -> tuple:
    """(summary or None, last epoch logged, problem or ""): the summary only when the run
    finished `epochs`; problem names a damaged summary.json / log.jsonl or other epochs."""
    summary, reason = _summary(folder)
    if summary is not None and summary.get("epochs") == epochs:
        return summary, epochs, ""
    problem = (f"summary.json damaged ({reason})" if reason else
               f"summary.json is for {summary['epochs']} epochs" if summary is not None else "")
    try:
        log = read_log(os.path.join(folder, LOG_FILE), drop_partial_last=True)
    except ConfigError as e:
        log, problem = [], problem or f"log.jsonl damaged ({e})"
    return None, (log[-1]["epoch"] if log else 0), problem


def planned_record(setting: str, model: str, seed: int, results: str) -> tuple:
    """(the run record its job's train.py command line gives, without data hashes; the
    --net_kwargs the setting gives), for record_check.plan_differences."""
    args, extra = experiment.build_parser().parse_known_args(
        job_argv(setting, model, seed, "data", results))  # the data folder is not part of a run's identity
    argv = command_line.run_argv(experiment.run_flags(args, model), seed, PAPER_EPOCHS[model], extra)
    return record_check.planned_record(argv + ["--resultdir", run_folder(results, setting, model, seed)],
                                       defaults=train.DEFAULTS, models_package=train.MODELS_PACKAGE)


def plan_problem(results: str, setting: str, model: str, seed: int) -> str:
    """Why the finished run of (setting, model, seed) is not the run PLAN asks for ("" when it
    is): no snapshot.h5, an unreadable run.json, or the settings and data files that differ."""
    folder = run_folder(results, setting, model, seed)
    if not os.path.isfile(os.path.join(folder, SNAPSHOT_FILE)):
        return f"{SNAPSHOT_FILE} is missing (a finished run keeps its final weights)"
    try:
        saved = read_record(os.path.join(folder, RUN_FILE))
    except ConfigError as e:
        return f"{RUN_FILE} cannot be read ({e})"
    diffs = record_check.plan_differences(saved, *planned_record(setting, model, seed, results), DATA_SHA256)
    if diffs:
        return f"{RUN_FILE} is not the run this setting plans (the run's -> the plan's): " + "; ".join(diffs)
    return ""


def finished_run(results: str, setting: str, model: str, seed: int) -> tuple:
    """run_state of the run, its summary kept only when :func:`plan_problem` finds nothing:
    (summary or None, last epoch, problem or "")."""
    summary, at, problem = run_state(run_folder(results, setting, model, seed), PAPER_EPOCHS[model])
    if summary is not None:
        problem = plan_problem(results, setting, model, seed)
        if problem:
            summary = None
    return summary, at, problem


def _summary(folder):
    return read_summary(os.path.join(folder, SUMMARY_FILE))


def upright_error(folder: str, datadir: str, mnist_dir: str) -> float:
    """The run's error on the upright MNIST test set, cached in the folder (see module doc)."""
    key = dict(snapshot_sha256=sha256_file(os.path.join(folder, SNAPSHOT_FILE)),
               mnist_test_sha256=sha256_file(evaluate.mnist_rot.mnist_file_path(
                   mnist_dir, evaluate.mnist_rot.MNIST_FILES["test_images"])))
    path = os.path.join(folder, UPRIGHT_FILE)
    if os.path.isfile(path):
        try:
            with open(path) as f:
                cached = json.load(f)
            if all(cached.get(k) == v for k, v in key.items()):
                return cached["error"]
        except (OSError, ValueError, KeyError):
            pass  # unreadable: computed again below
    model, record = evaluate.load_run(folder)
    x, y = evaluate.upright_mnist_test(mnist_dir)
    loss, error = evaluate.error_rate(model, x, y, evaluate.input_normalization(record, datadir))
    write_text(path, json.dumps(dict(key, error=error, loss=loss, images=len(y)), indent=2) + "\n")
    return error


def trajectory(folder: str) -> tuple:
    """(training error of the last epoch, (epoch, test error) of the evaluation before the last
    or None) from a run's log.jsonl; (None, None) when the log cannot be read."""
    try:
        log = read_log(os.path.join(folder, LOG_FILE), drop_partial_last=True)
    except ConfigError:
        return None, None
    evaluations = [(r["epoch"], r["val_error"]) for r in log if r.get("val_error") is not None]
    return (log[-1].get("train_error") if log else None), (evaluations[-2] if len(evaluations) > 1 else None)


def _paper_mean(text):
    return float(text.split("±")[0]) if text else None


def collect(results: str, datadir: "str | None" = None, mnist_dir: "str | None" = None) -> tuple:
    """(model rows, run rows) over PLAN; upright errors only when datadir and mnist_dir are given."""
    model_rows, run_rows = [], []
    for setting, plan in PLAN.items():
        for model in plan["models"]:
            epochs = PAPER_EPOCHS[model]
            finished = []
            for seed in plan["seeds"]:
                folder = run_folder(results, setting, model, seed)
                summary, at, problem = finished_run(results, setting, model, seed)
                upright = None
                if summary is not None and datadir and mnist_dir:
                    try:
                        upright = upright_error(folder, datadir, mnist_dir)
                    except ConfigError as e:  # e.g. a model file that is not the run's
                        summary, problem = None, f"its weights cannot be evaluated on upright MNIST ({e})"
                last_train, earlier = trajectory(folder) if summary is not None else (None, None)
                run_rows.append(dict(setting=setting, model=model, seed=seed, epochs=epochs, at_epoch=at,
                                     test_error=None if summary is None else summary["test_error"],
                                     upright_error=upright, last_train_error=last_train, earlier_eval=earlier,
                                     hours=None if summary is None else summary["seconds_total"] / 3600,
                                     folder=os.path.relpath(folder, results), problem=problem))
                if summary is not None:
                    finished.append((summary, upright))
            row = dict(setting=setting, model=model, runs_finished=len(finished), runs_planned=len(plan["seeds"]),
                       epochs=epochs, n_params=finished[0][0].get("n_params") if finished else None)
            if finished:
                row.update(sweep_report.model_statistics([s["test_error"] for s, _ in finished]))
                row["hours_per_run"] = sum(s["seconds_total"] for s, _ in finished) / 3600 / len(finished)
                ups = [u for _, u in finished if u is not None]
                row["upright_error_pct_mean"] = 100 * sum(ups) / len(ups) if ups else None
            paper = PAPER_RESULTS.get(model) if setting == "released" else None
            row["paper"] = paper
            if paper and finished:
                row["difference_pp"] = row["test_error_pct_mean"] - _paper_mean(paper)
            model_rows.append(row)
    return model_rows, run_rows


def write_report(results: str, datadir: "str | None" = None, mnist_dir: "str | None" = None) -> str:
    """results.md, results.csv and learning_curves.png over every setting, and each setting's own
    tables; returns the markdown."""
    for setting in PLAN:
        write_setting_tables(results, setting)
    model_rows, run_rows = collect(results, datadir, mnist_dir)
    text = markdown(model_rows, run_rows)
    write_text(os.path.join(results, "results.md"), text)
    write_text(os.path.join(results, "results.csv"), sweep_report.csv_text(FIELDS, model_rows))
    plot(results, run_rows, os.path.join(results, "learning_curves.png"))
    return text


def main(argv: "list | None" = None) -> int:
    """Command line: the job list, one job, or the report; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m gconv_experiments.MNIST_ROT.reproduction",
                                description="The MNIST-rot reproduction's job list and report (results.md, "
                                            "results.csv, learning_curves.png).")
    p.add_argument("--results", default=RESULTS, help="the reproduction's folder")
    p.add_argument("--datadir", default=None, help="MNIST-rot-like data (for the upright-MNIST column)")
    p.add_argument("--mnist", default=None, help="raw MNIST IDX folder (for the upright-MNIST column)")
    p.add_argument("--list-jobs", action="store_true",
                   help="print 'K setting model seed' per run, in training order")
    p.add_argument("--run-job", type=int, metavar="K", default=None,
                   help="train job K of --list-jobs (needs --datadir), then rewrite its setting's tables")
    p.add_argument("--report-only", action="store_true", help="the report alone (as without --list-jobs and "
                   "--run-job; the flag every study module takes, gconv_experiments/study_jobs.py)")
    args = p.parse_args(argv)
    if args.list_jobs:
        print("\n".join(f"{k} {setting} {model} {seed}" for k, (setting, model, seed, _) in enumerate(jobs())))
        return 0
    if args.run_job is not None:
        if not args.datadir:
            p.error("--run-job needs --datadir (the MNIST-rot-like data folder)")
        return run_command(lambda: run_job(args.run_job, os.path.abspath(args.datadir), os.path.abspath(args.results)),
                           "reproduction", {ConfigError: 2})
    if bool(args.datadir) != bool(args.mnist):
        p.error("--datadir and --mnist go together (both are needed for the upright-MNIST column)")
    if not os.path.isdir(args.results):
        p.error(f"--results {args.results}: no such folder (the runs are trained by gconv_experiments/MNIST_ROT/run_sweeps.sh)")
    return run_command(lambda: print(write_report(args.results, args.datadir, args.mnist), end=""),
                       "reproduction", {ValueError: 2})  # ConfigError is a ValueError


if __name__ == "__main__":
    sys.exit(main())

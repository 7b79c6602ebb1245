"""The report of the MNIST-rot reproduction (MNIST_ROT/reproduction.py) as text and a plot:
results.md from the model and run rows of ``reproduction.collect``, the paper's ordering, and
learning_curves.png. The rows are plain dicts, so the report can be rendered from any rows.

>>> ordering([dict(setting="released", model=m, test_error_pct_mean=e)
...           for m, e in (("P4CNN", 2.3), ("P4CNN_RP", 2.6), ("Z2CNN", 5.0))])
'Ordering P4CNN < P4CNN_RP < Z2CNN (paper): holds (2.30 / 2.60 / 5.00 %).'
"""
import os
import types

from gconv_experiments.MNIST_ROT import tiny_paper
from gconv_experiments.sweep import report as sweep_report

__all__ = ["SETTING_TEXT", "CURVE_SUFFIX", "markdown", "ordering", "plot"]

SETTING_TEXT = {"released": "released protocol", "p4mcnn": "released protocol",
                "uniform_rotation": "uniform rotation augmentation",
                "dropout": "dropout 0.3 after l1, l3-l6", "momentum_sgd": "MomentumSGD lr 0.01, momentum 0.5"}
# what tells a setting's curves apart from the released ones in learning_curves.png
CURVE_SUFFIX = {"released": "", "p4mcnn": "", "uniform_rotation": " (uniform rot.)", "dropout": " (dropout)",
                "momentum_sgd": " (SGD)"}


def _fmt(value, spec, none="–"):
    return none if value is None else format(value, spec)


def markdown(model_rows: list, run_rows: list) -> str:
    """results.md of the reproduction from collect()'s rows."""
    n_done = sum(r["test_error"] is not None for r in run_rows)
    hours = sum(r["hours"] for r in run_rows if r["hours"] is not None)
    lines = ["# MNIST-rot: Cohen & Welling (2016), reproduced with this repository", "",
             f"{n_done} of {len(run_rows)} planned runs finished; their total compute: {hours:.1f} hours "
             "of one CPU thread (wall time of each run, summed).", "",
             "| setting | model | runs | epochs | test error % (mean ± sample std) | paper-style | paper | "
             "ours − paper (pp) | upright MNIST error % | hours / run | parameters |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in model_rows:
        pct = "–"
        if r.get("test_error_pct_mean") is not None:
            pct = f"{r['test_error_pct_mean']:.2f}"
            if r.get("test_error_pct_std_ddof1") is not None:
                pct += f" ± {r['test_error_pct_std_ddof1']:.2f}"
        lines.append("| " + " | ".join([
            SETTING_TEXT[r["setting"]], r["model"], f"{r['runs_finished']}/{r['runs_planned']}", str(r["epochs"]),
            pct, r.get("paper_style") or "–", r["paper"] or "–", _fmt(r.get("difference_pp"), "+.2f"),
            _fmt(r.get("upright_error_pct_mean"), ".2f"), _fmt(r.get("hours_per_run"), ".2f"),
            _fmt(r["n_params"], ",")]) + " |")
    lines += ["", ordering(model_rows), "",
              "Test error: on the 50,000-image rotated test set, after the last epoch (the released "
              "protocol's reported number). Paper-style: mean % ± np.std (ddof 0) of the error as a "
              "fraction, as the paper's Table 1 prints it. Upright MNIST: the same final weights on the "
              "official MNIST test set (10,000 digits, not rotated). Hours: wall time of one run on one "
              "CPU thread (training, BN re-estimation and evaluation).", "",
              "## Runs", "",
              "Training error in the last epoch (measured during training, with the augmentation and any "
              "dropout: Z2CNN's dropout keeps it near 5 %): for the models without dropout it is near 0 late "
              "in training, and a high value marks final weights taken during a loss spike (Adam, once the "
              "training loss is near zero, jumps now and then and recovers within a few epochs); the test "
              "error of the evaluation before the last shows the run before it.", "",
              "| setting | model | seed | epochs done | test error % | test error % one evaluation earlier "
              "(epoch) | training error % in the last epoch | upright MNIST error % | hours | folder |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    problems = []
    for r in run_rows:
        lines.append("| " + " | ".join([
            SETTING_TEXT[r["setting"]], r["model"], str(r["seed"]), f"{r['at_epoch']}/{r['epochs']}",
            _fmt(None if r["test_error"] is None else 100 * r["test_error"], ".2f"),
            "–" if r["earlier_eval"] is None else f"{100 * r['earlier_eval'][1]:.2f} ({r['earlier_eval'][0]})",
            _fmt(None if r["last_train_error"] is None else 100 * r["last_train_error"], ".2f"),
            _fmt(None if r["upright_error"] is None else 100 * r["upright_error"], ".2f"),
            _fmt(r["hours"], ".2f"), f"`{r['folder']}`" + (" (see below)" if r["problem"] else "")]) + " |")
        if r["problem"]:
            problems.append(f"* `{r['folder']}`: {r['problem']}; counted as not finished.")
    if problems:
        lines += ["", "Runs with a problem:", ""] + problems
    lines += ["", tiny_paper.claims_markdown(run_rows).rstrip("\n")]
    return "\n".join(lines) + "\n"


def ordering(model_rows: list) -> str:
    """Whether the paper's ordering P4CNN < P4CNN_RP < Z2CNN holds for the released sweep."""
    means = {r["model"]: r.get("test_error_pct_mean") for r in model_rows if r["setting"] == "released"}
    if any(means.get(m) is None for m in ("P4CNN", "P4CNN_RP", "Z2CNN")):
        return "Ordering P4CNN < P4CNN_RP < Z2CNN (paper): not known yet (a released model has no finished run)."
    holds = means["P4CNN"] < means["P4CNN_RP"] < means["Z2CNN"]
    return (f"Ordering P4CNN < P4CNN_RP < Z2CNN (paper): {'holds' if holds else 'does NOT hold'} "
            f"({means['P4CNN']:.2f} / {means['P4CNN_RP']:.2f} / {means['Z2CNN']:.2f} %).")


def plot(results: str, run_rows: list, path: str) -> "str | None":
    """learning_curves.png over the finished runs, one curve pair per (setting, model)."""
    runs = [types.SimpleNamespace(group=r["model"] + CURVE_SUFFIX[r["setting"]],
                                  folder=os.path.join(results, r["folder"]))
            for r in run_rows if r["test_error"] is not None]
    if runs:
        sweep_report.plot_learning_curves(runs, path, "MNIST-rot: test (solid) and training (dashed) error")
    return path if runs else None

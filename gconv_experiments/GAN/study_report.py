"""The report of the GAN study (gconv_experiments/GAN/study.py), written into its folder from
whatever has finished:

* results.md: per pairing the finished runs, the final FID (after the last G step) and the best
  FID (the lowest of a run's evaluations) as mean ± sample std over the seeds, the class
  accuracy of the final generator's digits as judged by the published P4CNN, hours per run and
  parameter counts; then every run;
* results.csv (per pairing) and runs.csv (per run), every digit;
* fid_curves.png: FID against G steps, one line per pairing (the mean over its runs at each
  evaluation) with the seeds' spread (min to max) as a band;
* samples_<pairing>.png: 10 digits of each class (one row per class, labelled) drawn by the
  final generator of the pairing's finished run with the lowest seed, from a fixed noise set.

A run counts when its study_run.json records the settings the study asks for; a run folder with
other settings is listed with the differences and left out of the means.
"""
from __future__ import annotations

import json
import os

import numpy

from gconv_experiments.atomic_file import save_figure, write_text
from gconv_experiments.GAN import samples as sample_grid
from gconv_experiments.GAN import study as gan_study
from gconv_experiments.GAN import train
from gconv_experiments.GAN.snapshot import snapshot_step
from gconv_experiments.sweep.report import csv_text
from gconv_experiments.training import ConfigError

__all__ = ["PAIRING_FIELDS", "RUN_FIELDS", "read_run", "collect", "pairing_rows", "markdown",
           "plot_curves", "save_samples", "write_report"]

PAIRING_FIELDS = ["pairing", "generator", "discriminator", "runs_finished", "runs_planned", "steps",
                  "final_fid_mean", "final_fid_std_ddof1", "best_fid_mean", "best_fid_std_ddof1",
                  "judge_accuracy_pct_mean", "judge_accuracy_pct_std_ddof1", "hours_per_run",
                  "gen_params", "disc_params"]
RUN_FIELDS = ["pairing", "seed", "finished", "steps", "steps_done", "final_fid", "best_fid", "best_step",
              "judge_accuracy_pct", "hours", "folder", "problem"]


def _strict(token):
    raise ValueError(f"non-finite number {token}")


def _log(folder: str) -> list:
    path = os.path.join(folder, train.LOG)
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line, parse_constant=_strict) for line in f if line.strip()]


def _seconds(log: list) -> float:
    """Training and evaluation seconds logged: the mean step time of each loss line times the
    steps it covers, plus every evaluation's time."""
    total, previous = 0.0, 0
    for r in log:
        if "seconds_per_step" in r:
            total += r["seconds_per_step"] * (r["step"] - previous)
            previous = r["step"]
        total += r.get("eval_seconds", 0.0)
    return total


def read_run(study, pairing: str, seed: int) -> dict:
    """One runs.csv row (plus 'curve': [(step, fid)] and 'settings' of run.json) of a run folder."""
    folder = study.run_folder(pairing, seed)
    row = dict(pairing=pairing, seed=seed, finished=False, steps=study.steps, steps_done=0, final_fid=None,
               best_fid=None, best_step=None, judge_accuracy_pct=None, hours=None,
               folder=os.path.relpath(folder, study.results), problem="", curve=[], settings={})
    try:
        saved = gan_study.read_record(folder)
    except ConfigError as e:
        return dict(row, problem=str(e))
    if saved is None:
        return row
    diffs = gan_study.differences({"settings": saved["settings"]}, {"settings": study.settings(pairing, seed)})
    if diffs:
        return dict(row, problem="other settings: " + "; ".join(diffs))
    try:
        log = _log(folder)
    except (OSError, ValueError) as e:
        return dict(row, problem=f"{train.LOG} damaged ({e})")
    evaluations = [(r["step"], r["fid"], r.get("judge_accuracy")) for r in log if "fid" in r]
    snapshot = os.path.join(folder, train.SNAPSHOT)
    try:
        done = snapshot_step(snapshot) if os.path.isfile(snapshot) else 0
    except ValueError as e:
        return dict(row, problem=str(e))
    finished = (done == study.steps and os.path.isfile(os.path.join(folder, train.GENERATOR))
                and bool(evaluations) and evaluations[-1][0] == study.steps)
    row.update(finished=finished, steps_done=max([done] + [r["step"] for r in log]),
               hours=_seconds(log) / 3600, curve=[(s, f) for s, f, _ in evaluations])
    if evaluations:
        best = min(evaluations, key=lambda e: e[1])
        row.update(best_fid=best[1], best_step=best[0])
    if finished:
        row["final_fid"] = evaluations[-1][1]
        judge = evaluations[-1][2]
        row["judge_accuracy_pct"] = None if judge is None else 100 * judge
        with open(os.path.join(folder, train.RUN), encoding="utf-8") as f:
            row["settings"] = json.load(f).get("settings", {})
    return row


def collect(study) -> list:
    """read_run for every planned run, pairing by pairing, seeds in order."""
    return [read_run(study, pairing, seed) for pairing in study.pairings for seed in study.seeds]


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return float(numpy.mean(values)), (float(numpy.std(values, ddof=1)) if len(values) > 1 else None)


def pairing_rows(study, runs: list) -> list:
    """One results.csv row per pairing from the finished runs."""
    rows = []
    for pairing in study.pairings:
        done = [r for r in runs if r["pairing"] == pairing and r["finished"]]
        gen, disc = gan_study.PAIRINGS[pairing]
        row = dict(pairing=pairing, generator=gen, discriminator=disc, runs_finished=len(done),
                   runs_planned=len(study.seeds), steps=study.steps)
        for name in ("final_fid", "best_fid", "judge_accuracy_pct"):
            row[f"{name}_mean"], row[f"{name}_std_ddof1"] = _mean_std([r[name] for r in done])
        row["hours_per_run"] = _mean_std([r["hours"] for r in done])[0]
        settings = done[0]["settings"] if done else {}
        row.update(gen_params=settings.get("gen_params"), disc_params=settings.get("disc_params"))
        rows.append(row)
    return rows


def _fmt(value, spec=".2f"):
    return "–" if value is None else format(value, spec)


def _pm(mean, std, spec=".2f"):
    return _fmt(mean, spec) + ("" if std is None else f" ± {std:{spec}}")


def markdown(study, rows: list, runs: list) -> str:
    """results.md from pairing_rows and collect."""
    args = dict(zip(study.flags[::2], study.flags[1::2]))
    finished = sum(r["finished"] for r in runs)
    hours = sum(r["hours"] or 0.0 for r in runs)
    lines = ["# Group-equivariant GANs on MNIST-rot: FID per (generator, discriminator) pairing", "",
             f"{finished} of {len(runs)} planned runs finished ({study.steps:,} G steps each, width "
             f"{args.get('--gen_ch')}, FID of {int(args.get('--fid_samples', 0)):,} generated digits every "
             f"{args.get('--fid_every')} G steps); compute logged{'' if finished == len(runs) else ' so far'}: "
             f"{hours:.2f} hours of one CPU thread.", "",
             "| G | D | runs | final FID | best FID | class accuracy % (published P4CNN) | hours / run | "
             "parameters G / D |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        params = (f"{r['gen_params']:,} / {r['disc_params']:,}" if r["gen_params"] is not None else "–")
        lines.append(f"| {r['generator']} | {r['discriminator']} | {r['runs_finished']}/{r['runs_planned']} | "
                     f"{_pm(r['final_fid_mean'], r['final_fid_std_ddof1'])} | "
                     f"{_pm(r['best_fid_mean'], r['best_fid_std_ddof1'])} | "
                     f"{_pm(r['judge_accuracy_pct_mean'], r['judge_accuracy_pct_std_ddof1'], '.1f')} | "
                     f"{_fmt(r['hours_per_run'])} | {params} |")
    lines += ["", "Mean ± sample standard deviation over the finished seeds. Final FID: after the last G step; "
              "best FID: the lowest of each run's evaluations (chosen on the reference set itself, so an "
              "optimistic number). FID: of the generated digits (the same number per class, one fixed noise "
              "set per run) against the test digits (test.npz: 50,000 in MNIST-rot), on the features of the committed Z2 CNN "
              "(gconv_experiments/GAN/fid_net.py); lower is better. Class accuracy: the fraction of the final "
              "generator's digits that the published P4CNN (results/mnist_rot/released/P4CNN/seed0) labels as "
              "the class they were generated for.", "",
              "![FID against G steps](fid_curves.png)", "", "## Runs", "",
              "| G_D | seed | G steps done | final FID | best FID (at G step) | class accuracy % | hours | folder |",
              "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        best = "–" if r["best_fid"] is None else f"{r['best_fid']:.2f} ({r['best_step']})"
        lines.append(f"| {r['pairing']} | {r['seed']} | {r['steps_done']}/{r['steps']} | {_fmt(r['final_fid'])} | "
                     f"{best} | {_fmt(r['judge_accuracy_pct'], '.1f')} | {_fmt(r['hours'])} | `{r['folder']}`"
                     + (f" ({r['problem']})" if r["problem"] else "") + " |")
    lines += ["", "Samples: " + ", ".join(f"[{p}](samples_{p}.png)" for p in study.pairings), ""]
    return "\n".join(lines)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_curves(study, runs: list, path: str) -> "str | None":
    """fid_curves.png (see the module docstring); None when no run has an evaluation yet."""
    curves = {p: [dict(r["curve"]) for r in runs if r["pairing"] == p and r["curve"] and not r["problem"]]
              for p in study.pairings}
    if not any(curves.values()):
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (pairing, per_run) in enumerate(curves.items()):
        if not per_run:
            continue
        steps = sorted(set().union(*per_run))
        values = [[c[s] for c in per_run if s in c] for s in steps]
        gen, disc = gan_study.PAIRINGS[pairing]
        ax.plot(steps, [numpy.mean(v) for v in values], color=f"C{i}", marker="o", markersize=3,
                label=f"G {gen}, D {disc} ({len(per_run)} run{'s' if len(per_run) > 1 else ''})")
        if len(per_run) > 1:
            ax.fill_between(steps, [min(v) for v in values], [max(v) for v in values], color=f"C{i}", alpha=0.2,
                            linewidth=0)
    ax.set_xlabel("G step")
    ax.set_ylabel("FID (lower is better)")
    ax.set_title("MNIST-rot conditional GANs: FID (line: mean over seeds; band: min to max)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=110, format="png")


def save_samples(folder: str, path: str, title: str) -> str:
    """samples_<pairing>.png from the generator.npz of the finished run in `folder`: one labelled
    row per class, 10 digits each, noise from numpy.random.default_rng(0)."""
    import chainer
    from gconv_experiments.GAN.generator import Generator
    with open(os.path.join(folder, train.RUN), encoding="utf-8") as f:
        args = json.load(f)["args"]
    gen = Generator(args["gen"], ch=args["gen_ch"], latent_dim=args["latent_dim"], embed_dim=args["embed_dim"])
    chainer.serializers.load_npz(os.path.join(folder, train.GENERATOR), gen)
    labels = numpy.repeat(numpy.arange(10, dtype=numpy.int32), 10)
    image = sample_grid.grid(gen.sample(labels, numpy.random.default_rng(0)), labels)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.9))
    ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([28 * k + 13.5 for k in range(10)], [str(k) for k in range(10)])
    ax.set_xticks([])
    ax.set_ylabel("class")
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path, dpi=110, format="png")


def write_report(study) -> dict:
    """Write the report files into study.results; returns {'markdown', 'rows', 'runs', 'finished',
    'planned', 'plot', 'samples'}."""
    runs = collect(study)
    rows = pairing_rows(study, runs)
    os.makedirs(study.results, exist_ok=True)
    text = markdown(study, rows, runs)
    write_text(os.path.join(study.results, "results.md"), text)
    write_text(os.path.join(study.results, "results.csv"), csv_text(PAIRING_FIELDS, rows))
    write_text(os.path.join(study.results, "runs.csv"), csv_text(RUN_FIELDS, runs))
    plot = plot_curves(study, runs, os.path.join(study.results, "fid_curves.png"))
    written = []
    for pairing in study.pairings:
        first = next((r for r in runs if r["pairing"] == pairing and r["finished"]), None)
        if first is not None:
            gen, disc = gan_study.PAIRINGS[pairing]
            written.append(save_samples(
                study.run_folder(pairing, first["seed"]), os.path.join(study.results, f"samples_{pairing}.png"),
                f"G {gen}, D {disc}: seed {first['seed']} after {study.steps:,} G steps"))
    return dict(markdown=text, rows=rows, runs=runs, finished=sum(r["finished"] for r in runs),
                planned=len(runs), plot=plot, samples=written)

"""The GAN study: FID of conditional GANs on MNIST-rot for three (generator, discriminator)
pairings, 3 seeds each, the same number of G steps for all.

    python -m gconv_experiments.GAN.study --datadir DIR [--results results/gan] [--workers 2]
        [--pairings z2_z2,z2_p4,p4_p4] [--seeds 0,1,2] [--steps 2000] [--ch 16] [--fid_every 250]
        [--list-jobs | --run-job K | --report-only]

PLAN: pairings (G, D) = (z2, z2), (z2, p4), (p4, p4) named z2_z2, z2_p4, p4_p4; seeds 0, 1, 2;
every run ``python -m gconv_experiments.GAN.train`` with width ch = 16 for both models, 2,000 G
steps, FID (and the published P4CNN's class accuracy) every 250 G steps, Dey et al.'s other
settings (the train command's defaults). The cost estimate (gconv_experiments/GAN/README.md):
about 7.4 CPU-hours, on 2 lanes about 4 hours of wall time. --steps, --ch, --fid_every,
--fid_samples, --judge_samples, --batchsize, --latent_dim and --embed_dim shrink the runs for
smoke tests.

Run folders: <results>/<pairing>/seed<k>. Before a run starts, the study writes study_run.json
into its folder: the run's settings (every train flag but the paths, the device, the thread
count and --steps) and the sha256 of the training file, the FID reference file, the FID
network's weights and the judge's snapshot, with a fingerprint of all of them. A folder is
reused only when its study_run.json matches: a finished run (snapshot and generator.npz after
--steps G steps) is skipped, an interrupted one continues with the train command's --resume
(bit for bit under the same thread settings; every run gets --threads 1 and one BLAS thread), a
run with fewer G steps continues to --steps. A folder made with other settings, or holding a
run without study_run.json, stops the study with the differences named, before anything is
trained: choose another --results for other settings.

``--list-jobs`` / ``--run-job K --datadir DIR`` run the study as plain processes
(``bash gconv_experiments/run_lanes.sh gconv_experiments.GAN.study DIR 2``); without them every
run is planned, then trained in this process (``--workers 1``) or on a Dask LocalCluster of
--workers processes (gconv_experiments/sweep/cluster.py). The report (``study_report.py``:
results.md, results.csv, runs.csv, fid_curves.png, samples_<pairing>.png in --results) is
rewritten after every finished run and by ``--report-only``.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys

from gconv_experiments import study_jobs
from gconv_experiments.atomic_file import write_text
from gconv_experiments.file_digest import sha256_file
from gconv_experiments.GAN import train
from gconv_experiments.GAN.snapshot import snapshot_step
from gconv_experiments.training import ConfigError
from gconv_experiments.training.fingerprint import canonical_json

__all__ = ["PAIRINGS", "SEEDS", "STEPS", "CH", "FID_EVERY", "RESULTS", "RECORD", "UNRECORDED",
           "TRAIN_FLAGS", "StudyError", "Study", "Planned", "read_record", "differences", "plan_run", "train_run",
           "build_parser", "study_from_args", "run_job", "run_all", "main"]

#: pairing name -> (generator group, discriminator group)
PAIRINGS = {"z2_z2": ("z2", "z2"), "z2_p4": ("z2", "p4"), "p4_p4": ("p4", "p4")}
SEEDS = (0, 1, 2)
STEPS = 2000
CH = 16
FID_EVERY = 250
RESULTS = os.path.join("results", "gan")  # the study's folder
RECORD = "study_run.json"
#: train flags left out of a run's settings: paths (their files enter as sha256), the device,
#: the thread count, --steps (more steps continue a run) and the flags of one invocation
UNRECORDED = {"datadir", "resultdir", "trainfn", "testfn", "fid_net", "judge_run", "steps", "gpu",
              "threads", "resume", "quiet"}
PROG = "python -m gconv_experiments.GAN.study"


class StudyError(RuntimeError):
    """A run of the study failed; finished runs are kept."""


@dataclasses.dataclass(frozen=True)
class Study:
    """The runs of the study and the train flags of each.

    >>> study = Study("/out", ("z2_p4",), (1,), steps=10, flags=("--gen_ch", "2"))
    >>> study.jobs(), study.run_folder("z2_p4", 1)
    ([('z2_p4', 1)], '/out/z2_p4/seed1')
    >>> study.train_argv("z2_p4", 1, "/data")  # doctest: +NORMALIZE_WHITESPACE
    ['--datadir', '/data', '--gen', 'z2', '--disc', 'p4', '--seed', '1', '--steps', '10',
     '--gen_ch', '2', '--resultdir', '/out/z2_p4/seed1']
    """
    results: str
    pairings: tuple = tuple(PAIRINGS)
    seeds: tuple = SEEDS
    steps: int = STEPS
    flags: tuple = ()  # train flags every run gets

    def jobs(self) -> list:
        """[(pairing, seed)]: seed-major, so that a study cut short has every pairing."""
        return [(p, s) for s in self.seeds for p in self.pairings]

    def run_folder(self, pairing: str, seed: int) -> str:
        return os.path.join(self.results, pairing, f"seed{seed}")

    def train_argv(self, pairing: str, seed: int, datadir: str) -> list:
        """The train command's flags of one run (without --resume, --threads, --quiet)."""
        gen, disc = PAIRINGS[pairing]
        return ["--datadir", datadir, "--gen", gen, "--disc", disc, "--seed", str(seed),
                "--steps", str(self.steps), *self.flags, "--resultdir", self.run_folder(pairing, seed)]

    def settings(self, pairing: str, seed: int) -> dict:
        """The run's train flags that its study_run.json records (all but UNRECORDED)."""
        args = train.parse_args(self.train_argv(pairing, seed, "DATA"))
        return {k: v for k, v in sorted(vars(args).items()) if k not in UNRECORDED}

    def record(self, pairing: str, seed: int, datadir: str) -> dict:
        """The run's study_run.json: settings, file digests and their fingerprint."""
        settings = self.settings(pairing, seed)
        args = train.parse_args(self.train_argv(pairing, seed, datadir))
        files = {"trainfn": os.path.join(datadir, args.trainfn),
                 "testfn": os.path.join(datadir, args.testfn),
                 "fid_net": os.path.join(args.fid_net, "weights.npz")}
        if args.judge_samples:
            files["judge_run"] = os.path.join(args.judge_run, "snapshot.h5")
        data = {}
        for flag, path in files.items():
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{path}: no such file (--{flag} of the train command"
                                        f"{', in --datadir' if flag in ('trainfn', 'testfn') else ''})")
            data[flag] = {"path": os.path.abspath(path), "sha256": sha256_file(path)}
        key = {"settings": settings, "data": {k: v["sha256"] for k, v in data.items()}}
        return {"settings": settings, "data": data,
                "fingerprint": hashlib.sha256(canonical_json(key).encode()).hexdigest()}


@dataclasses.dataclass
class Planned:
    """A run of the study and what happens to it: 'done', 'resume' or 'train'."""
    pairing: str
    seed: int
    folder: str
    action: str
    record: dict
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.pairing} seed {self.seed}"


def read_record(folder: str) -> "dict | None":
    """The study_run.json of a run folder; None when there is none; ConfigError when damaged."""
    path = os.path.join(folder, RECORD)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        if not isinstance(record.get("settings"), dict) or not isinstance(record.get("data"), dict):
            raise ValueError("no 'settings' and 'data'")
    except (OSError, ValueError, AttributeError) as e:
        raise ConfigError(f"{path}: not a study run record ({e}); delete it and the run, or choose "
                          "another --results") from None
    return record


def differences(saved: dict, new: dict) -> list:
    """'--flag: old -> new' per setting and 'FLAG file: sha256 old -> new' per file in which two
    records differ ([]: the saved run may be reused or resumed).

    >>> differences({"settings": {"seed": 0}, "data": {}}, {"settings": {"seed": 1}, "data": {}})
    ['--seed: 0 -> 1']
    """
    out = []
    old_s, new_s = saved.get("settings", {}), new.get("settings", {})
    for key in sorted(set(old_s) | set(new_s)):
        if old_s.get(key, "(not recorded)") != new_s.get(key, "(not recorded)"):
            out.append(f"--{key}: {old_s.get(key, '(not recorded)')!r} -> {new_s.get(key, '(not recorded)')!r}")
    old_d, new_d = saved.get("data", {}), new.get("data", {})
    for key in sorted(set(old_d) | set(new_d)):
        a, b = old_d.get(key) or {}, new_d.get(key) or {}
        if a.get("sha256") != b.get("sha256"):
            out.append(f"--{key} file: {a.get('path')} (sha256 {str(a.get('sha256'))[:12]}) -> "
                       f"{b.get('path')} (sha256 {str(b.get('sha256'))[:12]})")
    return out


def plan_run(study: Study, pairing: str, seed: int, datadir: str) -> Planned:
    """What to do with one run (see the module docstring); ConfigError naming the folder and the
    differing settings when its folder holds a run made otherwise."""
    folder = study.run_folder(pairing, seed)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ConfigError(f"run folder {folder} is an existing file, not a folder")
    record = study.record(pairing, seed, datadir)
    saved = read_record(folder)
    snapshot = os.path.join(folder, train.SNAPSHOT)
    has_snapshot = os.path.isfile(snapshot)
    if saved is None:
        if has_snapshot or os.path.isfile(os.path.join(folder, train.GENERATOR)):
            raise ConfigError(f"{folder} holds a GAN run without {RECORD}, so its settings cannot be "
                              "checked; choose another --results, or delete the folder to train it again")
        return Planned(pairing, seed, folder, "train", record)
    diffs = differences(saved, record)
    if diffs:
        raise ConfigError(f"{folder} holds a run made with other settings: " + "; ".join(diffs)
                          + "; choose another --results, or delete the folder to train it again")
    if not has_snapshot:
        return Planned(pairing, seed, folder, "train", record)
    done = snapshot_step(snapshot)
    if done > study.steps:
        raise ConfigError(f"{folder} holds a run of {done} G steps, more than --steps {study.steps}; "
                          f"ask for --steps {done} or choose another --results")
    if done == study.steps and os.path.isfile(os.path.join(folder, train.GENERATOR)):
        return Planned(pairing, seed, folder, "done", record)
    return Planned(pairing, seed, folder, "resume", record, f"from G step {done}")


def train_run(argv: list, threads: int) -> int:
    """The train command on `argv` with `threads` BLAS, OpenMP and groupy threads (in this
    process or on a Dask worker); returns its exit status."""
    from gconv_experiments.sweep import cluster
    with cluster.limited_threads(threads):
        return train.main(list(argv) + ["--threads", str(threads), "--quiet"])


def _start(study: Study, p: Planned, datadir: str) -> list:
    """Write the run's study_run.json; returns the train command's argv."""
    os.makedirs(p.folder, exist_ok=True)
    write_text(os.path.join(p.folder, RECORD), json.dumps(p.record, indent=2) + "\n")
    return study.train_argv(p.pairing, p.seed, datadir) + (["--resume"] if p.action == "resume" else [])


def _say(p: Planned, steps: int) -> None:
    verb = {"done": "finished earlier, skipping", "resume": f"resuming {p.note} in",
            "train": f"training for {steps} G steps in"}[p.action]
    print(f"{p.label}: {verb} {p.folder}", flush=True)


def _report(study: Study) -> None:
    from gconv_experiments.GAN import study_report
    written = study_report.write_report(study)
    print(f"{written['finished']} of {written['planned']} runs finished; report: "
          f"{os.path.join(study.results, 'results.md')}", flush=True)


def run_job(study: Study, index: int, datadir: str, threads: int = 1) -> None:
    """Train, resume or skip job `index` of study.jobs(), then rewrite the report."""
    pairing, seed = study_jobs.job_at(study.jobs(), index)
    p = plan_run(study, pairing, seed, datadir)
    _say(p, study.steps)
    if p.action != "done":
        status = train_run(_start(study, p, datadir), threads)
        if status:
            raise StudyError(f"{p.label} ({p.folder}): the train command exited with status {status}")
    _report(study)


def run_all(study: Study, datadir: str, workers: int = 1, scheduler: "str | None" = None,
            threads: int = 1) -> None:
    """Plan every run (stopping before any training if a folder does not match), then train
    those not done in this process or on Dask, rewriting the report after each."""
    planned = [plan_run(study, pairing, seed, datadir) for pairing, seed in study.jobs()]
    for p in planned:
        _say(p, study.steps)
    todo = [p for p in planned if p.action != "done"]
    failures = []

    def finished(p, result=None, error=None, trace=None):
        if error is not None or result:
            failures.append(f"{p.label} ({p.folder}): " + (f"{type(error).__name__}: {error}" if error is not None
                                                            else f"the train command exited with status {result}"))
        _report(study)

    if todo and scheduler is None and workers == 1:
        for p in todo:
            finished(p, train_run(_start(study, p, datadir), threads))
    elif todo:
        from gconv_experiments.sweep import cluster
        keys = {f"gan-{p.pairing}-seed{p.seed}-{os.getpid()}": p for p in todo}
        cluster.run_on_dask(train_run, [(key, (_start(study, p, datadir), threads)) for key, p in keys.items()],
                            workers, scheduler, threads, lambda key, **kw: finished(keys[key], **kw))
    _report(study)
    if failures:
        raise StudyError(f"{len(failures)} of {len(planned)} runs failed (finished runs are kept; run the "
                         "same command again to retry):\n  " + "\n  ".join(failures))


_positive, _nonnegative = train._positive_int, train._nonneg_int  # the train command's flag types


#: study flag -> the train flags it sets
TRAIN_FLAGS = {"ch": ("--gen_ch", "--disc_ch"), "fid_every": ("--fid_every",),
               "fid_samples": ("--fid_samples",), "judge_samples": ("--judge_samples",),
               "batchsize": ("--batchsize",), "latent_dim": ("--latent_dim",), "embed_dim": ("--embed_dim",)}


def build_parser() -> argparse.ArgumentParser:
    """The study's command line."""
    defaults = vars(train.parse_args(["--datadir", "DATA", "--resultdir", "RUN"]))
    p = argparse.ArgumentParser(prog=PROG, allow_abbrev=False, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    a = p.add_argument
    a("--datadir", default=None, help="MNIST-rot-like data folder (train_all.npz, test.npz)")
    a("--results", default=RESULTS, help="the study's folder")
    a("--pairings", default=",".join(PAIRINGS), help=f"comma-separated, of {', '.join(PAIRINGS)} (G_D)")
    a("--seeds", default=",".join(map(str, SEEDS)), help="comma-separated seeds")
    a("--steps", type=_positive, default=STEPS, help="G steps of every run")
    a("--ch", type=_positive, default=CH, help="width of both models")
    a("--fid_every", type=_positive, default=FID_EVERY, help="G steps between FID evaluations")
    a("--fid_samples", type=_positive, default=defaults["fid_samples"],
      help="generated images per FID (a multiple of 10)")
    a("--judge_samples", type=_nonnegative, default=defaults["judge_samples"],
      help="of these, classified by the published P4CNN (0: none)")
    a("--batchsize", type=_positive, default=defaults["batchsize"])
    a("--latent_dim", type=_positive, default=defaults["latent_dim"])
    a("--embed_dim", type=_positive, default=defaults["embed_dim"])
    g = p.add_argument_group("where the runs run")
    g.add_argument("--workers", type=int, default=1,
                   help="runs at a time on a Dask LocalCluster (1: one after another in this process)")
    g.add_argument("--scheduler", default=None, help="an existing Dask cluster's address or scheduler file")
    g.add_argument("--threads", type=int, default=1, help="BLAS / OpenMP / groupy threads per run")
    study_jobs.add_job_arguments(p, "pairing seed")
    return p


def study_from_args(args: argparse.Namespace) -> Study:
    """The Study of a parsed command line; ConfigError naming the flag for bad values."""
    pairings = tuple(s.strip() for s in args.pairings.split(",") if s.strip())
    unknown = [s for s in pairings if s not in PAIRINGS]
    if not pairings or unknown or len(set(pairings)) != len(pairings):
        raise ConfigError(f"--pairings {args.pairings!r}: expected distinct names of {', '.join(PAIRINGS)}")
    try:
        seeds = tuple(int(s) for s in args.seeds.split(","))
    except ValueError:
        seeds = ()
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"--seeds {args.seeds!r}: expected distinct integers >= 0 joined by ','")
    if args.fid_samples % 10:
        raise ConfigError(f"--fid_samples {args.fid_samples}: expected a multiple of 10 (as many per class)")
    if args.judge_samples > args.fid_samples:
        raise ConfigError(f"--judge_samples {args.judge_samples}: at most --fid_samples ({args.fid_samples})")
    flags = []
    for name, train_flags in TRAIN_FLAGS.items():
        for flag in train_flags:
            flags += [flag, str(getattr(args, name))]
    return Study(os.path.abspath(args.results), pairings, seeds, args.steps, tuple(flags))


def main(argv: "list | None" = None) -> int:
    """Command line: bad input is one `prog: error: ...` line (exit 2), a failed run exits 1."""
    args = build_parser().parse_args(argv)

    def threads():
        from gconv_experiments.sweep import command_line
        return command_line.check_distribution_flags(args.workers, args.scheduler, args.threads)

    def run_everything():
        planned = study_from_args(args)
        if not args.datadir:
            raise ConfigError("--datadir is required to train (the MNIST-rot-like data folder)")
        return run_all(planned, os.path.abspath(args.datadir), args.workers, args.scheduler, threads())

    return study_jobs.run_study(
        args, PROG, {StudyError: 1, ConfigError: 2, FileNotFoundError: 2},
        jobs=lambda: study_from_args(args).jobs(),
        run_job=lambda k: run_job(study_from_args(args), k, os.path.abspath(args.datadir), threads()),
        report=lambda: _report(study_from_args(args)), run_all=run_everything,
        datadir="the MNIST-rot-like data folder", interrupted="run the same command again to continue")


if __name__ == "__main__":
    sys.exit(main())

"""The one training implementation shared by every experiment's thin `train.py`.

A dataset folder's `train.py` only supplies defaults and where its models live::

    from gconv_experiments import training
    DEFAULTS = dict(modelfn='P4CNN', trainfn='train_all.npz', valfn='test.npz', epochs=100, ...)
    def main(argv=None):
        return training.main(argv, defaults=DEFAULTS,
                             models_package='gconv_experiments.MNIST_ROT.models')
    if __name__ == '__main__':
        sys.exit(training.cli(None, defaults=DEFAULTS, models_package=..., prog='MNIST_ROT/train.py'))

Modules: `config` (the flags, optimizer, device), `settings` (check_args: the flags checked and
parsed into one frozen RunConfig), `data` (reading and checking data sets, --normalization),
`models` (--modelfn resolution), `distributed` (the ranks of a run: ONE_PROCESS, or the
processes of an MPI job), `loop` (seeding, one epoch, evaluation, BN re-estimation, progress
bars), `checkpoint` (snapshots, log, strict JSON, resume), `fingerprint` (run record run.json,
resolve_run's record, differences), `run_folder` (RunFolder: the files of a run folder),
`folder_lock` (FolderLock: one process at a time writes a result folder), `stop` (StopRequests:
SIGINT / SIGTERM stop a run between two iterations),
`prepare` (result folder, splits, model probe; prepare: a run ready for its first epoch),
`epochs` (fit and finish), `run` (main, cli, resolve_run). How the pieces fit together:
ARCHITECTURE.md at the repository root. Every name below is importable from
`gconv_experiments.training` itself.

API:

* ``build_parser(defaults=None, prog=None, description=None)`` -> argparse.ArgumentParser with
  the release's train.py flags plus --testfn, --train_size, --val_size, --resume, --quiet,
  --verbose, --eval_batchsize, --normalization, --bn_reestimation, --bn_averaging,
  --train_subset, --subset_seed, --steps.
* ``check_args(args)`` -> RunConfig: the parsed flags checked (ConfigError naming the flag) and
  parsed (keyword dicts, augmentation, learning-rate schedule, evaluation batch size).
* ``resolve_run(argv, *, defaults=None, models_package=None)`` -> the run record (run.json) that
  train.py would write for argv, without training. ``differences(saved, new)`` -> list of
  "--flag: old -> new" for settings that change the trajectory ([]: reuse/resume allowed).
* ``main(argv=None, *, defaults=None, models_package=None, load_data=read_npz_dataset, prog=None,
  description=None)`` -> dict: trains, writes the result directory, returns the summary
  (prepare, then fit, then finish). Raises ConfigError (a ValueError) or
  FileNotFoundError for bad flags, files or data.
* ``cli(argv=None, **same keywords)`` -> int exit status; prints `prog: error: ...` for bad input
  (status 2), a non-finite loss (status 3, naming epoch and iteration), a write that failed,
  e.g. on a full disk (status 1, naming the file and the snapshot kept); SIGINT / SIGTERM
  (130 / 143) stop the run between two iterations with its last finished epoch saved and
  print `prog: interrupted (SIGTERM) at epoch E, iteration I; the snapshot of epoch E-1 is
  kept; continue with --resume`.
* ``load_npz_dataset(path)`` -> (x float32 (N, C, H, W), y int32 (N,)) from an .npz with keys
  'data' and 'labels' (pixels must be finite, labels whole numbers >= 0, checked as stored,
  before any cast). A run reads its files with `load_data` (default read_npz_dataset, the
  arrays as stored), which may be replaced by any function with that signature; what it
  returns is checked once, as check_dataset does.
* ``load_model_class(modelfn, models_package)`` -> the Chain class named by --modelfn: a path to
  a .py file (relative to the working directory or to gconv_experiments/) defining a class with
  the file's stem name, or a bare name (a module of `models_package`).
* ``evaluate(model, x, y, batchsize, device, label=..., quiet=True)`` -> (mean loss, error rate)
  in test mode.
* ``load_weights(snapshot_path, model)``: copy a snapshot's weights and BN statistics into model.
* ``reestimate_batchnorm(model, x, y, batchsize, device, label=..., quiet=True, *, mode='clean',
  averaging='batch', transformations='', rng=None)``: recomputes every BatchNormalization's
  population statistics from one pass over x (the release's "finetune" epoch; see
  --bn_reestimation and --bn_averaging).

Model interface (`gconv_experiments.layers.Classifier` is a base class providing it): `Model(**net_kwargs)`;
`model(x, t)` returns (loss, accuracy) Variables and
`model.logits(x)` the class scores (N, n_classes); `chainer.config.train` switches BN/dropout.

Model hooks (`training.hooks`): a model may take part in its own training through optional
methods, with no new flag; a model without them trains exactly as before.

* ``setup_optimizer(optimizer)``: after optimizer.setup(model) at every start (also --resume,
  before the snapshot is restored): e.g. per-parameter learning rates.
* ``training_progress(fraction)``: before every update's forward pass, with its position in the
  run (0 at the first update, 1 at the last; updates = --epochs x batches per epoch), and after
  a restore with the next update's.
* ``evaluation_mode()``: a context manager around the BN re-estimation pass and evaluation.
* ``log_fields()``: a dict of extra keys for each epoch's log.jsonl row.

The partial G-CNNs (PartialP4CNN, PartialP4MCNN) use them for the gates' own learning rate, the
annealed temperature, deterministic gates when evaluated and the gate probabilities per epoch
(gconv_experiments/layers/partial_gates.py); their settings are --net_kwargs (gate_lr,
temperature_start, temperature_end, initial_gate_logit), recorded in run.json as any other.

Result directory (--resultdir, default results/<model>_seed<seed>), locked while the run lasts
(a second process writing it is refused, naming the holder; the lock file .lock is removed at the
end, and the lock of a killed process blocks nothing); its files are never written through a
symbolic link:

* args.json: the arguments of the run.
* run.json: the run record (training.fingerprint): resolved settings ("config"), data file
  hashes, fingerprint, git commit; --resume refuses settings that differ from it. "settings"
  holds the RunConfig as run (with the input normalisation constants, which
  MNIST_ROT/evaluate.py reads).
* <Model>.py: a copy of the model file.
* log.jsonl: one JSON object per epoch: epoch, train_loss, train_error, val_loss, val_error
  (null on epochs without validation), lr, seconds, elapsed.
* snapshot.h5: Chainer HDF5 serialisation of the model (at the file's root, so
  chainer.serializers.load_hdf5('snapshot.h5', model) loads it) and of the optimizer (group
  'optimizer/') plus the epoch (root attribute), written every --save_freq epochs, at the end,
  and when SIGINT / SIGTERM stop the run (that of the last finished epoch), into a temporary
  file beside it, flushed, then renamed over the old one. training.load_weights(path, model)
  does the same.
* summary.json: final errors (fractions in [0, 1]), parameter count, timings, fingerprint.

Errors are fractions everywhere in the files; printed lines show percentages. Every JSON file is
strict JSON (no NaN). A run killed before its first snapshot is continued by --resume from
epoch 0; temporary files of writes cut short are removed at the next start.

Reproducibility: the model is initialised from numpy's global RNG seeded with --seed. Each
epoch then draws its shuffling and augmentation from numpy.random.default_rng([seed, epoch]) and
reseeds numpy's global RNG (dropout) -- and CuPy's on a GPU -- from (seed, epoch); the BN
re-estimation before a validation reseeds them from (seed, epoch, 1). The random
state at an epoch boundary is therefore a function of (seed, epoch), so `--resume` restores
model, optimizer and epoch from the snapshot and continues bit-for-bit on the CPU (on a GPU up
to cuDNN's non-determinism).
"""
from gconv_experiments.training.checkpoint import (
    ARGS_FILE, LOG_FILE, SNAPSHOT_FILE, SUMMARY_FILE, load_snapshot, load_weights, read_log, save_snapshot)
from gconv_experiments.training.config import (
    BASE_DEFAULTS, BN_AVERAGINGS, BN_REESTIMATIONS, NORMALIZATIONS, OPTIMIZERS, PACKAGE_ROOT, ConfigError,
    build_parser, get_device, make_optimizer)
from gconv_experiments.training.data import check_dataset, load_npz_dataset, read_npz_dataset
from gconv_experiments.training.distributed import ONE_PROCESS, Ranks
from gconv_experiments.training.epochs import TrainingStopped, finish, fit
from gconv_experiments.training.fingerprint import RUN_FILE, build_record, differences, read_record
from gconv_experiments.training.loop import (
    TrainingDiverged, evaluate, reestimate_batchnorm, seed_epoch, seed_validation, train_epoch)
from gconv_experiments.training.models import (
    available_models, build_model, count_parameters, load_model_class, resolve_model_file)
from gconv_experiments.training.prepare import Training
from gconv_experiments.training.run import cli, main, resolve_args, resolve_run
from gconv_experiments.training.folder_lock import FolderLock
from gconv_experiments.training.run_folder import RunFolder, WriteFailed
from gconv_experiments.training.settings import RunConfig, check_args, parse_schedule
from gconv_experiments.training.stop import StopRequests

__all__ = [
    "ARGS_FILE", "LOG_FILE", "RUN_FILE", "SNAPSHOT_FILE", "SUMMARY_FILE", "BASE_DEFAULTS", "BN_AVERAGINGS",
    "BN_REESTIMATIONS", "NORMALIZATIONS", "OPTIMIZERS", "PACKAGE_ROOT", "ONE_PROCESS",
    "ConfigError", "FolderLock", "RunConfig", "RunFolder", "Ranks", "StopRequests", "Training", "TrainingDiverged",
    "TrainingStopped", "WriteFailed",
    "available_models", "build_model", "build_parser", "build_record", "check_args", "check_dataset", "cli",
    "count_parameters", "differences", "evaluate", "finish", "fit", "get_device", "load_model_class",
    "load_npz_dataset", "load_snapshot", "load_weights", "main", "make_optimizer", "parse_schedule",
    "read_log", "read_npz_dataset", "read_record", "reestimate_batchnorm", "resolve_args", "resolve_model_file",
    "resolve_run", "save_snapshot", "seed_epoch", "seed_validation", "train_epoch",
]

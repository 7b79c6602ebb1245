"""The run folder (--resultdir) of a training run as one object: creating it, the run files, the
epoch log, the snapshots and the summary. On the ranks of a distributed run other than 0 it
writes nothing (`writes` False) and only reads.

>>> import tempfile
>>> folder = RunFolder(tempfile.mkdtemp())
>>> folder.create()
>>> folder.append_log(dict(epoch=1, train_loss=0.5))
>>> folder.restore_log(1)
[{'epoch': 1, 'train_loss': 0.5}]
"""
import argparse
import os
import shutil

import chainer

from gconv_experiments.atomic_file import atomic_path, remove_temporaries, write_text
from gconv_experiments.training.checkpoint import (
    ARGS_FILE, LOG_FILE, SNAPSHOT_FILE, SUMMARY_FILE, dumps, load_snapshot, read_log, save_snapshot)
from gconv_experiments.training.config import ConfigError
from gconv_experiments.training.fingerprint import RUN_FILE

__all__ = ["RunFolder"]

RUN_FOLDER_FILES = (SNAPSHOT_FILE, SUMMARY_FILE, LOG_FILE, ARGS_FILE, RUN_FILE)
NOT_SAVED_FLAGS = ("resume", "quiet", "verbose")  # flags of a run that --resume does not take over


class RunFolder:
    """The files of one run in folder `path`; `writes`: whether this process writes them."""

    def __init__(self, path: str, writes: bool = True):
        self.path, self.writes = path, writes
        self.snapshot_path = os.path.join(path, SNAPSHOT_FILE)
        self.log_path = os.path.join(path, LOG_FILE)
        self.summary_path = os.path.join(path, SUMMARY_FILE)
        self.last_saved = None  # the epoch of the snapshot on disk (None: none yet)

    def create(self) -> None:
        """Make the folder and remove temporary files of writes that a kill cut short."""
        if not self.writes:
            return
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"--resultdir {self.path}: cannot create the folder ({e.strerror})") from None
        for name in RUN_FOLDER_FILES:
            remove_temporaries(os.path.join(self.path, name))

    def restore(self, model: chainer.Link, optimizer, epochs: int, resume: bool) -> tuple:
        """With `resume`: model and optimizer from the snapshot (if any) and the log up to its
        epoch (the log file rewritten to match). Returns (start epoch, log entries)."""
        start_epoch, log = 0, []
        if resume and os.path.isfile(self.snapshot_path):
            start_epoch = load_snapshot(self.snapshot_path, model, optimizer)
            if start_epoch > epochs:
                raise ConfigError(f"--resume: the snapshot in {self.path} is at epoch {start_epoch}, "
                                  f"beyond --epochs {epochs}")
            log = self.restore_log(start_epoch)
        elif self.writes and (resume or os.path.exists(self.log_path)):
            write_text(self.log_path, "")
        self.last_saved = start_epoch if os.path.isfile(self.snapshot_path) else None
        return start_epoch, log

    def restore_log(self, epoch: int) -> list:
        """The log entries up to `epoch` (a partly written last line dropped); the log file is
        rewritten to hold exactly those."""
        log = [e for e in read_log(self.log_path, drop_partial_last=True) if e["epoch"] <= epoch]
        if self.writes:
            write_text(self.log_path, "".join(dumps(e) + "\n" for e in log))
        return log

    def write_run_files(self, args: argparse.Namespace, record: dict) -> None:
        """run.json (the record, plus the flags as given under "args", which --resume reads),
        args.json (a copy of those flags) and a copy of the model file, each atomically."""
        if not self.writes:
            return
        saved_args = {k: v for k, v in vars(args).items() if k not in NOT_SAVED_FLAGS}
        write_text(os.path.join(self.path, RUN_FILE), dumps(dict(record, args=saved_args), indent=2) + "\n")
        write_text(os.path.join(self.path, ARGS_FILE), dumps(saved_args, indent=2) + "\n")
        target = os.path.join(self.path, record["model_file"])
        if os.path.abspath(target) != record["config"]["model_path"]:
            with atomic_path(target) as tmp:
                shutil.copyfile(record["config"]["model_path"], tmp)

    def append_log(self, entry: dict) -> None:
        """Append one epoch's entry to log.jsonl (flushed to disk)."""
        if not self.writes:
            return
        with open(self.log_path, "a") as f:
            f.write(dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def save_snapshot(self, model: chainer.Link, optimizer, epoch: int) -> None:
        """Write snapshot.h5 of `epoch` atomically."""
        if self.writes:
            save_snapshot(self.snapshot_path, model, optimizer, epoch)
        self.last_saved = epoch

    def write_summary(self, summary: dict) -> None:
        """Write summary.json atomically."""
        if self.writes:
            write_text(self.summary_path, dumps(summary, indent=2) + "\n")

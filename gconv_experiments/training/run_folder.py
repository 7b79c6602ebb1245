"""The run folder (--resultdir) of a training run as one object: creating and locking it, the run
files, the epoch log, the snapshots and the summary. On the ranks of a distributed run other than
0 it writes nothing (`writes` False) and only reads.

The folder is locked (training.folder_lock) from :meth:`RunFolder.create` to
:meth:`RunFolder.release`, so a second process writing the same folder is refused. Its files
are regular files: a symbolic link planted in their place is refused, never written through.
A write that fails (a full disk, a file-size limit) raises :class:`WriteFailed`, a one-line
message naming the file, the system's reason and the snapshot that is kept.

>>> import tempfile
>>> folder = RunFolder(tempfile.mkdtemp())
>>> folder.create()
>>> folder.append_log(dict(epoch=1, train_loss=0.5))
>>> folder.restore_log(1)
[{'epoch': 1, 'train_loss': 0.5}]
>>> folder.release()
"""
import argparse
import contextlib
import errno
import os
import shutil

import chainer

from gconv_experiments.atomic_file import atomic_path, remove_temporaries, write_text
from gconv_experiments.training.checkpoint import (
    ARGS_FILE, LOG_FILE, SNAPSHOT_FILE, SUMMARY_FILE, dumps, load_snapshot, read_log, save_snapshot,
    snapshot_bytes, write_bytes)
from gconv_experiments.training.config import ConfigError
from gconv_experiments.training.fingerprint import RUN_FILE
from gconv_experiments.training.folder_lock import FolderLock, check_writable

__all__ = ["RunFolder", "WriteFailed", "RUN_FOLDER_FILES", "refuse_symlink", "open_for_append"]

RUN_FOLDER_FILES = (SNAPSHOT_FILE, SUMMARY_FILE, LOG_FILE, ARGS_FILE, RUN_FILE)
NOT_SAVED_FLAGS = ("resume", "quiet", "verbose")  # flags of a run that --resume does not take over
_NO_ROOM = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


class WriteFailed(RuntimeError):
    """A file of the run folder could not be written (the disk is full, a file-size limit, an
    I/O error); the message names the file, the reason, and the snapshot kept for --resume."""


def refuse_symlink(path: str) -> None:
    """ConfigError naming `path` when it is a symbolic link (even one pointing nowhere)."""
    if os.path.islink(path):
        raise ConfigError(f"{path} is a symbolic link; the files of a result folder must be regular files "
                          f"(remove the link)")


def open_for_append(path: str):
    """`path` opened for appending text, created if absent, never through a symbolic link (a
    link is refused with ConfigError naming it)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                     0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            refuse_symlink(path)
        raise
    return os.fdopen(fd, "a", encoding="utf-8")


class RunFolder:
    """The files of one run in folder `path`; `writes`: whether this process writes them."""

    def __init__(self, path: str, writes: bool = True):
        self.path, self.writes = path, writes
        self.snapshot_path = os.path.join(path, SNAPSHOT_FILE)
        self.log_path = os.path.join(path, LOG_FILE)
        self.summary_path = os.path.join(path, SUMMARY_FILE)
        self.last_saved = None  # the epoch of the snapshot on disk (None: none yet)
        self.pending = None  # (epoch, snapshot bytes) of a finished epoch whose snapshot was not due
        self.lock = FolderLock(path, "--resultdir")
        self._made = False

    def create(self) -> None:
        """Make the folder (ConfigError naming it when it cannot be written), lock it (refused,
        naming the holder, while another process holds it), refuse symbolic links in place of
        its files and remove temporary files of writes that a kill cut short."""
        if not self.writes:
            return
        check_writable(self.path)
        try:
            self._made = not os.path.isdir(self.path)
            os.makedirs(self.path, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"--resultdir {self.path}: cannot create the folder ({e.strerror})") from None
        self.lock.acquire()
        try:
            for name in RUN_FOLDER_FILES:
                refuse_symlink(os.path.join(self.path, name))
                remove_temporaries(os.path.join(self.path, name))
        except BaseException:
            self.release(failed=True)
            raise

    def release(self, failed: bool = False) -> None:
        """Unlock the folder; after a `failed` start, also remove the folder if create() made it
        and nothing was written into it."""
        self.lock.release()
        if failed and self._made:
            with contextlib.suppress(OSError):
                os.rmdir(self.path)  # only when empty
        self._made = False

    @contextlib.contextmanager
    def _writing(self, what: str):
        """Turn an OSError of writing `what` into WriteFailed (one line: the file, the reason,
        the snapshot kept)."""
        try:
            yield
        except OSError as e:
            reason = e.strerror or os.strerror(e.errno or 0) or type(e).__name__
            kept = (f"the snapshot of epoch {self.last_saved} is kept"
                    if self.last_saved is not None else "no snapshot was written yet (--resume starts at epoch 0)")
            remedy = ("free space" if e.errno in _NO_ROOM else
                      "lift the file size limit (ulimit -f)" if e.errno == errno.EFBIG else "remove the cause")
            raise WriteFailed(f"cannot write {what} ({reason}); {kept}; {remedy} and run again with --resume") from None

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
            with self._writing(self.log_path):
                write_text(self.log_path, "")
        self.last_saved = start_epoch if os.path.isfile(self.snapshot_path) else None
        return start_epoch, log

    def restore_log(self, epoch: int) -> list:
        """The log entries up to `epoch` (a partly written last line dropped); the log file is
        rewritten to hold exactly those."""
        log = [e for e in read_log(self.log_path, drop_partial_last=True) if e["epoch"] <= epoch]
        if self.writes:
            with self._writing(self.log_path):
                write_text(self.log_path, "".join(dumps(e) + "\n" for e in log))
        return log

    def write_run_files(self, args: argparse.Namespace, record: dict) -> None:
        """run.json (the record, plus the flags as given under "args", which --resume reads),
        args.json (a copy of those flags) and a copy of the model file, each atomically."""
        if not self.writes:
            return
        saved_args = {k: v for k, v in vars(args).items() if k not in NOT_SAVED_FLAGS}
        target = os.path.join(self.path, record["model_file"])
        refuse_symlink(target)
        with self._writing(f"the run files in {self.path}"):
            write_text(os.path.join(self.path, RUN_FILE), dumps(dict(record, args=saved_args), indent=2) + "\n")
            write_text(os.path.join(self.path, ARGS_FILE), dumps(saved_args, indent=2) + "\n")
            if os.path.abspath(target) != record["config"]["model_path"]:
                with atomic_path(target) as tmp:
                    shutil.copyfile(record["config"]["model_path"], tmp)

    def append_log(self, entry: dict) -> None:
        """Append one epoch's entry to log.jsonl (flushed to disk)."""
        if not self.writes:
            return
        with self._writing(self.log_path), open_for_append(self.log_path) as f:
            f.write(dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def save_snapshot(self, model: chainer.Link, optimizer, epoch: int, due: bool = True) -> None:
        """Write snapshot.h5 of `epoch` atomically; when not `due`, keep it in memory instead
        (:meth:`save_pending` writes it if the run stops before the next snapshot)."""
        if not due:
            self.pending = (epoch, snapshot_bytes(model, optimizer, epoch)) if self.writes else (epoch, None)
            return
        if self.writes:
            with self._writing(f"the snapshot {self.snapshot_path}"):
                save_snapshot(self.snapshot_path, model, optimizer, epoch)
        self.last_saved, self.pending = epoch, None

    def save_pending(self) -> None:
        """Write the snapshot kept in memory by save_snapshot(..., due=False), if any, so that the
        folder holds the last finished epoch."""
        if self.pending is None:
            return
        epoch, data = self.pending
        if self.writes:
            with self._writing(f"the snapshot {self.snapshot_path}"):
                write_bytes(self.snapshot_path, data)
        self.last_saved, self.pending = epoch, None

    def write_summary(self, summary: dict) -> None:
        """Write summary.json atomically."""
        if self.writes:
            with self._writing(self.summary_path):
                write_text(self.summary_path, dumps(summary, indent=2) + "\n")

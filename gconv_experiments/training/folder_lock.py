"""An exclusive lock on a result folder, so that two processes never write the same run at once:
:class:`FolderLock` holds ``fcntl.flock`` on the file ``.lock`` inside the folder for as long as
the run lasts. The file names its holder (pid, host, start time) for the
message a second writer gets; it is removed when the lock is released. The kernel releases the
lock of a process that dies, so a run killed with SIGKILL leaves a file that no longer blocks
anything. (A lock is held by an open file: a second FolderLock on the same folder is refused even
within one process.) :func:`check_writable` refuses a folder that this process cannot write.

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> with FolderLock(folder):
...     os.listdir(folder)
['.lock']
>>> os.listdir(folder)
[]
"""
import datetime
import errno
import fcntl
import os
import socket

from gconv_experiments.training.config import ConfigError

__all__ = ["LOCK_FILE", "FolderLock", "check_writable"]

LOCK_FILE = ".lock"
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _describe(text: str) -> str:
    """'pid P on host H since T' from a lock file's text (written by FolderLock.acquire)."""
    fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
    if "pid" not in fields:
        return "a process that has not yet written its name"
    return (f"pid {fields['pid']} on host {fields.get('host', '?')}"
            + (f" since {fields['since']}" if "since" in fields else ""))


def _read(path: str) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return ""
    try:
        return os.read(fd, 4096).decode("utf-8", "replace")
    finally:
        os.close(fd)


def _symlink_error(path: str) -> ConfigError:
    return ConfigError(f"{path} is a symbolic link; the files of a result folder must be regular files "
                       f"(remove the link)")


class FolderLock:
    """The lock on result folder `folder` (which must exist). `flag` names the folder in
    messages (e.g. '--resultdir'). acquire() raises ConfigError naming the folder and the
    holder when another process holds it; release() (or leaving the `with` block) gives it up."""

    def __init__(self, folder: str, flag: str = "--resultdir") -> None:
        self.folder, self.flag = folder, flag
        self.path = os.path.join(folder, LOCK_FILE)
        self._fd = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> "FolderLock":
        """Take the lock (at once or not at all); returns self."""
        if self._fd is not None:
            return self
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise ConfigError(f"{self.flag} {self.folder} is in use by another process "
                                  f"({_describe(_read(self.path))}; lock file {self.path}); wait until it "
                                  f"ends or choose another {self.flag}") from None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path, follow_symlinks=False))
            except FileNotFoundError:
                same = False
            if same:  # not a file its previous holder removed between our open and our flock
                break
            os.close(fd)
        since = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"pid={os.getpid()} host={socket.gethostname()} since={since}\n".encode())
        except OSError:
            pass  # the text only names the holder; the lock itself is what counts
        self._fd = fd
        return self

    def _open(self) -> int:
        try:
            return os.open(self.path, _OPEN_FLAGS, 0o666)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise _symlink_error(self.path) from None
            raise ConfigError(f"{self.flag} {self.folder}: cannot create the lock file {LOCK_FILE} in it "
                              f"({e.strerror}); choose another {self.flag}") from None

    def release(self) -> None:
        """Remove the lock file and give up the lock (no-op when not held)."""
        if self._fd is None:
            return
        try:
            os.remove(self.path)  # while still locked: the next holder creates a new file
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def check_writable(folder: str, flag: str = "--resultdir") -> None:
    """ConfigError naming `folder` unless this process can create files in it, or, where it does
    not exist yet, in the nearest folder above it that does."""
    path = os.path.abspath(folder)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    if os.path.isdir(path) and not os.access(path, os.W_OK | os.X_OK):
        where = "" if path == os.path.abspath(folder) else f": the folder {path} above it"
        raise ConfigError(f"{flag} {folder} cannot be written{where} (permission denied); "
                          f"choose another {flag} or change the folder's permissions")

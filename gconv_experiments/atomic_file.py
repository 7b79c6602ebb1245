"""Atomic file replacement, used for every file the experiments write (data caches, logs,
arguments, summaries, snapshots): a crash leaves either the old file or the new one, never a
partial one."""
import contextlib
import os
import tempfile
from typing import Iterator

__all__ = ["atomic_path", "write_text", "temporaries_of", "remove_temporaries"]


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path beside ``path`` (same extension, so np.savez and h5py accept it);
    when the block finishes, flush the file to disk, give it the usual permissions (umask
    applied) and rename it to ``path``. If the block raises, the temporary file is removed and
    ``path`` is untouched."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    fd, tmp = tempfile.mkstemp(prefix="." + name + ".", suffix=os.path.splitext(name)[1],
                               dir=directory)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_text(path: str, text: str) -> None:
    """Replace ``path`` atomically with ``text`` (UTF-8)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def temporaries_of(path: str) -> list:
    """The temporary files atomic_path(path) may have left beside ``path`` when the process
    was killed while writing (names '.<name>.XXXXXXXX<ext>')."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    prefix, suffix = "." + name + ".", os.path.splitext(name)[1]
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    return sorted(os.path.join(directory, e) for e in entries
                  if e.startswith(prefix) and e.endswith(suffix) and len(e) > len(prefix) + len(suffix))


def remove_temporaries(path: str) -> None:
    """Remove what temporaries_of(path) lists (call it only while no other process writes
    ``path``); returns the removed paths."""
    removed = []
    for tmp in temporaries_of(path):
        try:
            os.remove(tmp)
            removed.append(tmp)
        except FileNotFoundError:
            pass
    return removed

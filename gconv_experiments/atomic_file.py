"""Atomic file replacement, used for every file the experiments write (data caches, logs,
arguments, summaries, snapshots): a crash leaves either the old file or the new one, never a
partial one."""
import contextlib
import os
import secrets
import sys
from typing import Any, Iterator

__all__ = ["atomic_path", "write_text", "save_figure", "temporaries_of", "remove_temporaries"]


def _create_temporary(directory: str, name: str) -> str:
    """Create a new empty file '.<name>.XXXXXXXX<ext>' in `directory` with mode 0o666, which the
    kernel reduces by the umask (and a default ACL) as for any new file, and return its path.
    The process umask is never changed (that would affect files other threads create meanwhile)."""
    prefix, suffix = "." + name + ".", os.path.splitext(name)[1]
    for _ in range(100):
        tmp = os.path.join(directory, prefix + secrets.token_hex(4) + suffix)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                         0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"no free temporary name for {os.path.join(directory, name)}")


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path beside ``path`` (same extension, so np.savez and h5py accept it);
    when the block finishes, flush the file to disk and rename it to ``path``. The temporary
    file is created with the permissions of any new file (0o666 less the umask). If the block
    raises, the temporary file is removed and ``path`` is untouched."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = _create_temporary(directory, os.path.basename(path))
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
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


def save_figure(fig: Any, path: str, **savefig_kwargs: Any) -> str:
    """Lay out the matplotlib figure ``fig`` (``tight_layout``), save it atomically to ``path``
    with ``fig.savefig(tmp, **savefig_kwargs)`` and close it; returns ``path``. The figure is
    closed even when saving fails; then ``path`` is untouched."""
    try:
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, **savefig_kwargs)
    finally:
        pyplot = sys.modules.get("matplotlib.pyplot")  # a figure made without pyplot has nothing to close
        if pyplot is not None:
            pyplot.close(fig)
    return path


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

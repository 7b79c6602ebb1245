"""atomic_file: the target is replaced only when the block succeeds; no temporary file is left."""
import os

import numpy as np
import pytest

from gconv_experiments.atomic_file import atomic_path, write_text


def test_write_text_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    write_text(path, "old")
    write_text(path, "new")
    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["a.json"]


def test_failed_block_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.npz"
    with atomic_path(path) as tmp:
        np.savez(tmp, x=np.arange(3))
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            np.savez(tmp, x=np.arange(5))
            raise RuntimeError("crash while writing")
    with np.load(path) as f:
        np.testing.assert_array_equal(f["x"], np.arange(3))
    assert os.listdir(tmp_path) == ["a.npz"]


def test_permissions_follow_the_umask(tmp_path):
    umask = os.umask(0o022)
    try:
        write_text(tmp_path / "b.txt", "x")
    finally:
        os.umask(umask)
    assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o644


def test_leftover_temporaries_are_found_and_removed_but_nothing_else(tmp_path):
    from gconv_experiments.atomic_file import atomic_path, remove_temporaries, temporaries_of
    target = tmp_path / "snapshot.h5"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            open(tmp, "wb").write(b"new, partial")
            kept = tmp
            raise KeyboardInterrupt
    assert not os.path.exists(kept)  # an exception cleans up itself; a kill leaves the file:
    left = tmp_path / ".snapshot.h5.ab12cd34.h5"
    left.write_bytes(b"partial")
    others = [tmp_path / n for n in ("snapshot.h5.bak", ".snapshot.h5.h5", ".log.jsonl.x1y2z3w4.jsonl", "other.h5")]
    for p in others:
        p.write_bytes(b"x")
    assert temporaries_of(target) == [str(left)]
    assert remove_temporaries(target) == [str(left)]
    assert not left.exists() and all(p.exists() for p in others) and target.read_bytes() == b"old"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)],
                         ids=["umask022", "umask077", "umask002"])
def test_the_umask_is_applied_without_ever_being_changed(tmp_path, monkeypatch, umask, mode):
    """Setting the process umask, even for a moment, would change the permissions of files
    other threads create meanwhile: the umask must only ever be applied, never set."""
    before = os.umask(umask)
    try:
        def umask_set(mask):
            raise AssertionError(f"os.umask({mask:#o}) called while writing")
        monkeypatch.setattr(os, "umask", umask_set)
        write_text(tmp_path / "c.txt", "x")
        with atomic_path(tmp_path / "d.npz") as tmp:
            np.savez(tmp, x=np.arange(2))
        monkeypatch.undo()
    finally:
        os.umask(before)
    for name in ("c.txt", "d.npz"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name
    assert sorted(os.listdir(tmp_path)) == ["c.txt", "d.npz"]


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def test_save_figure_writes_the_png_with_the_given_arguments_and_closes_the_figure(tmp_path):
    from matplotlib.image import imread
    from gconv_experiments.atomic_file import save_figure
    plt = _pyplot()
    path = tmp_path / "plot.png"
    path.write_bytes(b"old")
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 0])
    assert save_figure(fig, path, dpi=50, format="png") == path
    assert imread(path).shape[:2] == (50, 100)  # 2 x 1 inches at dpi 50
    assert os.listdir(tmp_path) == ["plot.png"]
    assert not plt.fignum_exists(fig.number)


def test_save_figure_that_fails_keeps_the_old_file_and_closes_the_figure(tmp_path):
    from gconv_experiments.atomic_file import save_figure
    plt = _pyplot()
    path = tmp_path / "plot.png"
    path.write_bytes(b"old")
    from matplotlib.artist import Artist

    class Undrawable(Artist):  # savefig raises while it writes the file
        def draw(self, renderer):
            raise RuntimeError("cannot draw")
    fig, ax = plt.subplots(figsize=(2, 1))
    fig.add_artist(Undrawable())
    with pytest.raises(RuntimeError, match="cannot draw"):
        save_figure(fig, path, dpi=50, format="png")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["plot.png"]
    assert not plt.fignum_exists(fig.number)


def test_save_figure_that_fails_while_writing_keeps_the_old_file(tmp_path):
    """The PNG is cut off after 64 bytes by the file-size limit (as by a full disk)."""
    resource = pytest.importorskip("resource")
    import signal
    from gconv_experiments.atomic_file import save_figure
    plt = _pyplot()
    path = tmp_path / "plot.png"
    path.write_bytes(b"old")
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 0])
    fig.canvas.draw()  # nothing but the file is written below
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, hard))
    try:
        with pytest.raises(OSError):
            save_figure(fig, path, dpi=50, format="png")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["plot.png"]
    assert not plt.fignum_exists(fig.number)

"""RunFolder: the one place that writes a run folder's log, snapshot, summary and run files."""
import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gconv_experiments.training import ConfigError, RunFolder


def _entries(folder):
    with open(folder.log_path) as f:
        return [json.loads(line)["epoch"] for line in f]


def test_log_appends_and_a_resume_without_snapshot_starts_it_again(tmp_path):
    folder = RunFolder(str(tmp_path / "run"))
    folder.create()
    for epoch in (1, 2):
        folder.append_log(dict(epoch=epoch, train_loss=0.1 * epoch))
    assert _entries(folder) == [1, 2]
    start, log = folder.restore(model=None, optimizer=None, epochs=5, resume=True)  # no snapshot.h5
    assert (start, log, folder.last_saved) == (0, [], None)
    assert _entries(folder) == []


def test_a_partial_last_line_is_dropped_when_the_log_is_restored(tmp_path):
    folder = RunFolder(str(tmp_path))
    folder.create()
    folder.append_log(dict(epoch=1))
    with open(folder.log_path, "a") as f:
        f.write('{"epoch": 2, "train')
    assert folder.restore_log(3) == [{"epoch": 1}]
    assert _entries(folder) == [1]


def test_a_folder_that_does_not_write_writes_nothing(tmp_path):
    folder = RunFolder(str(tmp_path / "other_rank"), writes=False)
    folder.create()
    folder.append_log(dict(epoch=1))
    folder.write_summary(dict(test_error=0.5))
    assert not os.path.exists(folder.path)


def test_summary_is_strict_json(tmp_path):
    folder = RunFolder(str(tmp_path))
    folder.write_summary(dict(test_error=0.25))
    with open(folder.summary_path) as f:
        assert json.load(f) == {"test_error": 0.25}
    with pytest.raises(ValueError):
        folder.write_summary(dict(test_error=float("nan")))


def test_an_uncreatable_folder_is_named(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="--resultdir .*file/run: cannot create the folder"):
        RunFolder(str(tmp_path / "file" / "run")).create()


# --- a shared machine: planted links, folders that cannot be written, a full disk ---------------

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.mark.parametrize("name", ["log.jsonl", "summary.json", "snapshot.h5"])
@pytest.mark.parametrize("target_exists", [False, True], ids=["dangling", "to_a_file"])
def test_a_symlink_planted_as_a_run_file_is_refused(datadir, tmp_path, capsys, tiny, name, target_exists):
    out = tmp_path / "run"
    out.mkdir()
    target = tmp_path / "elsewhere.txt"
    if target_exists:
        target.write_text("someone else's file\n")
    os.symlink(target, out / name)
    status, err, _ = tiny.run(tiny.SMALL + ["--datadir", datadir, "--resultdir", str(out), "--epochs", "1"], capsys)
    tiny.assert_one_line_error(status, err)
    assert f"{out / name} is a symbolic link; the files of a result folder must be regular files" in err
    assert (target.read_text() == "someone else's file\n") if target_exists else not target.exists()
    assert os.listdir(out) == [name]


def test_a_log_turned_into_a_symlink_is_never_appended_through(tmp_path):
    folder = RunFolder(str(tmp_path / "run"))
    folder.create()
    folder.append_log(dict(epoch=1))
    os.remove(folder.log_path)
    os.symlink(tmp_path / "elsewhere.txt", folder.log_path)
    with pytest.raises(ConfigError, match="log.jsonl is a symbolic link"):
        folder.append_log(dict(epoch=2))
    folder.release()
    assert not (tmp_path / "elsewhere.txt").exists()


@pytest.mark.parametrize("where", ["folder", "parent"])
def test_a_resultdir_that_cannot_be_written_is_one_error(datadir, tmp_path, capsys, tiny, where):
    locked = tmp_path / "read_only"
    locked.mkdir()
    out = locked if where == "folder" else locked / "run"
    locked.chmod(0o555)
    if os.access(locked, os.W_OK):
        locked.chmod(0o755)
        pytest.skip("this process may write into any folder (root)")
    try:
        status, err, stdout = tiny.run(tiny.SMALL + ["--datadir", datadir, "--resultdir", str(out), "--epochs", "1"],
                                       capsys)
    finally:
        locked.chmod(0o755)
    tiny.assert_one_line_error(status, err)
    assert f"--resultdir {out} cannot be written" in err and "permission denied" in err
    assert "epoch 1" not in stdout and os.listdir(locked) == []


def test_a_full_disk_while_saving_a_snapshot_ends_in_one_line(datadir, tmp_path, capsys, tiny, monkeypatch):
    """The disk fills up while the snapshot of epoch 2 is written (here: its fsync fails with
    ENOSPC): one line naming the file, the reason and the snapshot kept; no temporary file."""
    out = str(tmp_path / "run")
    real_fsync = os.fsync

    def fsync(fd):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(".snapshot.h5.") and \
                os.path.exists(os.path.join(out, "snapshot.h5")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    status, err, _ = tiny.run(tiny.SMALL + ["--datadir", datadir, "--resultdir", out, "--epochs", "3"], capsys)
    tiny.assert_one_line_error(status, err, expected_status=1)
    assert err.strip() == (f"train.py: error: cannot write the snapshot {out}/snapshot.h5 (No space left on device); "
                           f"the snapshot of epoch 1 is kept; free space and run again with --resume")
    assert sorted(os.listdir(out)) == ["Z2CNN.py", "args.json", "log.jsonl", "run.json", "snapshot.h5"]
    assert tiny.snapshot(out)[1] == 1


def test_a_file_size_limit_while_saving_a_snapshot_ends_in_one_line_and_resumes(datadir, tmp_path, tiny):
    """A real process whose writes fail (RLIMIT_FSIZE, SIGXFSZ ignored: EFBIG) from epoch 2 on:
    one line, non-zero exit, no temporary file, the epoch-1 snapshot intact; --resume then ends
    bit for bit as an uninterrupted run."""
    common = ["--net_kwargs", "{'channels': 4}", "--batchsize", "16", "--quiet", "--datadir", datadir,
              "--epochs", "2", "--seed", "4"]
    model = tiny.act_model(tmp_path)
    straight, limited = str(tmp_path / "straight"), str(tmp_path / "limited")
    env = dict(os.environ, PYTHONPATH=REPO)
    command = [sys.executable, "-m", "gconv_experiments.MNIST_ROT.train", "--modelfn", model] + common
    assert subprocess.run(command + ["--resultdir", straight], env=env, cwd=str(tmp_path)).returncode == 0
    proc = subprocess.run(command + ["--resultdir", limited], env=dict(env, ACT="fsize:4096", ACT_STEP="5"),
                          cwd=str(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == (
        f"MNIST_ROT/train.py: error: cannot write the snapshot {limited}/snapshot.h5 (File too large); the snapshot "
        f"of epoch 1 is kept; lift the file size limit (ulimit -f) and run again with --resume")
    assert not [n for n in os.listdir(limited) if n.startswith(".")]
    assert tiny.snapshot(limited)[1] == 1
    proc = subprocess.run([sys.executable, "-m", "gconv_experiments.MNIST_ROT.train", "--resultdir", limited,
                           "--resume"], env=env, cwd=str(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    a, b = tiny.snapshot(straight), tiny.snapshot(limited)
    assert a[1] == b[1] == 2
    for name in a[0]:
        np.testing.assert_array_equal(a[0][name], b[0][name], err_msg=name)
    assert tiny.strict_json(os.path.join(limited, "summary.json"))["test_error"] == \
        tiny.strict_json(os.path.join(straight, "summary.json"))["test_error"]

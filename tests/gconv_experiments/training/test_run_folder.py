"""RunFolder: the one place that writes a run folder's log, snapshot, summary and run files."""
import json
import os

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

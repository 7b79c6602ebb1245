"""What --resume accepts and refuses, and bad arguments (path errors naming their flag,
--net_kwargs values, model files that fail to import) ending in one clear line."""
import os
import re
import shutil

import numpy as np
import pytest

from gconv_experiments import training
from gconv_experiments.MNIST_ROT import train


# --- what --resume accepts and refuses ---------------------------------------------------------

@pytest.fixture(scope="module")
def finished(datadir, tmp_path_factory):
    """A finished 1-epoch run; tests copy it before changing it."""
    out = str(tmp_path_factory.mktemp("finished") / "run")
    train.main(["--modelfn", "Z2CNN", "--net_kwargs", "{'channels': 4}", "--batchsize", "16", "--quiet",
                "--datadir", datadir, "--resultdir", out, "--epochs", "1"])
    return out


def _copy(finished, tmp_path):
    out = str(tmp_path / "run")
    shutil.copytree(finished, out)
    return out


def test_resume_accepts_settings_that_do_not_change_the_trajectory(finished, datadir, tmp_path, capsys, tiny):
    out = _copy(finished, tmp_path)
    status, err, _ = tiny.run(["--resultdir", out, "--resume", "--epochs", "3", "--testfn", "test.npz", "--quiet",
                          "--val_freq", "2", "--save_freq", "2", "--modelfn", "MNIST_ROT/models/Z2CNN.py",
                          "--net_kwargs", "{'channels':4}", "--opt_kwargs", "{'lr': 0.001}",
                          "--datadir", datadir + os.sep], capsys)
    assert status == 0, err
    assert [e["epoch"] for e in tiny.strict_json(os.path.join(out, "log.jsonl"))] == [1, 2, 3]


@pytest.mark.parametrize("extra, named", [
    (["--seed", "1"], "--seed: 0 -> 1"),
    (["--batchsize", "8"], "--batchsize: 16 -> 8"),
    (["--opt", "MomentumSGD", "--opt_kwargs", "{'lr': 0.001}"], "--opt: 'Adam' -> 'MomentumSGD'"),
    (["--opt_kwargs", "{'alpha': 0.01}"], "--opt_kwargs: "),
    (["--net_kwargs", "{'channels': 5}"], "--net_kwargs: "),
    (["--modelfn", "P4CNN", "--net_kwargs", "{'channels': 4}"], "--modelfn: 'Z2CNN' -> 'P4CNN'"),
    (["--transformations", "hflip"], "--transformations: [] -> ['hflip']"),
    (["--weight_decay", "0.1"], "--weight_decay: 0.0 -> 0.1"),
    (["--train_size", "32"], "--train_size: None -> 32"),
    (["--normalization", "none"], "--normalization: 'train_scalar' -> 'none'"),
    (["--bn_reestimation", "clean"], "--bn_reestimation: 'augmented' -> 'clean'"),
    (["--trainfn", "test.npz"], "--trainfn (with --datadir): "),
])
def test_resume_refuses_settings_that_change_the_trajectory_naming_them(finished, tmp_path, capsys, tiny, extra, named):
    out = _copy(finished, tmp_path)
    status, err, _ = tiny.run(["--resultdir", out, "--resume", "--epochs", "2"] + extra, capsys)
    tiny.assert_one_line_error(status, err)
    assert "was trained with other settings" in err and named in err, err


def test_resume_on_other_data_is_refused_unless_the_content_matches(finished, datadir, tmp_path, capsys, tiny):
    out = _copy(finished, tmp_path)
    same, other = tmp_path / "same", tmp_path / "other"
    shutil.copytree(datadir, same)
    other.mkdir()
    tiny.make(other / "train_all.npz", 64, 7)
    shutil.copy(os.path.join(datadir, "test.npz"), other / "test.npz")
    status, err, _ = tiny.run(["--resultdir", out, "--resume", "--epochs", "2", "--datadir", str(other)], capsys)
    tiny.assert_one_line_error(status, err)
    assert "--trainfn (with --datadir)" in err and str(other / "train_all.npz") in err
    assert os.path.join(datadir, "train_all.npz") in err and "--valfn" not in err
    status, err, _ = tiny.run(["--resultdir", out, "--resume", "--epochs", "2", "--datadir", str(same)], capsys)
    assert status == 0, err


def test_equal_values_written_differently_compare_equal(datadir):
    kw = dict(defaults=train.DEFAULTS, models_package=train.MODELS_PACKAGE)
    base = ["--datadir", datadir]
    a = training.resolve_run(base + ["--modelfn", "MNIST_ROT/models/P4CNN.py", "--opt_kwargs", "{'alpha':0.001}"], **kw)
    b = training.resolve_run(base + ["--modelfn", "P4CNN", "--opt_kwargs", "{'alpha': 0.001}"], **kw)
    c = training.resolve_run(base + ["--modelfn", "P4CNN", "--opt_kwargs", "{'lr': 1e-3}",
                                     "--net_kwargs", "{'channels': 10}"], **kw)
    d = training.resolve_run(base + ["--modelfn", "P4CNN", "--opt_kwargs", "{'alpha': 0.002}"], **kw)
    assert a["fingerprint"] == b["fingerprint"] == c["fingerprint"] != d["fingerprint"]
    assert training.differences(a, b) == training.differences(a, c) == []
    assert training.differences(a, d) == [d_ for d_ in training.differences(a, d) if d_.startswith("--opt_kwargs: ")] != []


# --- result folder and path errors -------------------------------------------------------------

def test_resultdir_that_is_a_file_is_a_clear_error(datadir, tmp_path, capsys, tiny):
    path = tmp_path / "afile"
    path.write_text("x")
    for out in (str(path), str(path / "sub")):
        status, err, _ = tiny.run(tiny.SMALL + ["--datadir", datadir, "--resultdir", out, "--epochs", "1"], capsys)
        tiny.assert_one_line_error(status, err)
        assert "--resultdir" in err and str(path) in err and ("is a file" in err or "existing file" in err)


@pytest.mark.parametrize("flag", ["trainfn", "valfn"])
def test_missing_data_files_name_their_flag(datadir, tmp_path, capsys, tiny, flag):
    status, err, _ = tiny.run(tiny.SMALL + ["--datadir", datadir, "--resultdir", str(tmp_path / "o"), "--epochs", "1",
                                       f"--{flag}", "nothere.npz"], capsys)
    tiny.assert_one_line_error(status, err)
    assert f"--{flag} (in --datadir {datadir})" in err and os.path.join(datadir, "nothere.npz") in err


# --- --net_kwargs and --modelfn ----------------------------------------------------------------

@pytest.mark.parametrize("model", ["Z2CNN", "P4CNN"])
@pytest.mark.parametrize("net_kwargs, named", [("{'dropout': 2.0}", r"dropout must be .*\[0, 1\)"),
                                               ("{'channels': 10.5}", "channels must be an integer >= 1"),
                                               ("{'channels': 'ten'}", "channels must be an integer >= 1")])
def test_net_kwargs_values_are_checked_at_construction(datadir, tmp_path, capsys, tiny, model, net_kwargs, named):
    status, err, stdout = tiny.run(["--modelfn", model, "--net_kwargs", net_kwargs, "--datadir", datadir, "--quiet",
                               "--resultdir", str(tmp_path / "o"), "--epochs", "1"], capsys)
    tiny.assert_one_line_error(status, err)
    assert "--net_kwargs" in err and re.search(named, err), err
    assert "epoch 1" not in stdout


UNCHECKED_MODEL = """
import chainer.functions as F
import chainer.links as L
from gconv_experiments.layers import Classifier


class Unchecked(Classifier):
    def __init__(self, ratio=0.5):
        super().__init__()
        self.ratio = ratio
        with self.init_scope():
            self.fc = L.Linear(None, 10)

    def logits(self, x):
        return self.fc(F.dropout(x, self.ratio))
"""


def test_a_model_without_its_own_checks_fails_before_training(datadir, tmp_path, capsys, tiny):
    path = tmp_path / "Unchecked.py"
    path.write_text(UNCHECKED_MODEL)
    status, err, stdout = tiny.run(["--modelfn", str(path), "--net_kwargs", "{'ratio': 1.5}", "--datadir", datadir,
                               "--quiet", "--resultdir", str(tmp_path / "o"), "--epochs", "1"], capsys)
    tiny.assert_one_line_error(status, err)
    assert "--net_kwargs {'ratio': 1.5}: Unchecked fails in a training-mode forward pass" in err
    assert "epoch 1" not in stdout


@pytest.mark.parametrize("source, error", [("import no_such_module_xyz\n", "ModuleNotFoundError: No module named 'no_such_module_xyz'"),
                                           ("def broken(:\n", "SyntaxError"),
                                           ("raise RuntimeError('boom')\n", "RuntimeError: boom")])
def test_a_model_file_that_fails_to_import_is_one_line(datadir, tmp_path, capsys, tiny, source, error):
    path = tmp_path / "Broken.py"
    path.write_text(source)
    argv = ["--modelfn", str(path), "--datadir", datadir, "--resultdir", str(tmp_path / "o")]
    status, err, _ = tiny.run(argv, capsys)
    tiny.assert_one_line_error(status, err)
    assert f"--modelfn {path}: {path} fails to import: {error}" in err and "--verbose" in err
    status, err, _ = tiny.run(argv + ["--verbose"], capsys)
    assert status == 2 and "Traceback" in err and error.split(":")[0] in err


@pytest.mark.parametrize("extra, message", [(["--train_size", "65"], "--train_size 65 exceeds the 64 examples of --trainfn"),
                                            (["--val_size", "33"], "--val_size 33 exceeds the 32 examples of --valfn")])
def test_sizes_beyond_the_file_are_refused(datadir, tmp_path, capsys, tiny, extra, message):
    status, err, _ = tiny.run(tiny.SMALL + ["--datadir", datadir, "--resultdir", str(tmp_path / "o"), "--epochs", "1"] + extra,
                         capsys)
    tiny.assert_one_line_error(status, err)
    assert message in err


def test_a_load_data_hook_is_checked_like_a_file(datadir, tmp_path):
    """Whatever a dataset's load_data hook returns (CIFAR's preprocessed cache) is checked too."""
    def load(path):
        x, y = training.load_npz_dataset(path)
        x = x.copy()
        x[3, 0, 1, 2] = np.nan
        return x, y
    with pytest.raises(training.ConfigError, match=r"--trainfn: .*train_all.npz: non-finite pixel nan at index \(3, 0, 1, 2\)"):
        training.main(["--modelfn", "Z2CNN", "--datadir", datadir, "--resultdir", str(tmp_path / "o"), "--quiet"],
                      defaults=train.DEFAULTS, models_package=train.MODELS_PACKAGE, load_data=load)


def test_resume_of_a_run_without_a_run_record_is_refused(finished, tmp_path, capsys, tiny):
    """A run folder from before run.json existed cannot be checked, so it is not continued."""
    out = _copy(finished, tmp_path)
    os.remove(os.path.join(out, "run.json"))
    status, err, _ = tiny.run(["--resultdir", out, "--resume", "--epochs", "2"], capsys)
    tiny.assert_one_line_error(status, err)
    assert f"{out} has no run.json (it was made by an older version)" in err


def test_run_record_keeps_the_thread_count_and_resume_names_a_change(finished, tmp_path, capsys, tiny):
    """The numbers depend on groupy's CPU thread count in the last bits: run.json records it and
    a --resume with another count says so (and still runs)."""
    import json

    from groupy import fast_cpu
    out = _copy(finished, tmp_path)
    with open(os.path.join(out, "run.json")) as f:
        trained_with = json.load(f)["conv_threads"]
    assert trained_with == fast_cpu.get_num_threads()
    other = 1 if trained_with != 1 else 2
    fast_cpu.set_num_threads(other)
    try:
        status, err, _ = tiny.run(["--resultdir", out, "--resume", "--epochs", "2"], capsys)
        assert status == 0, err
        assert f"trained with {trained_with} groupy CPU thread(s)" in err and f"uses {other}" in err
        with open(os.path.join(out, "run.json")) as f:
            assert json.load(f)["conv_threads"] == other
        status, err, _ = tiny.run(["--resultdir", out, "--resume", "--epochs", "3"], capsys)
        assert status == 0 and "groupy CPU thread" not in err
    finally:
        fast_cpu.set_num_threads(trained_with)


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "record-predates-it"])
def test_resume_continues_on_the_cpu_code_paths_the_run_started_on(datadir, tmp_path, capsys, tiny, recorded):
    """run.json records the CPU code paths (the compiled kernels or NumPy passes); a --resume in a
    process whose default differs continues on the recorded ones (a record without them: the
    kernels were off), says so, and ends bit for bit as the uninterrupted run."""
    import json

    import chainer
    pytest.importorskip("numba")
    common = tiny.SMALL + ["--datadir", datadir, "--seed", "3"]
    paths = {name: str(tmp_path / name) for name in ("straight", "resumed", "on")}
    with chainer.using_config("groupy_fast_cpu_numba", False):
        assert tiny.run(common + ["--resultdir", paths["straight"], "--epochs", "2"], capsys)[0] == 0
        assert tiny.run(common + ["--resultdir", paths["resumed"], "--epochs", "1"], capsys)[0] == 0
    run_json = os.path.join(paths["resumed"], "run.json")
    with open(run_json) as f:
        record = json.load(f)
    assert record["cpu_kernels"] == {"fast_cpu": True, "numba": False, "conv_algo": "auto"}
    if not recorded:
        del record["cpu_kernels"]
        with open(run_json, "w") as f:
            json.dump(record, f)
    with chainer.using_config("groupy_fast_cpu_numba", True):
        status, err, _ = tiny.run(["--resultdir", paths["resumed"], "--resume", "--epochs", "2"], capsys)
        assert status == 0, err
        assert f"note: {paths['resumed']} continues on the CPU code paths it was trained with: " \
               f"numba False (this process: True)" in err
        assert tiny.run(common + ["--resultdir", paths["on"], "--epochs", "2"], capsys)[0] == 0
    with open(run_json) as f:
        assert json.load(f)["cpu_kernels"]["numba"] is False
    straight, resumed, on = (tiny.snapshot(paths[name])[0] for name in ("straight", "resumed", "on"))
    for name in straight:
        np.testing.assert_array_equal(straight[name], resumed[name], err_msg=name)
    # the kernels change the last bits: a continuation on them would not be the run's own
    assert any(not np.array_equal(straight[name], on[name]) for name in straight)

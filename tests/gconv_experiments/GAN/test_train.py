"""End-to-end runs of ``python -m gconv_experiments.GAN.train`` on tiny data: samples, FID lines
and the final generator are written; a killed run resumed with --resume ends with the weights of
an uninterrupted one; bad flags and non-finite losses stop with a one-line error."""
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from gconv_experiments.GAN import train

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _command(args):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", GROUPY_CPU_CONV_THREADS="1")
    return [sys.executable, "-m", "gconv_experiments.GAN.train", *args], env


def _log(folder):
    with open(os.path.join(folder, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


def _arrays(folder):
    out = {}
    with np.load(os.path.join(folder, "generator.npz")) as f:
        out.update({"gen/" + k: f[k] for k in f.files})
    with h5py.File(os.path.join(folder, "snapshot.h5"), "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
        out["step"] = f.attrs["step"]
    return out


def test_tiny_run_writes_samples_fid_and_generator(tmp_path, gan_tiny_args):
    run = tmp_path / "run"
    code = train.main(gan_tiny_args + ["--resultdir", str(run), "--gen", "p4", "--disc", "p4m",
                                       "--steps", "3", "--fid_every", "2", "--log_every", "1"])
    assert code == 0
    log = _log(run)
    fids = [r for r in log if "fid" in r]
    assert [r["step"] for r in fids] == [2, 3] and all(np.isfinite(r["fid"]) and r["fid"] > 0
                                                        for r in fids)
    assert [r["step"] for r in log if "g_loss" in r] == [1, 2, 3]
    assert all(np.isfinite(r[k]) for r in log if "g_loss" in r for k in ("d_loss", "g_loss", "r1"))
    assert (run / "samples_000002.png").is_file() and (run / "samples_000003.png").is_file()
    record = json.loads((run / "run.json").read_text())
    assert record["args"]["gen"] == "p4" and record["settings"]["disc_widths"] == [1, 1, 2]
    arrays = _arrays(run)
    assert arrays["step"] == 3 and "gen/conv1/W_u" in arrays and "dis/conv1/W_u" in arrays


@pytest.mark.slow
def test_killed_run_resumes_bit_for_bit(tmp_path, gan_tiny_args):
    common = gan_tiny_args + ["--gen", "p4", "--disc", "p4", "--steps", "12", "--fid_every", "4",
                              "--snapshot_every", "1", "--log_every", "2"]
    whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
    # both in processes of the same thread settings: sums split over other thread counts differ
    cmd, env = _command(common + ["--resultdir", whole])
    subprocess.run(cmd, env=env, check=True, timeout=120)

    cmd, env = _command(common + ["--resultdir", parts])
    proc = subprocess.Popen(cmd, env=env)
    snapshot = os.path.join(parts, "snapshot.h5")
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        if os.path.isfile(snapshot):
            try:
                with h5py.File(snapshot, "r") as f:
                    if f.attrs["step"] >= 2:
                        break
            except (OSError, KeyError):
                pass
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not os.path.isfile(os.path.join(parts, "generator.npz"))
    killed_at = _arrays_step(snapshot)
    assert 2 <= killed_at < 12

    cmd, env = _command(common + ["--resultdir", parts, "--resume"])
    subprocess.run(cmd, env=env, check=True, timeout=120)
    a, b = _arrays(whole), _arrays(parts)
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    fid = lambda folder: [(r["step"], r["fid"]) for r in _log(folder) if "fid" in r]  # noqa: E731
    assert fid(whole) == fid(parts)


def _arrays_step(snapshot):
    with h5py.File(snapshot, "r") as f:
        return int(f.attrs["step"])


def test_resume_with_other_flags_and_rerun_without_resume_are_refused(tmp_path, gan_tiny_args,
                                                                      capsys):
    run = str(tmp_path / "run")
    assert train.main(gan_tiny_args + ["--resultdir", run, "--steps", "1"]) == 0
    assert train.main(gan_tiny_args + ["--resultdir", run, "--steps", "1"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert train.main(gan_tiny_args + ["--resultdir", run, "--steps", "2", "--lr_d", "0.001",
                                       "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("train: error: --lr_d is 0.001 but the run") and "\n" not in err


def test_resume_continues_on_the_cpu_code_paths_the_run_started_on(tmp_path, gan_tiny_args, capsys):
    """run.json records the CPU code paths; a --resume in a process whose default differs
    continues on the recorded ones, says so, and ends as the uninterrupted run, bit for bit."""
    import chainer
    pytest.importorskip("numba")
    common = gan_tiny_args + ["--gen", "p4", "--disc", "p4", "--fid_every", "2", "--log_every", "1"]
    whole, parts, on = (str(tmp_path / name) for name in ("whole", "parts", "on"))
    with chainer.using_config("groupy_fast_cpu_numba", False):
        assert train.main(common + ["--resultdir", whole, "--steps", "4"]) == 0
        assert train.main(common + ["--resultdir", parts, "--steps", "2"]) == 0
    recorded = json.loads((tmp_path / "parts" / "run.json").read_text())["settings"]["cpu_kernels"]
    assert recorded == {"fast_cpu": True, "numba": False, "conv_algo": "auto"}
    capsys.readouterr()
    with chainer.using_config("groupy_fast_cpu_numba", True):
        assert train.main(common + ["--resultdir", parts, "--steps", "4", "--resume"]) == 0
        assert f"note: {parts} continues on the CPU code paths it was trained with: numba False " \
               "(this process: True)" in capsys.readouterr().err
        assert train.main(common + ["--resultdir", on, "--steps", "4"]) == 0
    a, b, c = _arrays(whole), _arrays(parts), _arrays(on)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert any(not np.array_equal(a[key], c[key]) for key in a)  # the kernels change the last bits


@pytest.mark.parametrize("flags, message", [
    (["--gen", "p4m"], "argument --gen: invalid choice: 'p4m'"),
    (["--steps", "0"], "argument --steps: expected a positive integer, got '0'"),
    (["--lr_d", "-1"], "argument --lr_d: expected a number in (0, inf), got '-1'"),
    (["--beta2", "nan"], "argument --beta2: expected a number in [0, 1), got 'nan'"),
    (["--fid_samples", "15"], "argument --fid_samples: expected a multiple of 10, got 15"),
    (["--judge_samples", "50"], "argument --judge_samples: at most --fid_samples (30), got 50"),
])
def test_bad_flags_give_one_line_errors_naming_the_flag(tmp_path, gan_tiny_args, capsys, flags,
                                                        message):
    with pytest.raises(SystemExit) as e:
        train.parse_args(gan_tiny_args + ["--resultdir", str(tmp_path / "r")] + flags)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_gpu_flag_without_a_device_is_refused(tmp_path, gan_tiny_args, capsys):
    pytest.importorskip("cupy")
    import cupy
    if cupy.is_available():
        pytest.skip("a CUDA device is available")
    assert train.main(gan_tiny_args + ["--resultdir", str(tmp_path / "r"), "--gpu", "0"]) == 2
    assert "--gpu 0: no usable CUDA device" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--trainfn", "absent.npz"], "absent.npz: no such file"),
    (["--testfn", "absent.npz"], "absent.npz: no such file (the FID reference set, --testfn)"),
    (["--judge_samples", "10", "--judge_run", "/nonexistent"], "judge run /nonexistent: "),
])
def test_missing_files_are_named(tmp_path, gan_tiny_args, capsys, flags, message):
    assert train.main(gan_tiny_args + ["--resultdir", str(tmp_path / "r")] + flags) == 2
    err = capsys.readouterr().err
    assert err.startswith("train: error: ") and message in err and err.count("\n") == 1


def test_bad_data_file_is_named(tmp_path, gan_tiny_args, gan_datadir, capsys):
    x = np.full((20, 1, 28, 28), np.nan, np.float32)
    np.savez(gan_datadir / "train_all.npz", data=x, labels=np.zeros(20, np.int32))
    assert train.main(gan_tiny_args + ["--resultdir", str(tmp_path / "r")]) == 2
    assert "train_all.npz: pixels must be finite and in [0, 1]" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--fid_every", "10", "--snapshot_every", "1"], "the discriminator loss is nan at G step 2; "
     "no update was applied (the snapshot of step 1 is kept)"),
    (["--fid_every", "1"], "the generated images are not finite after G step 1 (no snapshot yet)"),
])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow is what the test provokes
def test_non_finite_values_stop_the_run(tmp_path, gan_tiny_args, capsys, flags, message):
    # lr 1e30: the first G update makes the generator's weights huge, its images NaN
    run = tmp_path / "run"
    code = train.main(gan_tiny_args + ["--resultdir", str(run), "--steps", "20", "--lr_g", "1e30"]
                      + flags)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1] == "train: error: stopped: " + message
    assert not (run / "generator.npz").exists()


def test_defaults_are_dey_et_als_settings():
    """Written out from the module docstring (Dey et al.): Adam beta (0, 0.9), lr 1e-4 (G) and
    4e-4 (D), two D updates per G step, batch 64, R1 gamma 0.1."""
    args = train.parse_args(["--datadir", "d", "--resultdir", "r"])
    assert (args.beta1, args.beta2, args.lr_g, args.lr_d) == (0.0, 0.9, 1e-4, 4e-4)
    assert (args.d_steps, args.batchsize, args.r1_gamma) == (2, 64, 0.1)


def test_the_judge_classifies_every_third_image_up_to_judge_samples(tmp_path, gan_tiny_args, gan_datadir):
    """--judge_samples 10 of --fid_samples 30: the judge's accuracy is that of images 0, 3, ...,
    27 of the evaluation set (one per class), recomputed here from the saved generator."""
    import chainer
    from gconv_experiments.GAN.generator import Generator
    from gconv_experiments.GAN.judge import Judge
    from gconv_experiments.MNIST_ROT import train as classifier_train
    judge_run = str(tmp_path / "judge")
    classifier_train.main(["--modelfn", "Z2CNN", "--net_kwargs", "{'channels': 2}", "--batchsize", "20", "--quiet",
                           "--epochs", "1", "--datadir", str(gan_datadir), "--resultdir", judge_run])
    run = tmp_path / "run"
    flags = [f for f in gan_tiny_args if f != "--judge_samples" and f != "0"]
    assert train.main(flags + ["--resultdir", str(run), "--steps", "1", "--fid_every", "1",
                               "--judge_samples", "10", "--judge_run", judge_run]) == 0
    logged, = [r["judge_accuracy"] for r in _log(run) if "judge_accuracy" in r]
    gen = Generator("z2", ch=2, latent_dim=8, embed_dim=4)
    chainer.serializers.load_npz(str(run / "generator.npz"), gen)
    labels = np.repeat(np.arange(10, dtype=np.int32), 3)
    x = gen.sample(labels, np.random.default_rng([0, 2 ** 31]))
    judge = Judge.from_run(judge_run, str(gan_datadir))
    assert logged == judge.accuracy(x[::3], labels[::3])

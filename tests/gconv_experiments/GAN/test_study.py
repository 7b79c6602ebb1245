"""The GAN study end to end on tiny data (2 pairings x 1 seed, 2 G steps, tiny models): the
report files, a second invocation skipping the finished runs, a run with fewer G steps continued
to the weights of an uninterrupted one, folders with other settings or data refused before
anything trains, single jobs, and one-line errors for bad flags."""
import csv
import json
import os
import shutil

import numpy as np
import pytest

from gconv_experiments.GAN import study

TINY = ["--pairings", "z2_z2,z2_p4", "--seeds", "0", "--steps", "2", "--fid_every", "1", "--ch", "2",
        "--latent_dim", "8", "--embed_dim", "4", "--batchsize", "8", "--fid_samples", "30",
        "--judge_samples", "0"]
PNG = b"\x89PNG\r\n\x1a\n"


def _flags(results, *extra):
    """TINY with --results and `extra` (a flag given again overrides TINY's)."""
    return TINY + ["--results", str(results), *extra]


def _log(folder):
    with open(folder / "log.jsonl") as f:
        return [json.loads(line) for line in f]


def _generator(folder):
    with np.load(folder / "generator.npz") as f:
        return {k: f[k] for k in f.files}


def _mtimes(results):
    return {p: p.stat().st_mtime_ns for p in results.glob("*/seed0/*") if p.suffix in (".h5", ".npz", ".jsonl")}


def test_the_tiny_study_writes_the_report_and_a_second_call_skips_its_runs(tmp_path, gan_datadir, capsys):
    results = tmp_path / "gan"
    assert study.main(_flags(results, "--datadir", str(gan_datadir))) == 0
    out = capsys.readouterr().out
    assert "z2_z2 seed 0: training for 2 G steps in" in out and "2 of 2 runs finished" in out

    text = (results / "results.md").read_text()
    assert "2 of 2 planned runs finished (2 G steps each, width 2" in text
    with open(results / "results.csv") as f:
        rows = {r["pairing"]: r for r in csv.DictReader(f)}
    assert list(rows) == ["z2_z2", "z2_p4"]
    for pairing, (gen, disc) in (("z2_z2", ("z2", "z2")), ("z2_p4", ("z2", "p4"))):
        row, folder = rows[pairing], results / pairing / "seed0"
        fids = [r for r in _log(folder) if "fid" in r]
        assert [r["step"] for r in fids] == [1, 2]
        assert (row["generator"], row["discriminator"], row["runs_finished"]) == (gen, disc, "1")
        assert float(row["final_fid_mean"]) == fids[-1]["fid"]
        assert float(row["best_fid_mean"]) == min(r["fid"] for r in fids)
        assert f"| {gen} | {disc} | 1/1 | {fids[-1]['fid']:.2f} |" in text
        record = json.loads((folder / study.RECORD).read_text())
        assert record["settings"]["gen_ch"] == 2 and record["settings"]["disc"] == disc
        assert set(record["data"]) == {"trainfn", "testfn", "fid_net"}
        png = (results / f"samples_{pairing}.png").read_bytes()
        assert png[:8] == PNG and len(png) > 5000
    with open(results / "runs.csv") as f:
        assert [(r["pairing"], r["seed"], r["finished"]) for r in csv.DictReader(f)] == \
            [("z2_z2", "0", "True"), ("z2_p4", "0", "True")]
    assert (results / "fid_curves.png").read_bytes()[:8] == PNG

    before = _mtimes(results)
    assert study.main(_flags(results, "--datadir", str(gan_datadir))) == 0
    assert _mtimes(results) == before
    assert capsys.readouterr().out.count("finished earlier, skipping") == 2
    assert study.main(_flags(results, "--report-only")) == 0
    assert "2 of 2 runs finished" in capsys.readouterr().out

    # other settings in the same folders: refused, naming the differences, nothing trained
    assert study.main(_flags(results, "--datadir", str(gan_datadir), "--ch", "3")) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m gconv_experiments.GAN.study: error: ") and err.count("\n") == 1
    assert "holds a run made with other settings: --disc_ch: 2 -> 3; --gen_ch: 2 -> 3" in err
    # other data: a test.npz of other content
    other = tmp_path / "other_data"
    shutil.copytree(gan_datadir, other)
    np.savez(other / "test.npz", data=np.zeros((40, 1, 28, 28), np.float32),
             labels=np.arange(40, dtype=np.int32) % 10)
    assert study.main(_flags(results, "--datadir", str(other))) == 2
    assert "--testfn file: " in capsys.readouterr().err
    assert _mtimes(results) == before

    # a run with fewer G steps continues to the weights of the uninterrupted run
    short = tmp_path / "short"
    assert study.main(_flags(short, "--datadir", str(gan_datadir), "--pairings", "z2_p4", "--steps", "1")) == 0
    assert study.main(_flags(short, "--datadir", str(gan_datadir), "--pairings", "z2_p4")) == 0
    assert "z2_p4 seed 0: resuming from G step 1 in" in capsys.readouterr().out
    a, b = _generator(results / "z2_p4" / "seed0"), _generator(short / "z2_p4" / "seed0")
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)



def test_single_jobs_and_the_job_list(tmp_path, gan_datadir, capsys):
    results = tmp_path / "gan"
    assert study.main(_flags(results, "--list-jobs")) == 0
    assert capsys.readouterr().out.splitlines() == ["0 z2_z2 0", "1 z2_p4 0"]
    assert study.main(_flags(results, "--run-job", "1", "--datadir", str(gan_datadir))) == 0
    assert "1 of 2 runs finished" in capsys.readouterr().out
    assert (results / "z2_p4" / "seed0" / "generator.npz").is_file()
    assert not (results / "z2_z2").exists()
    assert "| z2 | z2 | 0/1 | – |" in (results / "results.md").read_text()
    assert study.main(_flags(results, "--run-job", "1", "--datadir", str(gan_datadir))) == 0
    assert "z2_p4 seed 0: finished earlier, skipping" in capsys.readouterr().out


def test_a_run_folder_without_the_study_record_is_refused(tmp_path, gan_datadir, capsys):
    results = tmp_path / "gan"
    assert study.main(_flags(results, "--run-job", "0", "--datadir", str(gan_datadir))) == 0
    os.remove(results / "z2_z2" / "seed0" / study.RECORD)
    capsys.readouterr()
    assert study.main(_flags(results, "--run-job", "0", "--datadir", str(gan_datadir))) == 2
    err = capsys.readouterr().err
    assert "z2_z2/seed0 holds a GAN run without study_run.json" in err and err.count("\n") == 1


@pytest.mark.parametrize("flags, message", [
    (["--pairings", "z2_p4m"], "--pairings 'z2_p4m': expected distinct names of z2_z2, z2_p4, p4_p4"),
    (["--seeds", "0,0"], "--seeds '0,0': expected distinct integers >= 0"),
    (["--fid_samples", "35"], "--fid_samples 35: expected a multiple of 10"),
    (["--run-job", "0"], "--run-job needs --datadir (the MNIST-rot-like data folder)"),
    (["--run-job", "2", "--datadir", "."], "--run-job 2: no such job (0..1; see --list-jobs)"),
    ([], "--datadir is required to train"),
])
def test_bad_flags_are_one_line_errors(tmp_path, capsys, flags, message):
    assert study.main(_flags(tmp_path / "gan", *flags)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_bad_number_is_refused_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        study.main(_flags(tmp_path / "gan", "--steps", "0"))
    assert e.value.code == 2 and "argument --steps: expected a positive integer, got '0'" in capsys.readouterr().err


@pytest.mark.slow
def test_workers_on_dask_train_the_weights_of_a_run_in_this_process(tmp_path, gan_datadir):
    pytest.importorskip("distributed")
    flags = ["--pairings", "z2_p4", "--datadir", str(gan_datadir)]
    assert study.main(_flags(tmp_path / "here", *flags)) == 0
    assert study.main(_flags(tmp_path / "dask", *flags, "--workers", "2")) == 0
    a, b = _generator(tmp_path / "here" / "z2_p4" / "seed0"), _generator(tmp_path / "dask" / "z2_p4" / "seed0")
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert (tmp_path / "dask" / "samples_z2_p4.png").read_bytes()[:8] == PNG

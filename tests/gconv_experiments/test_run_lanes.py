"""gconv_experiments/run_lanes.sh with every study module: the jobs of `--list-jobs` ('K ...'
lines, K = 0, 1, ...) each run exactly once by the lanes with the shared flags, the study's
folder taken from the module's RESULTS unless RESULTS is set, the report written last with
--report-only; a failing job is logged and the others still run; bad LANES is refused."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "gconv_experiments", "run_lanes.sh")
MODULES = {"gconv_experiments.MNIST_ROT.reproduction": os.path.join("results", "mnist_rot"),
           "gconv_experiments.MNIST6.partial_study": os.path.join("results", "partial"),
           "gconv_experiments.MNIST_ROT.data_efficiency": os.path.join("results", "data_efficiency"),
           "gconv_experiments.GAN.study": os.path.join("results", "gan")}


def _fake_python(tmp_path, fail_job=None):
    """An interpreter that records job and report calls in calls.txt (job `fail_job` exits 3)
    and runs everything else (--list-jobs, reading RESULTS) with this Python."""
    fake = tmp_path / "python"
    fail = f"*' --run-job {fail_job} '*) echo \"JOB ${{*:3}}\"; exit 3;; " if fail_job is not None else ""
    fake.write_text("#!/bin/bash\n"
                    f"case \" $* \" in {fail}"
                    "*' --run-job '*) echo \"JOB ${*:3}\";; "
                    f"*' --report-only '*) echo \"REPORT ${{*:3}}\" >>{tmp_path}/calls.txt;; "
                    f"*) exec {sys.executable} \"$@\";; esac\n")
    fake.chmod(0o755)
    return fake


def _list_jobs(module):
    done = subprocess.run([sys.executable, "-m", module, "--list-jobs"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, PYTHONPATH=REPO))
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _lane_lines(results, lanes):
    lines = []
    for i in range(1, lanes + 1):
        lines += (results / "lanes" / f"lane{i}.log").read_text().splitlines()
    return lines


@pytest.mark.parametrize("module", list(MODULES))
def test_every_job_of_every_study_runs_once_then_the_report(tmp_path, module):
    jobs = _list_jobs(module)
    assert jobs and [line.split()[0] for line in jobs] == [str(k) for k in range(len(jobs))]
    work = tmp_path / "work"  # the default results folder is relative to the working directory
    work.mkdir()
    env = dict(os.environ, PYTHON=str(_fake_python(tmp_path)), PYTHONPATH=REPO, STUDY_FLAGS="",
               REPORT_FLAGS="--extra")
    env.pop("RESULTS", None)
    done = subprocess.run(["bash", SCRIPT, module, "DATA", "3"], env=env, cwd=work, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = MODULES[module]
    lines = _lane_lines(work / results, 3)
    expected = [f"JOB --results {results} --run-job {k} --datadir DATA" for k in range(len(jobs))]
    assert sorted(line for line in lines if line.startswith("JOB")) == sorted(expected)
    assert sum(line.startswith("=== ") and " lane " in line for line in lines) == len(jobs)
    assert (tmp_path / "calls.txt").read_text() == f"REPORT --results {results} --report-only --extra\n"


def test_a_failed_job_is_logged_and_the_others_run(tmp_path):
    results = tmp_path / "gan"
    env = dict(os.environ, PYTHON=str(_fake_python(tmp_path, fail_job=1)), PYTHONPATH=REPO,
               RESULTS=str(results), STUDY_FLAGS="--seeds 4 --steps 10")
    done = subprocess.run(["bash", SCRIPT, "gconv_experiments.GAN.study", "/data"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = _lane_lines(results, 2)
    assert sorted(line for line in lines if line.startswith("JOB")) == [
        f"JOB --results {results} --seeds 4 --steps 10 --run-job {k} --datadir /data" for k in range(3)]
    assert [line.split(": ", 1)[1] for line in lines if line.endswith("FAILED (exit 3)")] == \
        ["job 1: z2_p4 4 FAILED (exit 3)"]


@pytest.mark.parametrize("lanes", ["0", "two"])
def test_bad_lanes_are_refused(tmp_path, lanes):
    done = subprocess.run(["bash", SCRIPT, "gconv_experiments.GAN.study", "/data", lanes], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == f"run_lanes.sh: LANES must be a positive integer, got '{lanes}'\n"

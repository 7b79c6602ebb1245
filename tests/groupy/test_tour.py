"""`python -m groupy.tour --out PATH` prints the tables and a passing equivariance check and
writes a PNG."""
import re
import subprocess
import sys

import numpy as np
from matplotlib.image import imread


def test_tour_runs_and_writes_png(tmp_path):
    out = tmp_path / "tour.png"
    proc = subprocess.run([sys.executable, "-m", "groupy.tour", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "C4" in text and "D4" in text
    rows = [line.split() for line in text.splitlines() if line.startswith(" mr3 ")]
    assert rows == [["mr3", "mr3", "m", "mr", "mr2", "r", "r2", "r3", "e"]]
    errors = [float(x) for x in re.findall(r"ksize=\d:\s+(\S+)", text)]
    assert len(errors) == 8 and max(errors) < 1e-10
    img = imread(str(out))
    assert img.shape[0] > 300 and img.shape[1] > 600
    assert len(np.unique(img.reshape(-1, img.shape[-1]).round(3), axis=0)) > 20

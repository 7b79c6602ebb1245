"""Tiny MNIST-rot-like data in the official .npz format for the GAN tests (`gan_datadir`), and
the command line of a tiny GAN run (`gan_tiny_args`)."""
import numpy as np
import pytest


def _digits(n, seed):
    """n float32 images in [0, 1]: a bright bar whose row is the class, plus noise."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 10).astype(np.int32)
    x = rng.random((n, 1, 28, 28)).astype(np.float32) * 0.2
    for i, c in enumerate(y):
        x[i, 0, 3 + 2 * c:5 + 2 * c, 6:22] = 1.0
    return x, y


@pytest.fixture
def gan_datadir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    for name, n, seed in (("train_all.npz", 60, 0), ("test.npz", 40, 1)):
        x, y = _digits(n, seed)
        np.savez(d / name, data=x, labels=y)
    return d


@pytest.fixture
def gan_tiny_args(gan_datadir):
    """Flags of a run of tiny models (a few hundredths of a second per step)."""
    return ["--datadir", str(gan_datadir), "--gen_ch", "2", "--disc_ch", "2", "--latent_dim", "8",
            "--embed_dim", "4", "--batchsize", "8", "--fid_samples", "30", "--judge_samples", "0",
            "--quiet"]

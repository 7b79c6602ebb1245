"""The fixed feature network of the GAN's FID: a small Z2 CNN trained once on the MNIST-rot-like
training set, whose penultimate layer (128 ReLU units) gives the features.

Why a plain (Z2) CNN, trained on the rotated digits: FID should see what the generators are
compared on, including the distribution of orientations. A rotation-invariant network (the
P4CNN) maps every rotated copy of a digit to the same features, so a generator that drew only
upright digits would score as well as one that matched the rotations; a Z2 network keeps
orientation in its features. It is also independent of the p4 models under comparison and of
the published P4CNN, which judges the class accuracy of generated images separately. Inception
features (the usual FID) are made for 299 x 299 colour photographs, not 28 x 28 digits.

Architecture: conv 3x3 (1 -> 32), ReLU, 2x2 max pool; conv 3x3 (32 -> 64), ReLU, max pool;
conv 3x3 (64 -> 64), ReLU, 2x2 max pool with cover_all (7 -> 4); linear 1024 -> 128, ReLU
(the features); linear 128 -> 10. 188k parameters, stored float32 (about 0.75 MB).

Training: Adam (lr 1e-3, the last quarter of the epochs 1e-4), batch 128, 12 epochs, each image
rotated by a random multiple of 90 degrees (the training set is uniformly rotated, so this draws
from the same distribution); the committed weights have a test error of 5.96% on the 50,000 test
digits (fid_classifier/record.json). Train it (about 8 minutes on one unloaded core; writes
weights.npz and record.json, the record with the test error and the sha256 of the data files):

    python -m gconv_experiments.GAN.fid_net --datadir /work/data/mnist_rot \\
        --out gconv_experiments/GAN/fid_classifier
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

import numpy

import chainer
import chainer.functions as F
import chainer.links as L

from gconv_experiments import atomic_file
from gconv_experiments.MNIST_ROT import mnist_rot
from groupy.fast_cpu import Convolution2D, max_pooling_2d, relu

__all__ = ["FIDNet", "DEFAULT_DIR", "load_fid_net", "sha256_of"]

#: the committed weights (weights.npz) and their record (record.json)
DEFAULT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fid_classifier")
FEATURES = 128


class FIDNet(chainer.Chain):
    """images (N, 1, 28, 28) in [0, 1] -> logits (N, 10); :meth:`features` (N, 128).

    >>> net = FIDNet()
    >>> net.features(numpy.zeros((2, 1, 28, 28), numpy.float32)).shape
    (2, 128)
    """

    def __init__(self, n_classes: int = 10):
        super().__init__()
        with self.init_scope():
            self.conv1 = Convolution2D(1, 32, 3, pad=1)
            self.conv2 = Convolution2D(32, 64, 3, pad=1)
            self.conv3 = Convolution2D(64, 64, 3, pad=1)
            self.fc4 = L.Linear(64 * 4 * 4, FEATURES)
            self.fc5 = L.Linear(FEATURES, n_classes)

    def features(self, x) -> chainer.Variable:
        """The penultimate activations (N, 128) of images x (N, 1, 28, 28) in [0, 1]."""
        h = max_pooling_2d(relu(self.conv1(x - 0.5)), 2)
        h = max_pooling_2d(relu(self.conv2(h)), 2)
        h = F.max_pooling_2d(relu(self.conv3(h)), 2, cover_all=True)
        return relu(self.fc4(h))

    def forward(self, x) -> chainer.Variable:
        return self.fc5(self.features(x))


def sha256_of(path: str) -> str:
    """The sha256 hex digest of the file ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_fid_net(folder: str = DEFAULT_DIR) -> FIDNet:
    """The trained FIDNet of ``folder`` (weights.npz); ValueError naming the file if missing."""
    path = os.path.join(folder, "weights.npz")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file (train the FID network with python -m "
                         f"gconv_experiments.GAN.fid_net --datadir DIR --out {folder})")
    net = FIDNet()
    chainer.serializers.load_npz(path, net)
    return net


def _rotate90(x, rng):
    """Each image rotated by a random multiple of 90 degrees: another draw from the
    distribution of uniformly rotated digits (4 times the training images, no new content)."""
    k = rng.integers(0, 4, len(x))
    out = x.copy()
    for r in range(1, 4):
        out[k == r] = numpy.rot90(x[k == r], r, axes=(2, 3))
    return out


def _error_rate(net, x, y, batchsize=1000):
    wrong = 0
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        for i in range(0, len(x), batchsize):
            wrong += int((net(x[i:i + batchsize]).array.argmax(1) != y[i:i + batchsize]).sum())
    return wrong / len(x)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m gconv_experiments.GAN.fid_net",
                                description="Train the feature network of the GAN's FID.")
    p.add_argument("--datadir", required=True, help="the MNIST-rot(-like) data folder")
    p.add_argument("--trainfn", default="train_all.npz")
    p.add_argument("--testfn", default="test.npz")
    p.add_argument("--out", default=DEFAULT_DIR, help="folder for weights.npz and record.json")
    p.add_argument("--epochs", type=int, default=12, help="the last quarter at lr / 10")
    p.add_argument("--batchsize", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        x, y = mnist_rot.load_split(args.datadir, args.trainfn)
        tx, ty = mnist_rot.load_split(args.datadir, args.testfn)
    except ValueError as e:
        print(f"fid_net: error: {e}", file=sys.stderr)
        return 2
    numpy.random.seed(args.seed)
    net = FIDNet()
    opt = chainer.optimizers.Adam(1e-3)
    opt.setup(net)
    rng = numpy.random.default_rng(args.seed)
    start = time.time()
    for epoch in range(args.epochs):
        if epoch == args.epochs - args.epochs // 4:
            opt.alpha /= 10
        order = rng.permutation(len(x))
        for i in range(0, len(x) - args.batchsize + 1, args.batchsize):
            idx = order[i:i + args.batchsize]
            loss = F.softmax_cross_entropy(net(_rotate90(x[idx], rng)), y[idx])
            net.cleargrads()
            loss.backward()
            opt.update()
        print(f"epoch {epoch + 1}: last batch loss {float(loss.array):.4f} "
              f"({time.time() - start:.0f} s)", flush=True)
    test_error = _error_rate(net, tx, ty)
    print(f"test error {100 * test_error:.2f}% on {len(tx)} images", flush=True)
    os.makedirs(args.out, exist_ok=True)
    weights = os.path.join(args.out, "weights.npz")
    with atomic_file.atomic_path(weights) as tmp:
        chainer.serializers.save_npz(tmp, net)
    record = {"command": "python -m gconv_experiments.GAN.fid_net " + " ".join(
                  f"--{k} {v}" for k, v in vars(args).items() if k != "out"),
              "test_error": test_error, "n_test": len(tx), "train_wall_seconds": time.time() - start,
              "trainfn_sha256": sha256_of(os.path.join(args.datadir, args.trainfn)),
              "testfn_sha256": sha256_of(os.path.join(args.datadir, args.testfn)),
              "weights_sha256": sha256_of(weights)}
    atomic_file.write_text(os.path.join(args.out, "record.json"), json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

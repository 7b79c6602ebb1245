"""training.loop.evaluate: its arguments are checked (a batch size below 1 used to be an empty
pass, reported as a 100 % error)."""
import chainer
import numpy as np
import pytest

from gconv_experiments.MNIST_ROT.models.Z2CNN import Z2CNN
from gconv_experiments.training.loop import evaluate


@pytest.mark.parametrize("batchsize", [0, -5, 2.5, True])
def test_a_batch_size_that_is_not_a_positive_integer_is_refused(batchsize):
    x, y = np.zeros((4, 1, 28, 28), np.float32), np.zeros(4, np.int32)
    with pytest.raises(ValueError, match=f"batchsize must be a positive integer, got {batchsize!r}"):
        evaluate(Z2CNN(channels=2), x, y, batchsize, chainer.get_device("@numpy"))


def test_empty_or_mismatched_data_is_refused():
    model, device = Z2CNN(channels=2), chainer.get_device("@numpy")
    with pytest.raises(ValueError, match="same number of examples, at least one"):
        evaluate(model, np.zeros((0, 1, 28, 28), np.float32), np.zeros(0, np.int32), 2, device)
    with pytest.raises(ValueError, match=r"\(got 3 and 2\)"):
        evaluate(model, np.zeros((3, 1, 28, 28), np.float32), np.zeros(2, np.int32), 2, device)


def test_a_positive_batch_size_evaluates_every_example():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 5).astype(np.int32)
    model, device = Z2CNN(channels=2), chainer.get_device("@numpy")
    one = evaluate(model, x, y, 5, device)
    assert evaluate(model, x, y, 2, device) == pytest.approx(one, rel=1e-6)

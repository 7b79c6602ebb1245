"""One GAN training step: d_steps discriminator updates and one generator update, each on a
real batch of distinct training images mapped to [-1, 1] (the generator's range)."""
import chainer
import numpy as np
import pytest

from gconv_experiments.GAN.discriminator import Discriminator
from gconv_experiments.GAN.generator import Generator
from gconv_experiments.GAN.steps import StepConfig, train_step


class _Calls(chainer.LinkHook):
    """The (x, y) of every forward pass of one link."""
    name = "calls"

    def __init__(self, link):
        self.link, self.calls = link, []

    def forward_preprocess(self, args):
        if args.link is self.link:
            x, y = (chainer.as_array(a) for a in args.args)
            self.calls.append((np.array(x), np.array(y)))


@pytest.mark.parametrize("d_steps", [1, 2, 3])
def test_a_step_updates_d_d_steps_times_on_real_batches_of_distinct_images(d_steps):
    np.random.seed(0)
    gen, dis = Generator("z2", ch=2, latent_dim=4, embed_dim=2), Discriminator("z2", ch=2)
    opt_gen, opt_dis = chainer.optimizers.Adam(), chainer.optimizers.Adam()
    opt_gen.setup(gen)
    opt_dis.setup(dis)
    rng = np.random.default_rng(0)
    images = rng.random((8, 1, 28, 28)).astype(np.float32)
    labels = np.arange(8, dtype=np.int32)  # label i is image i: a batch's labels name its images
    with _Calls(dis) as hook:
        train_step(0, gen, dis, opt_gen, opt_dis, images, labels, StepConfig(batchsize=8, d_steps=d_steps))
    assert (opt_dis.t, opt_gen.t) == (d_steps, 1)
    assert len(hook.calls) == 2 * d_steps + 2  # each update: one real and one fake batch
    real = 0
    for x, y in hook.calls:
        assert sorted(y.tolist()) == list(range(8))  # a whole batch of distinct images
        real += np.array_equal(x, images[y] * 2 - 1)
    assert real == d_steps + 1

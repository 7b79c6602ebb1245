"""One training step of the GAN: ``d_steps`` discriminator updates then one generator update.

The randomness of G step k (0-based) comes from a generator seeded with (seed, k) alone: the
real batches (drawn uniformly, without replacement within a batch) and the noise. The state
after step k is therefore a function of the state before it and of (seed, k), which makes a
resumed run identical to an uninterrupted one.

Each discriminator update: fakes G(z, y) for the labels y of a real batch (no backprop into G;
G's BN statistics in training mode), the RaGAN discriminator loss plus the R1 penalty on the
real batch, one optimizer update. Generator update: a fresh real batch and noise, fakes with the
real labels, the RaGAN generator loss (D's opinion of the real batch is a constant there). A
non-finite loss raises :class:`NonFiniteLoss` before any update is applied.
"""
from __future__ import annotations

import dataclasses
import math

import numpy

import chainer

from gconv_experiments.GAN.losses import r1_penalty, ragan_discriminator_loss, ragan_generator_loss

__all__ = ["NonFiniteLoss", "StepConfig", "step_rng", "train_step"]


class NonFiniteLoss(RuntimeError):
    """A loss became NaN or infinite; no update was applied."""


@dataclasses.dataclass(frozen=True)
class StepConfig:
    """The settings of a training step (see ``gconv_experiments.GAN.train`` for the flags)."""
    batchsize: int = 64
    d_steps: int = 2
    r1_gamma: float = 0.1
    seed: int = 0


def step_rng(seed: int, step: int) -> numpy.random.Generator:
    """The random generator of G step ``step`` of a run with ``seed``.

    >>> float(step_rng(0, 5).random()) == float(step_rng(0, 5).random())
    True
    """
    return numpy.random.Generator(numpy.random.PCG64(numpy.random.SeedSequence([seed, step])))


def _batch(rng, images, labels, batchsize, latent_dim, device, dtype):
    idx = rng.choice(len(images), size=batchsize, replace=False)
    x = images[idx] * 2 - 1  # [0, 1] -> [-1, 1], the range of the generator's tanh
    z = rng.standard_normal((batchsize, latent_dim))
    return (device.send(x.astype(dtype)), device.send(labels[idx].astype(numpy.int32)),
            device.send(z.astype(dtype)))


def _finite(value, what, step):
    value = float(value)
    if not math.isfinite(value):
        raise NonFiniteLoss(f"the {what} is {value} at G step {step + 1}; no update was applied")
    return value


def train_step(step: int, gen, dis, opt_gen, opt_dis, images: numpy.ndarray,
               labels: numpy.ndarray, config: StepConfig) -> dict:
    """Run G step ``step`` (0-based): ``config.d_steps`` D updates and one G update on
    ``images`` float32 (N, C, H, W) in [0, 1] with int ``labels`` (N,). Returns the mean
    discriminator loss (without R1), the mean R1 penalty and the generator loss.

    >>> from gconv_experiments.GAN.generator import Generator
    >>> from gconv_experiments.GAN.discriminator import Discriminator
    >>> g, d = Generator('z2', ch=2, latent_dim=4, embed_dim=2), Discriminator('z2', ch=2)
    >>> og, od = chainer.optimizers.Adam(), chainer.optimizers.Adam()
    >>> _ = og.setup(g), od.setup(d)
    >>> x, y = numpy.zeros((8, 1, 28, 28), numpy.float32), numpy.arange(8) % 10
    >>> sorted(train_step(0, g, d, og, od, x, y, StepConfig(batchsize=4, d_steps=1)))
    ['d_loss', 'g_loss', 'r1']
    """
    if config.batchsize > len(images):
        raise ValueError(f"batch size {config.batchsize} exceeds the {len(images)} training images")
    rng = step_rng(config.seed, step)
    device, dtype = dis.device, dis.out.W.dtype
    d_losses, r1s = [], []
    with chainer.using_config("train", True):
        for _ in range(config.d_steps):
            x, y, z = _batch(rng, images, labels, config.batchsize, gen.latent_dim, device, dtype)
            with chainer.no_backprop_mode():
                fake = gen(z, y).array
            penalty, real_logits = r1_penalty(dis, x, y, config.r1_gamma)
            loss = ragan_discriminator_loss(real_logits, dis(fake, y))
            d_losses.append(_finite(loss.array, "discriminator loss", step))
            r1s.append(_finite(penalty.array, "R1 penalty", step))
            dis.cleargrads()
            (loss + penalty).backward()
            opt_dis.update()
            del loss, penalty, real_logits
        x, y, z = _batch(rng, images, labels, config.batchsize, gen.latent_dim, device, dtype)
        fake = gen(z, y)
        fake_logits = dis(fake, y)
        with chainer.no_backprop_mode():
            real_logits = dis(x, y).array
        g_loss = ragan_generator_loss(real_logits, fake_logits)
        g_value = _finite(g_loss.array, "generator loss", step)
        gen.cleargrads()
        g_loss.backward()
        opt_gen.update()
    return {"d_loss": float(numpy.mean(d_losses)), "r1": float(numpy.mean(r1s)), "g_loss": g_value}

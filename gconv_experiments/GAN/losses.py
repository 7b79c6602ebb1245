"""The relativistic average GAN loss (Jolicoeur-Martineau 2019) and the R1 penalty (Mescheder
et al. 2018), as Dey et al. (ICLR 2021) train their GANs.

With discriminator logits r (real, N) and f (fake, M), and softplus(t) = log(1 + e^t):

* discriminator: ``mean_i softplus(-(r_i - mean f)) + mean_j softplus(f_j - mean r)``;
* generator: ``mean_j softplus(-(f_j - mean r)) + mean_i softplus(r_i - mean f)``.

These are Dey et al.'s ``-log(sigmoid(.) + 1e-6)`` and ``-log(1 - sigmoid(.) + 1e-6)`` without
the 1e-6 (softplus is their exact, overflow-free form).

R1: ``gamma / 2 * mean_i ||d D(x_i, y_i) / d x_i||^2`` over real images; its gradient with
respect to D's parameters is a double backpropagation through D (every function in the
discriminators supports it).
"""
from __future__ import annotations

import chainer
import chainer.functions as F

__all__ = ["ragan_discriminator_loss", "ragan_generator_loss", "r1_penalty"]


def _check(real, fake):
    for name, v in (("real", real), ("fake", fake)):
        if v.ndim != 1 or v.shape[0] == 0:
            raise ValueError(f"RaGAN loss: expected {name} logits of shape (N,), got "
                             f"{tuple(v.shape)}")


def ragan_discriminator_loss(real, fake) -> chainer.Variable:
    """Scalar discriminator loss of logits ``real`` (N,) and ``fake`` (M,).

    >>> import numpy
    >>> float(ragan_discriminator_loss(numpy.zeros(2), numpy.zeros(3)).array)  # 2 log 2
    1.386...
    """
    real, fake = chainer.as_variable(real), chainer.as_variable(fake)
    _check(real, fake)
    real_rel = real - F.broadcast_to(F.mean(fake), real.shape)
    fake_rel = fake - F.broadcast_to(F.mean(real), fake.shape)
    return F.mean(F.softplus(-real_rel)) + F.mean(F.softplus(fake_rel))


def ragan_generator_loss(real, fake) -> chainer.Variable:
    """Scalar generator loss of logits ``real`` (N,) and ``fake`` (M,) (the discriminator loss
    with the roles of real and fake swapped).

    >>> import numpy
    >>> float(ragan_generator_loss(numpy.array([1.]), numpy.array([1.])).array)
    1.386...
    """
    return ragan_discriminator_loss(fake, real)


def r1_penalty(discriminator, x, y, gamma: float) -> tuple:
    """(penalty, logits): ``gamma / 2 * mean_i ||grad_x D(x, y)_i||^2`` for real images x
    (N, C, H, W) with labels y, and the logits D(x, y) (N,) of the same forward pass (reuse them
    for the loss). Both keep their graphs, so ``penalty.backward()`` reaches D's parameters
    (double backpropagation).

    >>> import numpy
    >>> f = lambda x, y: chainer.functions.sum(3 * x, axis=(1, 2, 3))  # gradient 3 everywhere
    >>> p, _ = r1_penalty(f, numpy.ones((2, 1, 2, 2)), None, gamma=0.1)
    >>> round(float(p.array), 6)  # 0.05 * 4 pixels * 9
    1.8
    """
    x = chainer.Variable(chainer.as_array(x))
    logits = discriminator(x, y)
    gx, = chainer.grad([F.sum(logits)], [x], enable_double_backprop=True)
    penalty = 0.5 * gamma * F.mean(F.sum(F.square(gx), axis=tuple(range(1, gx.ndim))))
    return penalty, logits

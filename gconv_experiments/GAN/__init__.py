"""A conditional GAN on rotated MNIST with group-equivariant (p4, p4m) discriminators and
generators, after Dey, Chen & Ghafurian, "Group Equivariant Generative Adversarial Networks"
(ICLR 2021): the models (:mod:`~gconv_experiments.GAN.discriminator`,
:mod:`~gconv_experiments.GAN.generator`), the relativistic average loss with an R1 penalty
(:mod:`~gconv_experiments.GAN.losses`), the metric (:mod:`~gconv_experiments.GAN.fid`), and the
training command ``python -m gconv_experiments.GAN.train``."""

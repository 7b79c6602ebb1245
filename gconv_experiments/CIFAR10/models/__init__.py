"""CIFAR10 models, one Chain per file, named like the file (picked with ``--modelfn``), built as
the release (tscohen/gconv_experiments ca88c58) builds them; see gconv_experiments/FIDELITY.md.

All-CNN-C family (Springenberg et al. 2015 with BN; G-versions as in Cohen & Welling 2016):
``AllCNNC`` (Z2), ``P4AllCNNC`` (p4), ``P4MAllCNNC`` (p4m).
Pre-activation ResNet family: ``ResNet`` (Z2), ``P4MResNet`` (p4m), with the release's
constructor arguments ``num_blocks``, ``nc32``, ``nc16``, ``nc8`` (``--net_kwargs``; the paper's
configurations are listed by ``python -m gconv_experiments.CIFAR10.param_counts``).

Every model maps x (N, 3, H, W) to ``logits(x)`` (N, 10); ``model(x, t)`` returns the
(softmax cross-entropy loss, accuracy) pair. ``chainer.config.train`` switches batch
normalisation and dropout between training and test behaviour.
"""

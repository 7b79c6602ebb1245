"""CIFAR10 models, one Chain per file, named like the file (picked with ``--modelfn``).

All-CNN-C family (Springenberg et al. 2015; G-versions as in Cohen & Welling 2016):
``AllCNNC`` (Z2), ``P4AllCNNC`` (p4), ``P4MAllCNNC`` (p4m).
Pre-activation ResNet family: ``ResNet`` (Z2), ``P4MResNet`` (p4m); ``depth`` 44 (default)
or 26 select the paper's widths.

Every model maps x (N, 3, H, W) to ``logits(x)`` (N, 10); ``model(x, t)`` returns the
(softmax cross-entropy loss, accuracy) pair. ``chainer.config.train`` switches batch
normalisation and dropout between training and test behaviour.
"""

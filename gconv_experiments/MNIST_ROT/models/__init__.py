"""MNIST-rot models, one Chain per file named like the file: Z2CNN (planar CNN baseline),
P4CNN (p4 G-CNN) and P4CNN_RP (rotation pooling after every layer), as in the release
(tscohen/gconv_experiments ca88c58), and P4MCNN (p4m G-CNN, an addition of this project);
PartialP4CNN / PartialP4MCNN (learned partial equivariance, Romero & Lohit, arXiv:2110.10211;
additions of this project, e.g. for gconv_experiments/MNIST6).
All take (N, 1, 28, 28) images and give 10 class scores; see gconv_experiments/FIDELITY.md."""

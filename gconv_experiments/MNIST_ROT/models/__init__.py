"""MNIST-rot models of Cohen & Welling (2016), one Chain per file named like the file:
Z2CNN (planar CNN baseline), P4CNN (p4 G-CNN), P4CNN_RP (rotation pooling after every layer)
and P4MCNN (p4m G-CNN). All take (N, 1, 28, 28) images and give 10 class scores."""

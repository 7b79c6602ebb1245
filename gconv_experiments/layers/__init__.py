"""Building blocks shared by the experiment models (no training code): the `Classifier` base
class, convolution -> BN -> activation (`ConvBNAct`), the residual block (`ResBlock2D`) and the
checks of model constructor arguments (`model_args`)."""
from gconv_experiments.layers.classifier import Classifier
from gconv_experiments.layers.conv_bn_act import ConvBNAct
from gconv_experiments.layers.residual_block_2d import ResBlock2D

__all__ = ["Classifier", "ConvBNAct", "ResBlock2D"]

"""Parameter counts of the seven CIFAR10 configurations of Cohen & Welling's table: our models
beside the count of the release's layer list (worked out by formula below, independently of
our modules) and the paper's rounded figure.

    python -m gconv_experiments.CIFAR10.param_counts

Counts include every parameter: filters, biases, and the batch normalisation scales and
shifts (the BN running statistics are not parameters), as the release's train.py counted them
(``sum(p.data.size for p in model.params())``).
"""
import sys

from gconv_experiments.CIFAR10.models.AllCNNC import AllCNNC
from gconv_experiments.CIFAR10.models.P4AllCNNC import P4AllCNNC
from gconv_experiments.CIFAR10.models.P4MAllCNNC import P4MAllCNNC
from gconv_experiments.CIFAR10.models.P4MResNet import P4MResNet
from gconv_experiments.CIFAR10.models.ResNet import ResNet
from gconv_experiments.training import count_parameters

__all__ = ["release_allcnnc", "release_resnet", "R44", "R26", "P4M_R44", "P4M_R26", "CONFIGURATIONS", "table", "main"]


def release_allcnnc(w1: int, w2: int, g: int) -> int:
    """The release's All-CNN-C (AllCNNC.py / P4AllCNNC.py / P4MAllCNNC.py): nine convolutions
    (out, in, in-stabiliser g_in, k, k) + bias, each followed by a BN (gamma, beta); g = 1, 4, 8."""
    layers = [(w1, 3, 1, 3), (w1, w1, g, 3), (w1, w1, g, 3), (w2, w1, g, 3), (w2, w2, g, 3),
              (w2, w2, g, 3), (w2, w2, g, 3), (w2, w2, g, 1), (10, w2, g, 1)]
    return sum(o * i * gi * k * k + o + 2 * o for o, i, gi, k in layers)


def release_resnet(num_blocks: int, nc32: int, nc16: int, nc8: int, g: int) -> int:
    """The release's ResNet.py (g = 1) / P4MResNet.py (g = 8): a 3x3 Z2 -> G first conv with bias;
    per block bn1 (in), conv1 3x3 + bias, bn2 (out), conv2 3x3 + bias, and for the first block of
    stages 2 and 3 a 1x1 linear shortcut + bias; final BN (nc8) and a 1x1 conv nc8 * g -> 10 + bias."""
    def block(i, o, linear):
        return 2 * i + (o * i * g * 9 + o) + 2 * o + (o * o * g * 9 + o) + (o * i * g + o if linear else 0)
    total = nc32 * 3 * 9 + nc32
    total += num_blocks * block(nc32, nc32, False)
    total += block(nc32, nc16, True) + (num_blocks - 1) * block(nc16, nc16, False)
    total += block(nc16, nc8, True) + (num_blocks - 1) * block(nc8, nc8, False)
    return total + 2 * nc8 + 10 * nc8 * g + 10


R44 = dict(num_blocks=7, nc32=32, nc16=64, nc8=128)
R26 = dict(num_blocks=4, nc32=71, nc16=142, nc8=284)
P4M_R44 = dict(num_blocks=7, nc32=11, nc16=23, nc8=45)
P4M_R26 = dict(num_blocks=4, nc32=25, nc16=50, nc8=100)

# (label, model class, --net_kwargs, count of the release's layer list, paper's figure)
CONFIGURATIONS = (
    ('All-CNN-C Z2', AllCNNC, {}, release_allcnnc(96, 192, 1), 1.37e6),
    ('All-CNN-C p4', P4AllCNNC, {}, release_allcnnc(48, 96, 4), 1.37e6),
    ('All-CNN-C p4m', P4MAllCNNC, {}, release_allcnnc(32, 64, 8), 1.22e6),
    ('ResNet44 Z2', ResNet, R44, release_resnet(g=1, **R44), 2.64e6),
    ('ResNet44 p4m', P4MResNet, P4M_R44, release_resnet(g=8, **P4M_R44), 2.62e6),
    ('ResNet26 Z2', ResNet, R26, release_resnet(g=1, **R26), 7.24e6),
    ('ResNet26 p4m', P4MResNet, P4M_R26, release_resnet(g=8, **P4M_R26), 7.17e6),
)


def table() -> list:
    """[(label, model name, net_kwargs, our count, release count, paper figure)]."""
    return [(label, cls.__name__, kwargs, count_parameters(cls(**kwargs)), release, paper)
            for label, cls, kwargs, release, paper in CONFIGURATIONS]


def main() -> int:
    print(f'{"configuration":<15}{"model":<11}{"ours":>11}{"release":>11}{"paper":>8}  net_kwargs')
    for label, name, kwargs, n, release, paper in table():
        print(f'{label:<15}{name:<11}{n:>11,}{release:>11,}{paper / 1e6:>7.2f}M  {kwargs or ""}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Parameter counts of the seven CIFAR10 configurations of Cohen & Welling's table, beside the
paper's figures (which are rounded to 0.01M, i.e. known to about +-0.4%).

    python -m gconv_experiments.CIFAR10.param_counts

Counts include every parameter: convolution filters, biases, the classifier and the batch
normalisation scales and shifts (the BN running statistics are not parameters).
"""
import sys

from gconv_experiments.CIFAR10.models.AllCNNC import AllCNNC
from gconv_experiments.CIFAR10.models.P4AllCNNC import P4AllCNNC
from gconv_experiments.CIFAR10.models.P4MAllCNNC import P4MAllCNNC
from gconv_experiments.CIFAR10.models.P4MResNet import P4MResNet
from gconv_experiments.CIFAR10.models.ResNet import ResNet
from gconv_experiments.training import count_parameters

# (label, model class, constructor keywords, parameters in the paper)
CONFIGURATIONS = (
    ('All-CNN-C Z2', AllCNNC, {}, 1.37e6),
    ('All-CNN-C p4', P4AllCNNC, {}, 1.37e6),
    ('All-CNN-C p4m', P4MAllCNNC, {}, 1.22e6),
    ('ResNet44 Z2', ResNet, {'depth': 44}, 2.64e6),
    ('ResNet44 p4m', P4MResNet, {'depth': 44}, 2.62e6),
    ('ResNet26 Z2', ResNet, {'depth': 26}, 7.24e6),
    ('ResNet26 p4m', P4MResNet, {'depth': 26}, 7.17e6),
)


def table():
    """[(label, model name, net_kwargs, our count, paper count, relative difference)]."""
    rows = []
    for label, cls, kwargs, paper in CONFIGURATIONS:
        n = count_parameters(cls(**kwargs))
        rows.append((label, cls.__name__, kwargs, n, paper, (n - paper) / paper))
    return rows


def main():
    print(f'{"configuration":<15}{"model":<12}{"net_kwargs":<15}{"ours":>11}{"paper":>9}{"diff":>9}')
    for label, name, kwargs, n, paper, rel in table():
        print(f'{label:<15}{name:<12}{str(kwargs or ""):<15}{n:>11,}{paper / 1e6:>8.2f}M'
              f'{100 * rel:>+8.2f}%')
    return 0


if __name__ == '__main__':
    sys.exit(main())

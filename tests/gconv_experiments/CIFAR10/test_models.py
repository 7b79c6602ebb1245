"""CIFAR10 models: forward/backward, parameter counts of the paper's configurations, and
invariance of the p4/p4m models' logits to rotations (and flips) of the input."""
import chainer
import numpy as np
import pytest
from groupy.gconv.chainer_gconv import check_equivariance

from gconv_experiments import training
from gconv_experiments.CIFAR10 import param_counts

MODELS = 'gconv_experiments.CIFAR10.models'
# small widths keep the CPU time down; ResNets keep their full depth 44
SMALL = {
    'AllCNNC': {'widths': (6, 8)},
    'P4AllCNNC': {'widths': (3, 4)},
    'P4MAllCNNC': {'widths': (2, 3)},
    'ResNet': {'depth': 44, 'widths': (3, 4, 5)},
    'P4MResNet': {'depth': 44, 'widths': (2, 3, 4)},
}


def _model(name, **extra):
    cls = training.load_model_class(name, MODELS)
    assert cls.__name__ == name
    return cls(**dict(SMALL[name], **extra))


def test_every_model_file_is_listed():
    assert training.available_models(MODELS) == sorted(SMALL)


@pytest.mark.parametrize('name', sorted(SMALL))
def test_forward_backward_batch_of_2(name):
    np.random.seed(0)
    model = _model(name)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    t = np.array([3, 7], dtype=np.int32)
    with chainer.using_config('train', True):
        loss, acc = model(x, t)
    assert loss.shape == () and loss.dtype == np.float32 and np.isfinite(loss.array)
    assert 0 <= float(acc.array) <= 1
    model.cleargrads()
    loss.backward()
    for path, p in model.namedparams():
        assert p.grad is not None and p.grad.shape == p.shape, path
        assert np.all(np.isfinite(p.grad)), path
    assert sum(float(np.abs(p.grad).sum()) for p in model.params()) > 0
    with chainer.using_config('train', False):
        assert model.logits(x).shape == (2, 10)


@pytest.mark.parametrize('label, name, kwargs, n, paper, rel', param_counts.table(),
                         ids=[row[0] for row in param_counts.CONFIGURATIONS])
def test_default_configurations_match_paper_parameter_counts(label, name, kwargs, n, paper, rel):
    assert abs(rel) < 0.02, f'{label}: {n} parameters vs {paper} in the paper'


def test_net_kwargs_errors():
    from gconv_experiments.CIFAR10.models.ResNet import ResNet
    with pytest.raises(ValueError, match='depth must be 6n \\+ 2'):
        ResNet(depth=45)
    with pytest.raises(ValueError, match='no default widths for depth 32'):
        ResNet(depth=32)
    assert len(ResNet(depth=32, widths=(2, 2, 2)).blocks) == 15


@pytest.mark.parametrize('name, size, stabiliser', [
    ('P4AllCNNC', 9, 'C4'), ('P4AllCNNC', 33, 'C4'), ('P4MAllCNNC', 9, 'D4'),
    ('P4MResNet', 9, 'D4'), ('AllCNNC', 9, None), ('ResNet', 9, None),
])
def test_logits_invariant_to_rotations_and_flips(name, size, stabiliser):
    """Odd sizes keep every stride-2 grid symmetric, so G-models are exactly invariant (in
    float32, to 1e-4); the planar models are not (which shows the test can fail)."""
    np.random.seed(1)
    model = _model(name)
    rng = np.random.default_rng(1)
    with chainer.using_config('train', True):  # move the BN statistics away from 0/1
        model.logits(rng.standard_normal((4, 3, size, size)).astype(np.float32))
    x = rng.standard_normal((2, 3, size, size)).astype(np.float32)
    errors = check_equivariance(model.logits, 'Z2', 'invariant', x=x,
                                stabiliser=stabiliser or 'D4')
    errors.pop('r=0' if stabiliser == 'C4' else 'm=0,r=0')  # the identity
    if stabiliser is None:
        assert min(errors.values()) > 1e-3, errors
    else:
        assert max(errors.values()) < 1e-4, errors

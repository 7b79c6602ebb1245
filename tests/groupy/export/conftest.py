"""Fixtures for the export tests: the experiment models (built small), with random BN
statistics so that normalisation and its folding are not the identity."""
import inspect

import numpy
import pytest

MODEL_PACKAGES = {'gconv_experiments.MNIST_ROT.models': (1, 28),
                  'gconv_experiments.CIFAR10.models': (3, 32)}
# constructor keywords that make the models small, passed where the signature has them
SMALL = {'channels': 3, 'widths': (4, 6), 'num_blocks': 1, 'nc32': 2, 'nc16': 3, 'nc8': 4,
         'depth': 8}


def model_names():
    from gconv_experiments.training.models import available_models
    return [(package, name) for package in MODEL_PACKAGES for name in available_models(package)]


def build_small(package, name, seed=0):
    """(model, input batch (2, C, H, W)) for experiment model `name`, random BN statistics."""
    from gconv_experiments.training.models import load_model_class
    cls = load_model_class(name, package)
    params = inspect.signature(cls).parameters
    model = cls(**{k: v for k, v in SMALL.items() if k in params})
    randomise_bn(model, seed)
    channels, size = MODEL_PACKAGES[package]
    x = numpy.random.RandomState(seed + 1).standard_normal((2, channels, size, size))
    return model, x.astype(numpy.float32)


def randomise_bn(model, seed=0):
    rng = numpy.random.RandomState(seed)
    for link in model.links():
        if hasattr(link, 'avg_mean') and hasattr(link, 'gamma'):
            link.avg_mean[...] = rng.normal(0, 0.5, link.avg_mean.shape)
            link.avg_var[...] = rng.uniform(0.3, 2.0, link.avg_var.shape)
            link.gamma.array[...] = rng.uniform(0.5, 1.5, link.gamma.shape)
            link.beta.array[...] = rng.normal(0, 0.5, link.beta.shape)
        elif getattr(link, 'b', None) is not None and link.b.array is not None:
            link.b.array[...] = rng.normal(0, 0.1, link.b.shape)
    return model


def pytest_generate_tests(metafunc):
    """``experiment_model``: (package, name) of every model of both experiment folders."""
    if 'experiment_model' in metafunc.fixturenames:
        names = model_names()
        metafunc.parametrize('experiment_model', names, ids=[n for _, n in names])


@pytest.fixture
def small_model():
    """build_small(package, name) -> (model, x)."""
    return build_small


@pytest.fixture
def random_bn():
    """randomise_bn(model, seed=0) -> model."""
    return randomise_bn

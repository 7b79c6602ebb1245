"""Checks of model constructor arguments (the values of ``--net_kwargs``): a bad value is one
ValueError naming the model, the argument, the accepted range and the value given."""
import numbers


def positive_int(model, name, value):
    """value must be an int >= 1 (bool excluded); returns it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{model}: {name} must be an integer >= 1, got {value!r}")
    return int(value)


def ratio(model, name, value):
    """value must be a real number in [0, 1) (a dropout ratio); returns it as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{model}: {name} must be a number in [0, 1) (0 = off), got {value!r}")
    return float(value)


def flag(model, name, value):
    """value must be True or False; returns it."""
    if not isinstance(value, bool):
        raise ValueError(f"{model}: {name} must be True or False, got {value!r}")
    return value


def choice(model, name, value, choices):
    """value must be one of ``choices``; returns it."""
    if value not in choices:
        raise ValueError(f"{model}: {name} must be one of {', '.join(map(repr, choices))}, "
                         f"got {value!r}")
    return value


def mnist_cnn(model, channels, dropout, in_channels, n_classes):
    """The arguments every MNIST-rot CNN takes, checked: (channels, in_channels, n_classes) as
    ints >= 1 and dropout as a ratio in [0, 1); returns them in that order."""
    return (positive_int(model, "channels", channels), positive_int(model, "in_channels", in_channels),
            positive_int(model, "n_classes", n_classes), ratio(model, "dropout", dropout))

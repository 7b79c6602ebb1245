"""Checks of model constructor arguments (the values of ``--net_kwargs``): a bad value is one
ValueError naming the model, the argument, the accepted range and the value given."""
import numbers

__all__ = ["positive_int", "ratio", "flag", "choice", "layers", "mnist_cnn"]


def positive_int(model: str, name: str, value) -> int:
    """value must be an int >= 1 (bool excluded); returns it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{model}: {name} must be an integer >= 1, got {value!r}")
    return int(value)


def ratio(model: str, name: str, value) -> float:
    """value must be a real number in [0, 1) (a dropout ratio); returns it as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{model}: {name} must be a number in [0, 1) (0 = off), got {value!r}")
    return float(value)


def flag(model: str, name: str, value) -> bool:
    """value must be True or False; returns it."""
    if not isinstance(value, bool):
        raise ValueError(f"{model}: {name} must be True or False, got {value!r}")
    return value


def choice(model: str, name: str, value, choices):
    """value must be one of ``choices``; returns it."""
    if value not in choices:
        raise ValueError(f"{model}: {name} must be one of {', '.join(map(repr, choices))}, "
                         f"got {value!r}")
    return value


def layers(model: str, name: str, value, n_layers: int) -> tuple:
    """value must be a collection of distinct layer numbers in 1..n_layers; returns them as a
    sorted tuple."""
    try:
        items = list(value)
    except TypeError:
        items = None
    if (items is None or isinstance(value, (str, bytes))
            or any(isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 1 <= i <= n_layers
                   for i in items) or len(set(items)) != len(items)):
        raise ValueError(f"{model}: {name} must be distinct layer numbers in 1..{n_layers} "
                         f"(e.g. (1, 3, 4, 5)), got {value!r}")
    return tuple(sorted(int(i) for i in items))


def mnist_cnn(model: str, channels, dropout, in_channels, n_classes) -> tuple:
    """The arguments every MNIST-rot CNN takes, checked: (channels, in_channels, n_classes) as
    ints >= 1 and dropout as a ratio in [0, 1); returns them in that order."""
    return (positive_int(model, "channels", channels), positive_int(model, "in_channels", in_channels),
            positive_int(model, "n_classes", n_classes), ratio(model, "dropout", dropout))

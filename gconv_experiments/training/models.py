"""Models of a training run: resolving --modelfn to a model class, building and counting it."""
import importlib
import importlib.util
import inspect
import os
import pkgutil
import traceback

import chainer

from gconv_experiments.training.config import PACKAGE_ROOT, ConfigError

__all__ = ["available_models", "resolve_model_file", "load_model_class", "build_model", "count_parameters"]


def available_models(models_package: "str | None") -> list:
    """Names of the model modules in `models_package` (e.g. 'gconv_experiments.MNIST_ROT.models')."""
    if not models_package:
        return []
    package = importlib.import_module(models_package)
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))


def resolve_model_file(modelfn: str, models_package: "str | None" = None) -> tuple:
    """Resolve --modelfn (a path to <Name>.py or a bare Name) to (Name, absolute path of the
    file), without importing it. Raises ConfigError naming --modelfn."""
    is_path = modelfn.endswith(".py") or "/" in modelfn or os.sep in modelfn
    if is_path:
        candidates = [modelfn] if os.path.isabs(modelfn) else [modelfn, os.path.join(PACKAGE_ROOT, modelfn)]
        if models_package and not os.path.isabs(modelfn) and os.path.dirname(modelfn) == "":
            package_dir = os.path.dirname(importlib.import_module(models_package).__file__)
            candidates.append(os.path.join(package_dir, modelfn))
        candidates = list(dict.fromkeys(os.path.abspath(c) for c in candidates))
        path = next((c for c in candidates if os.path.isfile(c)), None)
        if path is None:
            raise ConfigError(f"--modelfn {modelfn}: no such model file (looked for "
                              f"{', '.join(candidates)})")
        return os.path.splitext(os.path.basename(path))[0], path
    names = available_models(models_package)
    if modelfn not in names:
        raise ConfigError(f"--modelfn {modelfn!r}: unknown model; available: {', '.join(names) or 'none'} "
                          f"(or give a path to a model .py file)")
    spec = importlib.util.find_spec(f"{models_package}.{modelfn}")
    return modelfn, os.path.abspath(spec.origin)


def load_model_class(modelfn: str, models_package: "str | None" = None, verbose: bool = False) -> type:
    """Resolve --modelfn (a path to <Name>.py or a bare Name) to the Chain class `Name`.

    A file that fails to import is a ConfigError naming the file and the error (with the
    traceback appended when `verbose`)."""
    name, path = resolve_model_file(modelfn, models_package)
    packaged = None
    if models_package:
        package_dir = os.path.dirname(importlib.import_module(models_package).__file__)
        if os.path.dirname(path) == os.path.abspath(package_dir):
            packaged = f"{models_package}.{name}"
    try:
        if packaged:
            module = importlib.import_module(packaged)
        else:
            spec = importlib.util.spec_from_file_location(f"gconv_model_{name}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
    except Exception as e:
        detail = "\n" + traceback.format_exc() if verbose else " (--verbose shows the traceback)"
        raise ConfigError(f"--modelfn {modelfn}: {path} fails to import: {type(e).__name__}: {e}{detail}") from None
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, chainer.Link)):
        raise ConfigError(f"--modelfn {modelfn}: {path} must define a chainer.Chain class named {name!r}")
    return cls


def build_model(cls: type, net_kwargs) -> chainer.Link:
    """cls(**net_kwargs); ConfigError naming --net_kwargs when they do not fit the model."""
    try:
        inspect.signature(cls).bind(**net_kwargs)
    except TypeError as e:
        raise ConfigError(f"--net_kwargs {net_kwargs!r} do not fit {cls.__name__}{inspect.signature(cls)}: {e}") from None
    try:
        return cls(**net_kwargs)
    except (ValueError, TypeError) as e:  # the model's own check of its arguments
        raise ConfigError(f"--net_kwargs {net_kwargs!r}: {cls.__name__} rejects them: {e}") from None


def count_parameters(model):
    return int(sum(p.size for p in model.params()))

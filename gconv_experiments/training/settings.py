"""The checked settings of one training run: :func:`check_args` turns the parsed train.py flags
into one frozen :class:`RunConfig` (dict literals parsed, the augmentation and the learning-rate
schedule parsed, the evaluation batch size resolved), or raises a :class:`ConfigError` naming
the flag. The training code takes its values from it and parses nothing again.

>>> from gconv_experiments.training.config import build_parser
>>> args = build_parser().parse_args(["--modelfn", "P4CNN", "--opt_kwargs", "{'lr': 0.1}",
...                                   "--lr_decay_schedule", "2-4", "--transformations", "rotation"])
>>> config = check_args(args)
>>> config.opt_kwargs, config.lr_decay_schedule, config.transformations, config.eval_batchsize
({'lr': 0.1}, (2, 4), ('rotation',), 128)
>>> [config.learning_rate(0.1, epoch) for epoch in (1, 3, 5)]
[0.1, 0.010000000000000002, 0.0010000000000000002]
"""
import argparse
import ast
import dataclasses
from typing import Any, Optional

from gconv_experiments import augmentation
from gconv_experiments.training.config import (
    BN_AVERAGINGS, BN_REESTIMATIONS, NORMALIZATIONS, OPTIMIZERS, TRAIN_SUBSETS, ConfigError,
    check_optimizer_kwargs)

__all__ = ["RunConfig", "check_args", "literal_dict", "parse_schedule"]


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Every setting of a training run, checked and parsed (see train.py --help for each flag).

    opt_kwargs / net_kwargs: the parsed dict literals as given; lr_decay_schedule: the epochs
    after which the learning rate is multiplied by lr_decay_factor (empty when the factor is 0);
    transformations: the augmentation's names in order; eval_batchsize: --eval_batchsize or
    --batchsize. input_shift / input_scale: the input normalisation, (x - shift) / scale, known
    once the training data is read (None before; see :meth:`with_input_normalization`).
    train_subset / subset_seed: which training examples (subset_seed resolved to --seed for
    'balanced', None for 'first'); steps: the number of parameter updates (None: --epochs
    epochs; given, `epochs` is the number of epochs they take, see :meth:`with_steps`)."""
    modelfn: str
    datadir: str
    trainfn: str
    valfn: str
    testfn: Optional[str]
    resultdir: Optional[str]
    epochs: int
    batchsize: int
    eval_batchsize: int
    opt: str
    opt_kwargs: dict
    net_kwargs: dict
    weight_decay: float
    lr_decay_schedule: tuple
    lr_decay_factor: float
    transformations: tuple
    val_freq: int
    save_freq: int
    gpu: int
    seed: int
    train_size: Optional[int]
    val_size: Optional[int]
    normalization: str
    bn_reestimation: str
    bn_averaging: str
    communicator: str
    resume: bool
    quiet: bool
    verbose: bool
    input_shift: Optional[float] = None
    input_scale: Optional[float] = None
    train_subset: str = "first"
    subset_seed: Optional[int] = None
    steps: Optional[int] = None

    def learning_rate(self, base_lr: float, epoch: int) -> float:
        """The learning rate of `epoch` (1-based) from the optimizer's initial one."""
        schedule = self.lr_decay_schedule
        return base_lr * (self.lr_decay_factor ** sum(epoch > e for e in schedule) if schedule else 1.0)

    def validates_after(self, epoch: int) -> bool:
        """Whether the run validates after `epoch` (every --val_freq epochs and after the last)."""
        return epoch % self.val_freq == 0 or epoch == self.epochs

    def snapshots_after(self, epoch: int) -> bool:
        """Whether the run writes a snapshot after `epoch` (every --save_freq and after the last)."""
        return bool(self.save_freq and epoch % self.save_freq == 0) or epoch == self.epochs

    def with_steps(self, batches_per_epoch: int) -> "RunConfig":
        """With --steps: this configuration with `epochs` = the epochs the steps take at
        `batches_per_epoch` updates each (the last one possibly cut short); else itself.

        >>> from gconv_experiments.training.config import build_parser
        >>> config = check_args(build_parser().parse_args(["--modelfn", "Z2CNN", "--steps", "10"]))
        >>> config.with_steps(4).epochs, config.with_steps(4).batches_in_epoch(3, 4)
        (3, 2)
        """
        if self.steps is None:
            return self
        return dataclasses.replace(self, epochs=-(-self.steps // batches_per_epoch))

    def batches_in_epoch(self, epoch: int, batches_per_epoch: int) -> Optional[int]:
        """How many updates `epoch` makes: None (a whole epoch) unless --steps cuts it short."""
        if self.steps is None or epoch < self.epochs:
            return None
        return self.steps - (epoch - 1) * batches_per_epoch

    def total_updates(self, batches_per_epoch: int) -> int:
        """The parameter updates of the whole run: --steps, else --epochs whole epochs.

        >>> from gconv_experiments.training.config import build_parser
        >>> check_args(build_parser().parse_args(["--modelfn", "Z2CNN", "--epochs", "3"])).total_updates(94)
        282
        """
        return self.steps if self.steps is not None else self.epochs * batches_per_epoch

    def with_input_normalization(self, shift: float, scale: float) -> "RunConfig":
        """This configuration with the input normalisation computed from the training data."""
        return dataclasses.replace(self, input_shift=float(shift), input_scale=float(scale))

    def to_json(self) -> dict:
        """The settings as JSON values (tuples as lists; non-JSON values of the keyword dicts as
        their repr), with the input normalisation under 'input_normalization'."""
        out = {f.name: _json_value(getattr(self, f.name)) for f in dataclasses.fields(self)
               if f.name not in ("input_shift", "input_scale")}
        out["input_normalization"] = dict(mode=self.normalization, shift=self.input_shift, scale=self.input_scale)
        return out


def _json_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def literal_dict(text: str, flag: str) -> dict:
    """The dict a dict-literal flag value (--opt_kwargs, --net_kwargs) holds; ConfigError naming
    `flag` otherwise.

    >>> literal_dict("{'lr': 0.05}", "--opt_kwargs")
    {'lr': 0.05}
    """
    try:
        value = ast.literal_eval(text) if text.strip() else {}
    except (ValueError, SyntaxError) as e:
        raise ConfigError(f"{flag} must be a Python dict literal such as \"{{'lr': 0.05}}\", "
                          f"got {text!r} ({type(e).__name__})") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"{flag} must be a dict with string keys, got {text!r}")
    return value


def parse_schedule(text: Optional[str]) -> list:
    """'100-200-300' -> [100, 200, 300]; '' or 'none' -> [].

    >>> parse_schedule("50-75"), parse_schedule("none")
    ([50, 75], [])
    """
    text = (text or "").strip()
    if text.lower() in ("", "none"):
        return []
    try:
        epochs = [int(part) for part in text.split("-")]
    except ValueError:
        raise ConfigError(f"--lr_decay_schedule must be epochs joined by '-', e.g. 100-200-300, "
                          f"got {text!r}") from None
    if any(e <= 0 for e in epochs) or epochs != sorted(set(epochs)):
        raise ConfigError(f"--lr_decay_schedule epochs must be positive and increasing, got {text!r}")
    return epochs


def _check_numbers(args: argparse.Namespace) -> None:
    for flag in ("epochs", "batchsize", "val_freq"):
        if getattr(args, flag) < 1:
            raise ConfigError(f"--{flag} must be a positive integer, got {getattr(args, flag)}")
    if args.save_freq < 0:
        raise ConfigError(f"--save_freq must be >= 0 (0: a snapshot only after the last epoch), got {args.save_freq}")
    for flag in ("train_size", "val_size", "eval_batchsize", "steps"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise ConfigError(f"--{flag} must be a positive integer, got {getattr(args, flag)}")
    for flag in ("seed", "subset_seed"):
        value = getattr(args, flag, None)
        if value is not None and not 0 <= value < 2 ** 32:
            raise ConfigError(f"--{flag} must be an integer in 0..{2 ** 32 - 1}, got {value}")
    if args.gpu < -1:
        raise ConfigError(f"--gpu must be -1 (CPU) or a device id >= 0, got {args.gpu}")
    if args.weight_decay < 0:
        raise ConfigError(f"--weight_decay must be >= 0, got {args.weight_decay}")
    if not args.lr_decay_factor >= 0:
        raise ConfigError(f"--lr_decay_factor must be >= 0 (0: no decay, as in the release), got {args.lr_decay_factor}")


def _check_choices(args: argparse.Namespace) -> tuple:
    """Checks the named choices; returns the parsed --transformations."""
    if not args.modelfn:
        raise ConfigError("--modelfn is required (a model name or a path to a model file)")
    for flag, choices in (("normalization", NORMALIZATIONS), ("bn_reestimation", BN_REESTIMATIONS),
                          ("bn_averaging", BN_AVERAGINGS)):
        if getattr(args, flag) not in choices:
            raise ConfigError(f"--{flag} must be one of {', '.join(choices)}, got {getattr(args, flag)!r}")
    _check_subset(args)
    if args.opt not in OPTIMIZERS:
        raise ConfigError(f"--opt must be one of {', '.join(OPTIMIZERS)}, got {args.opt!r}")
    try:
        return augmentation.parse_transformations(args.transformations)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"--transformations: {e}") from None


def _check_subset(args: argparse.Namespace) -> None:
    """--train_subset, --subset_seed and a balanced subset's size against --batchsize."""
    subset = getattr(args, "train_subset", "first")
    if subset not in TRAIN_SUBSETS:
        raise ConfigError(f"--train_subset must be one of {', '.join(TRAIN_SUBSETS)}, got {subset!r}")
    if subset == "first" and getattr(args, "subset_seed", None) is not None:
        raise ConfigError("--subset_seed applies to --train_subset balanced only (first takes the first "
                          "--train_size examples, no seed)")
    if subset == "balanced" and args.train_size is not None and args.train_size < args.batchsize:
        raise ConfigError(f"--train_size {args.train_size} is smaller than --batchsize {args.batchsize}: "
                          f"a --train_subset balanced subset must hold at least one whole batch")


def check_args(args: argparse.Namespace) -> RunConfig:
    """Validate parsed train.py arguments; returns their :class:`RunConfig`. Raises ConfigError."""
    _check_numbers(args)
    transformations = _check_choices(args)
    schedule = parse_schedule(args.lr_decay_schedule)
    opt_kwargs = literal_dict(args.opt_kwargs, "--opt_kwargs")
    check_optimizer_kwargs(args.opt, opt_kwargs)
    net_kwargs = literal_dict(args.net_kwargs, "--net_kwargs")
    values = {f.name: getattr(args, f.name, f.default) for f in dataclasses.fields(RunConfig)
              if f.name not in ("input_shift", "input_scale")}
    if values["train_subset"] == "balanced" and values["subset_seed"] is None:
        values["subset_seed"] = args.seed
    values.update(opt_kwargs=opt_kwargs, net_kwargs=net_kwargs, transformations=tuple(transformations),
                  lr_decay_schedule=tuple(schedule if args.lr_decay_factor > 0 else ()),
                  eval_batchsize=args.eval_batchsize or args.batchsize)
    return RunConfig(**values)

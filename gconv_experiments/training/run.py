"""A whole training run: :func:`main` (parse, check, train, write the run folder) and
:func:`cli` (the same with bad input reported as one line and an exit status)."""
import os
import sys
import time

import chainer
import numpy as np
from chainer import optimizer_hooks

from groupy import fast_cpu

from gconv_experiments.atomic_file import write_text
from gconv_experiments.training.checkpoint import (
    LOG_FILE, SNAPSHOT_FILE, SUMMARY_FILE, _resolve_resume, dumps, load_snapshot, read_log,
    save_snapshot)
from gconv_experiments.training.config import (
    ConfigError, _explicit_flags, build_parser, check_args, get_device, make_optimizer)
from gconv_experiments.training import distributed
from gconv_experiments.training.data import load_npz_dataset
from gconv_experiments.training.fingerprint import build_record, differences
from gconv_experiments.training.loop import (
    TrainingDiverged, evaluate, reestimate_batchnorm, seed_epoch, seed_validation, train_epoch)
from gconv_experiments.training.prepare import (
    check_resultdir, data_records, load_splits, normalize_splits, probe_model, remove_leftovers,
    saved_record, write_run_files)
from gconv_experiments.training.models import build_model, count_parameters, load_model_class


def resolve_args(argv=None, *, defaults=None, prog=None, description=None, raise_errors=False):
    """Parse `argv` with the train.py parser; fills the default --resultdir and, with --resume,
    the flags not given from the run's saved arguments. Returns (args, explicit flag names).
    A bad flag is argparse's usage error and exit 2, or with raise_errors a ConfigError."""
    parser = build_parser(defaults, prog=prog, description=description)
    if raise_errors:
        def error(message):
            raise ConfigError(f"train.py flags: {message}")
        parser.error = error
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    explicit = _explicit_flags(parser, argv)
    if args.resultdir is None:
        if not args.modelfn:
            raise ConfigError("--modelfn is required (a model name or a path to a model file)")
        stem = os.path.splitext(os.path.basename(args.modelfn))[0]
        args.resultdir = os.path.join("results", f"{stem}_seed{args.seed}")
    if args.resume:
        _resolve_resume(args, explicit)
    return args, explicit


def resolve_run(argv, *, defaults=None, models_package=None):
    """The run record (see training.fingerprint) that `train.py argv` would write, computed
    without training. Raises ConfigError / FileNotFoundError for bad flags or files."""
    args, _ = resolve_args(argv, defaults=defaults, raise_errors=True)
    check_args(args)
    cls = load_model_class(args.modelfn, models_package, verbose=args.verbose)
    return build_record(args, models_package, cls)


def main(argv=None, *, defaults=None, models_package=None, load_data=load_npz_dataset,
         prog=None, description=None):
    """Parse `argv` (default sys.argv[1:]), train, write the result directory; returns the summary."""
    args, _ = resolve_args(argv, defaults=defaults, prog=prog, description=description)
    opt_kwargs, net_kwargs, schedule = check_args(args)
    out = args.resultdir
    check_resultdir(out, args.resume)
    ranks = distributed.start(args)  # None: one process; else this rank of `mpiexec -n K`
    writes = ranks is None or ranks.writes  # rank 0 alone writes the run folder
    snapshot_path, log_path = os.path.join(out, SNAPSHOT_FILE), os.path.join(out, LOG_FILE)

    cls = load_model_class(args.modelfn, models_package, verbose=args.verbose)
    device = get_device(args.gpu if ranks is None else ranks.device_id(args.gpu))
    if device.xp is np:
        fast_cpu.keep_freed_memory()  # reuse freed pages between steps (see groupy's fast_cpu)
    np.random.seed(args.seed)
    if device.xp is not np:
        device.xp.random.seed(args.seed)
    model = build_model(cls, net_kwargs)  # before the (possibly slow) data loading: fail fast

    splits = load_splits(args, load_data) if ranks is None else ranks.rank0_first(load_splits, args, load_data)
    probe_model(model, splits, args, net_kwargs)
    record = build_record(args, models_package, cls, data=data_records(args, splits))
    if args.resume:
        saved = saved_record(out)
        diffs = differences(saved, record) if saved is not None else []
        if diffs:
            raise ConfigError(f"--resume: {out} was trained with other settings: {'; '.join(diffs)}. "
                              f"Give the run's settings, or start a new run in another --resultdir")
        before = (saved or {}).get("conv_threads")
        if before is not None and before != fast_cpu.get_num_threads() and ranks is None:
            print(f"note: {out} was trained with {before} groupy CPU thread(s), this process uses "
                  f"{fast_cpu.get_num_threads()} (GROUPY_CPU_CONV_THREADS): the continuation is not "
                  f"bit-for-bit (per-thread partial sums round differently)", file=sys.stderr)
    record["conv_threads"] = fast_cpu.get_num_threads()  # numbers depend on it in the last bits
    splits, _ = normalize_splits(splits, args.normalization)
    (train_x, train_y), (val_x, val_y) = splits["trainfn"], splits["valfn"]
    if ranks is not None:
        ranks.check_batches(len(train_x), batchsize=args.batchsize,
                            eval_batchsize=args.eval_batchsize or args.batchsize)
        ranks.prepare_model(model)
    optimizer, lr_attr = make_optimizer(args.opt, opt_kwargs)
    base_lr = getattr(optimizer, lr_attr)
    optimizer.setup(model)
    if args.weight_decay > 0:
        optimizer.add_hook(optimizer_hooks.WeightDecay(args.weight_decay))
    if ranks is not None:
        optimizer = ranks.optimizer(optimizer)

    try:
        if writes:
            os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--resultdir {out}: cannot create the folder ({e.strerror})") from None
    if writes:
        remove_leftovers(out)
    start_epoch, log = 0, []
    if args.resume and os.path.isfile(snapshot_path):
        start_epoch = load_snapshot(snapshot_path, model, optimizer)
        if start_epoch > args.epochs:
            raise ConfigError(f"--resume: the snapshot in {out} is at epoch {start_epoch}, beyond --epochs {args.epochs}")
        log = [entry for entry in read_log(log_path, drop_partial_last=True) if entry["epoch"] <= start_epoch]
    if writes and (args.resume or os.path.exists(log_path)):
        write_text(log_path, "".join(dumps(e) + "\n" for e in log))
    if writes:
        write_run_files(out, args, record)
    model.to_device(device)
    n_params = count_parameters(model)
    name = cls.__name__
    resumed = ("resuming after epoch %d; " % start_epoch if start_epoch else
               "no snapshot yet, starting from epoch 0; " if args.resume else "")
    print(f"{name}: {n_params:,} parameters; {len(train_x)} training / {len(val_x)} validation examples; "
          f"{resumed}results in {out}", flush=True)
    eval_batchsize = args.eval_batchsize or args.batchsize

    def validate(epoch):
        rng = seed_validation(args.seed, epoch, device)
        if ranks is not None:
            ranks.reseed(args.seed, epoch, device, stream=1)
        reestimate_batchnorm(model, train_x, train_y, eval_batchsize, device,
                             f"{name} epoch {epoch} BN statistics", args.quiet, mode=args.bn_reestimation,
                             averaging=args.bn_averaging, transformations=args.transformations, rng=rng,
                             ranks=ranks)
        return evaluate(model, val_x, val_y, eval_batchsize, device,
                        f"{name} epoch {epoch} validation", args.quiet, ranks=ranks)

    last_saved = [start_epoch if os.path.isfile(snapshot_path) else None]

    def diverged(e, epoch):
        kept = (f"the last good snapshot, {snapshot_path} (epoch {last_saved[0]}), is kept"
                if last_saved[0] is not None else "no snapshot was written yet")
        return TrainingStopped(f"epoch {epoch}, iteration {e.iteration}: the loss is {e.value} ({e.what}); "
                               f"training stopped ({kept}). A smaller learning rate (--opt_kwargs) may help")

    elapsed = log[-1]["elapsed"] if log else 0.0
    val_loss = val_error = None
    for epoch in range(start_epoch + 1, args.epochs + 1):
        t0 = time.perf_counter()
        lr = base_lr * (args.lr_decay_factor ** sum(epoch > e for e in schedule) if schedule else 1.0)
        setattr(optimizer, lr_attr, lr)
        rng = seed_epoch(args.seed, epoch, device)
        if ranks is not None:
            ranks.reseed(args.seed, epoch, device)
        try:
            train_loss, train_error = train_epoch(
                model, optimizer, train_x, train_y, args.batchsize, args.transformations, rng, device,
                f"{name} epoch {epoch}/{args.epochs}", args.quiet, ranks=ranks)
            train_seconds = time.perf_counter() - t0
            val_loss = val_error = None
            if epoch % args.val_freq == 0 or epoch == args.epochs:
                val_loss, val_error = validate(epoch)
        except TrainingDiverged as e:
            raise diverged(e, epoch) from None
        seconds = time.perf_counter() - t0
        elapsed += seconds
        entry = dict(epoch=epoch, train_loss=train_loss, train_error=train_error, val_loss=val_loss,
                     val_error=val_error, lr=lr, seconds=seconds, train_seconds=train_seconds, elapsed=elapsed)
        log.append(entry)
        if writes:
            with open(log_path, "a") as f:
                f.write(dumps(entry) + "\n")
                f.flush()
                os.fsync(f.fileno())
        val_text = "" if val_error is None else f", val loss {val_loss:.4f} error {100 * val_error:.2f}%"
        print(f"epoch {epoch}: train loss {train_loss:.4f} error {100 * train_error:.2f}%{val_text} "
              f"({seconds:.1f} s)", flush=True)
        if writes and ((args.save_freq and epoch % args.save_freq == 0) or epoch == args.epochs):
            save_snapshot(snapshot_path, model, optimizer, epoch)
            last_saved[0] = epoch

    try:
        if val_error is None:  # nothing left to train (resumed at the last epoch): evaluate again
            val_loss, val_error = validate(args.epochs)
        if args.testfn:
            test_x, test_y = splits["testfn"]
            test_loss, test_error = evaluate(model, test_x, test_y, eval_batchsize, device,
                                             f"{name} test", args.quiet, ranks=ranks)
        else:
            test_loss, test_error = val_loss, val_error
    except TrainingDiverged as e:
        raise diverged(e, args.epochs) from None
    test_path = os.path.join(args.datadir, args.testfn or args.valfn)
    last = log[-1] if log else {}
    summary = dict(
        model=name, modelfn=args.modelfn, seed=args.seed, epochs=args.epochs, n_params=n_params,
        train_loss=last.get("train_loss"), train_error=last.get("train_error"),
        val_file=os.path.join(args.datadir, args.valfn), val_loss=val_loss, val_error=val_error,
        test_file=test_path, test_loss=test_loss, test_error=test_error,
        seconds_total=elapsed,
        seconds_per_epoch=float(np.mean([e["train_seconds"] for e in log])) if log else None,
        device=str(device), resultdir=out, fingerprint=record["fingerprint"],
    )
    if writes:
        write_text(os.path.join(out, SUMMARY_FILE), dumps(summary, indent=2) + "\n")
    print(f"{name} test error: {100 * test_error:.2f}% on {test_path} after {args.epochs} epochs "
          f"(summary in {os.path.join(out, SUMMARY_FILE)})", flush=True)
    return summary


class TrainingStopped(RuntimeError):
    """Training stopped because the loss became NaN or infinite (exit status 3)."""


def cli(argv=None, **kwargs):
    """Command-line entry: run main(); report bad input as `prog: error: message`, exit status 2;
    a diverged run (non-finite loss) exits with status 3."""
    prog = kwargs.get("prog") or os.path.basename(sys.argv[0])
    try:
        main(argv, **kwargs)
    except (ConfigError, FileNotFoundError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        distributed.abort_if_distributed(2)  # the other ranks may wait for this one
        return 2
    except TrainingStopped as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        distributed.abort_if_distributed(3)
        return 3
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; continue with --resume", file=sys.stderr)
        return 130
    return 0

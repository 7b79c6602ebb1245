"""Whether a finished run is the run a plan asks for, from its run record (run.json) alone, without
the data files: :func:`planned_record` is the record train.py would write for the planned
command line (no data hashes), :func:`plan_differences` lists how a saved record departs from it
and from the planned data files' sha256.

Unlike a sweep's reuse check (training.differences), what a report's row means counts too:
--epochs, --trainfn and --valfn. A model's constructor keyword added after a run was recorded
(absent from its net_kwargs) is taken to have its default value; the model file's content is
not compared (a published run keeps its numbers when the file changes later).

>>> saved = {"config": {"seed": 0, "train_size": 16, "epochs": 100, "trainfn": "a", "valfn": "b"},
...          "data": {"trainfn": {"sha256": "1" * 64}}}
>>> planned = {"config": {"seed": 0, "train_size": None, "epochs": 100, "trainfn": "a", "valfn": "b"}}
>>> plan_differences(saved, planned, {}, {"trainfn": "1" * 64})
['--train_size: 16 -> None']
"""
from gconv_experiments.training import (
    build_record, check_args, differences, load_model_class, resolve_args)

__all__ = ["REPORTED_SETTINGS", "planned_record", "plan_differences"]

REPORTED_SETTINGS = ("epochs", "trainfn", "valfn")  # outside the fingerprint, but what a row reports


def planned_record(train_argv: list, *, defaults: dict, models_package: str) -> tuple:
    """(the run record of ``train.py train_argv`` without data hashes, the --net_kwargs it gives
    explicitly). ConfigError for flags that do not parse or a model that does not load."""
    args, _ = resolve_args(train_argv, defaults=defaults, raise_errors=True)
    given = dict(check_args(args).net_kwargs)
    cls = load_model_class(args.modelfn, models_package)
    return build_record(args, models_package, cls, data={}), given


def plan_differences(saved: dict, planned: dict, given_net_kwargs: dict, data_sha256: dict) -> list:
    """Human-readable "--setting: run's -> planned" for each way the saved record `saved` is not
    the planned run (`planned`, `given_net_kwargs` from :func:`planned_record`), including data
    files whose sha256 is not `data_sha256` ({flag: sha256}); [] when it is the planned run."""
    run_config = {k: v for k, v in (saved.get("config") or {}).items() if k != "model_sha256"}
    plan_config = {k: v for k, v in planned["config"].items() if k != "model_sha256"}
    run_kwargs, plan_kwargs = run_config.get("net_kwargs"), plan_config.get("net_kwargs")
    if isinstance(run_kwargs, dict) and isinstance(plan_kwargs, dict):
        plan_config["net_kwargs"] = {k: v for k, v in plan_kwargs.items()
                                     if k in run_kwargs or k in given_net_kwargs}
    out = differences({"config": run_config}, {"config": plan_config})
    for key in REPORTED_SETTINGS:
        if run_config.get(key, "(not recorded)") != plan_config.get(key):
            out.append(f"--{key}: {run_config.get(key, '(not recorded)')!r} -> {plan_config.get(key)!r}")
    for flag, sha256 in data_sha256.items():
        recorded = ((saved.get("data") or {}).get(flag) or {}).get("sha256")
        if recorded != sha256:
            out.append(f"--{flag} data file: sha256 {str(recorded)[:12]} -> {sha256[:12]}")
    return out

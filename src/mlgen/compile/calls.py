"""The command lines generated jobs use to call the mlgen runtime.

Jobs get every setting as a flag, so a generated config is self-contained: it needs neither
the spec nor the machinery that reads it at run time, and its text does not depend on how
the spec was written (YAML or Python). Every value is shell-quoted here, nowhere else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlgen import layout
from mlgen.targets.escape import sh_quote

if TYPE_CHECKING:
    from mlgen.spec.graph import Registry


def _cmd(*words: str, flags: list[tuple[str, str | None]] = ()) -> str:  # type: ignore[assignment]
    parts = ["mlgen", *words]
    intended: set[str] = set()
    for flag, value in flags:
        if value is not None:
            parts += _flag(flag, value)
            # A user command passed on verbatim keeps its `$VAR` for the shell mlgen starts later,
            # and its backslashes as written: single quotes are the point here, so tell shellcheck
            # that "expressions don't expand" (SC2016) and "backslash before a quote" (SC1003) are intended.
            intended |= {"SC2016"} if any(c in value for c in "$`") else set()
            intended |= {"SC1003"} if "\\" in value else set()
    line = " ".join(parts)
    return f"# shellcheck disable={','.join(sorted(intended, reverse=True))}\n{line}" if intended else line


def _flag(flag: str, value: str) -> list[str]:
    # argparse reads a separate word that starts with `-` as the next option, not as this
    # flag's value (`--deploy -x` is an error, `--metrics --help` would print help): join them.
    return [f"{flag}={sh_quote(value)}"] if value.startswith("-") else [flag, sh_quote(value)]


def gate_results(stage_name: str) -> str:
    return layout.gate_result(stage_name)


def data_check(stage: Any) -> str:
    flags = [("--contract", stage.contract), ("--reference", stage.reference),
             ("--junit", layout.junit(stage.name, "data"))]
    # `--` ends the options: a dataset named like a flag (`--help`) is still a dataset.
    return _cmd("data", "check", flags=flags) + " --" + "".join(" " + sh_quote(d) for d in stage.data)


def gate(stage: Any, registry: Registry | None) -> str:
    """`registry` is the resolved registry of a stage with a registry baseline, else None."""
    flags: list[tuple[str, str | None]] = [("--metrics", stage.metrics)]
    for metric, g in stage.gates.items():
        rules = ",".join(f"{k}={_number(v)}" for k, v in (("min", g.min), ("max", g.max), ("max_drop", g.max_drop),
                                                          ("max_rise", g.max_rise), ("confidence", g.confidence))
                         if v is not None)
        flags.append(("--gate", f"{metric}:{rules}"))
    if stage.predictions:
        flags.append(("--predictions", stage.predictions))
        if stage.on_different_eval_set != "unpaired":
            flags.append(("--on-different-eval-set", stage.on_different_eval_set))
    if stage.accepted:
        flags.append(("--accepted", stage.accepted))
    if stage.baseline is not None and stage.baseline.file:
        flags.append(("--baseline-file", stage.baseline.file))
    if stage.baseline is not None and stage.baseline.registry and registry is not None:
        flags += [("--baseline-registry", stage.baseline.registry), *_registry_flags(registry, "baseline")]
        if stage.predictions:
            flags += _template_flag(registry, "baseline_predictions")
        if stage.baseline.rescore:
            flags.append(("--rescored-predictions", rescored_predictions(stage)))
    flags += [("--on-missing-baseline", stage.on_missing_baseline),
              ("--junit", layout.junit(stage.name, "gate")), ("--json", gate_results(stage.name))]
    return _cmd("gate", flags=flags)


def rescored_predictions(stage: Any) -> str:
    """Where `registry rescore` writes the champion's predictions and the gate reads them (same format)."""
    name = stage.predictions.rsplit("/", 1)[-1]
    suffix = name[name.rindex("."):] if "." in name else ""  # the reader tells CSV from Parquet by it
    return f".mlgen/rescore-{stage.name}/predictions{suffix}"


def rescore(stage: Any, registry: Registry) -> str:
    """Re-scores the champion with the evaluate stage's own command when its stored predictions are on other examples."""
    flags: list[tuple[str, str | None]] = [
        ("--registry", registry.kind), ("--model", registry.model), *_template_flag(registry, "baseline_predictions"),
        *_template_flag(registry, "fetch_model"), ("--baseline-alias", stage.baseline.registry), ("--run", stage.run),
        ("--predictions", stage.predictions), ("--metrics", stage.metrics), ("--out", rescored_predictions(stage)),
        ("--model-dir", registry.register.path if registry.register is not None else None)]
    return _cmd("registry", "rescore", flags=flags)


def _number(value: float | str) -> str:
    return value if isinstance(value, str) else repr(value)


# The command template each registry operation runs, for `registry: command`.
TEMPLATE_OF = {"register": "register_cmd", "promote": "promote", "rollback": "rollback", "baseline": "baseline"}


def _template_flag(registry: Registry, operation: str) -> list[tuple[str, str | None]]:
    """An optional template of a command registry (the predictions ones), when the spec sets it."""
    commands = getattr(registry.register, "command", None)
    template = getattr(commands, operation, None) if registry.kind == "command" else None
    return [(f"--{operation.replace('_', '-')}-command", template)] if template else []


def _registry_flags(registry: Registry, operation: str) -> list[tuple[str, str | None]]:
    """--registry, --model and, for a command registry, the one template `operation` runs."""
    flags: list[tuple[str, str | None]] = [("--registry", registry.kind), ("--model", registry.model)]
    commands = getattr(registry.register, "command", None)
    if registry.kind == "command" and commands is not None:
        flags.append((f"--{operation}-command", getattr(commands, TEMPLATE_OF[operation])))
    return flags


def register(stage: Any, evaluate_stage: str | None) -> str:
    from mlgen.spec.graph import Registry

    registry = Registry(stage.model, stage.registry, stage)
    flags = [*_registry_flags(registry, "register"), *_template_flag(registry, "store_predictions"),
             ("--path", stage.path), ("--alias", stage.alias)]
    if evaluate_stage:
        flags.append(("--gate-results", gate_results(evaluate_stage)))
    return _cmd("registry", "register", flags=flags)


def registered_record(registry: Registry | None) -> str | None:
    """The file the register job writes its new version to, when a register stage feeds this one.

    Every canary step, promote and rollback reads its version from there (`--version-from`), so
    they act on the version this pipeline registered, never on whatever holds the alias now.
    """
    if registry is None or registry.register is None or not registry.model:
        return None
    # the path `runtime.state.registered_path` gives, without importing the runtime into a compile
    from pathlib import PurePosixPath

    return PurePosixPath(layout.registered(registry.model)).as_posix()


def canary_step(stage: Any, weight: int, registry: Registry | None = None) -> str:
    flags: list[tuple[str, str | None]] = [("--weight", str(weight)), ("--deploy", stage.deploy), ("--bake", stage.bake),
                                           ("--interval", stage.interval), ("--check", stage.check), ("--check-url", stage.check_url)]
    for metric, t in stage.thresholds.items():
        rules = ",".join(f"{k}={_number(v)}" for k, v in (("min", t.min), ("max", t.max)) if v is not None)
        flags.append(("--threshold", f"{metric}:{rules}"))
    if stage.failure_limit != 1:  # the default is left out: configs written before it existed stay the same
        flags.append(("--failure-limit", str(stage.failure_limit)))
    flags.append(("--version-from", registered_record(registry)))
    return _cmd("canary", "step", flags=flags)


def promote(registry: Registry) -> str:
    flags = _registry_flags(registry, "promote")
    if registry.register is not None:
        flags.append(("--from-alias", registry.register.alias))
    flags.append(("--version-from", registered_record(registry)))
    return _cmd("canary", "promote", flags=flags)


def rollback(stage: Any, registry: Registry) -> str:
    flags: list[tuple[str, str | None]] = [("--rollback", stage.rollback)]
    if registry.model:
        flags += _registry_flags(registry, "rollback")
        flags.append(("--version-from", registered_record(registry)))
    return _cmd("canary", "rollback", flags=flags)


def data_results(stage_name: str) -> str:
    return f".mlgen/data-{stage_name}.json"


def report(stage_name: str, graph: str, pipeline: str, *, token_env: str | None = None, post: str | None = None) -> str:
    """`mlgen report` for one evaluate stage; `post` None lets the runtime pick from the CI's variables.

    The pipeline's name goes in the comment's hidden marker: passed here, the marker does not depend
    on the runtime finding and reading the spec."""
    flags: list[tuple[str, str | None]] = [("--stage", stage_name), ("--pipeline", pipeline), ("--graph", graph),
                                           ("--post", post), ("--token-env", token_env)]
    return _cmd("report", flags=flags)


def report_registered(stage_name: str, pipeline: str, model: str) -> str:
    """The register job's part of the report: the version it registered, read from its own record
    (the one `--version-from` reads), linked where the registry has a page for it."""
    flags: list[tuple[str, str | None]] = [("--stage", stage_name), ("--pipeline", pipeline),
                                           ("--registered", layout.registered(model))]
    return _cmd("report", flags=flags)

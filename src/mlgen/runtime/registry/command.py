"""`mlgen registry register|promote|rollback|baseline|show`."""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import Any

from mlgen.errors import UserError
from mlgen.runtime import cienv, reports, state
from mlgen.runtime.gate.metrics import load_json, load_metrics, numeric_only
from mlgen.runtime.registry import CHALLENGER, Promotion, RegisterRequest, Registry, open_registry, require_model
from mlgen.runtime.settings import RegistrySettings, StageView, apply_env, load_stage, registry_settings, required_path

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_TAG_VALUE_LIMIT = 500  # keep tags readable in the registry UI; the full result stays in the run's artifacts


def run(args: argparse.Namespace) -> int:
    handlers = {"register": register, "promote": promote, "rollback": rollback, "baseline": baseline, "show": show,
                "rescore": rescore}
    return handlers[args.registry_command](args)


def _settings(args: argparse.Namespace, kind: str = "register") -> tuple[StageView | None, RegistrySettings]:
    view = load_stage(args.spec, args.stage, kind)
    apply_env(view)
    from_spec = view.registry(None, None) if view is not None else None
    return view, registry_settings(args, from_spec)


def open_for(args: argparse.Namespace, settings: RegistrySettings, command: str) -> tuple[Registry, str]:
    model = require_model(settings.model, command=command)
    if not _MODEL_NAME.match(model):
        raise UserError(f"`{model}` is not a usable model name", hint="use letters, digits, `_`, `.` and `-`")
    return open_registry(settings, tracking_uri=getattr(args, "tracking_uri", None)), model


# --- register --------------------------------------------------------------------------------

def register(args: argparse.Namespace) -> int:
    view, settings = _settings(args)
    spec = view.register() if view is not None else None
    path = required_path(args.path, spec.path if spec else None, flag="--path", spec_key="path")
    if not path.is_dir() or not any(path.iterdir()):
        raise UserError("the model directory is missing or empty", where=str(path),
                        hint="the train stage must write it (and pass it on as an output) before register runs")
    gate_path = Path(args.gate_results) if args.gate_results else (spec.gate_results if spec else None)
    gate = _gate_results(gate_path) if gate_path is not None else None
    metrics = dict(numeric_only(gate.get("metrics", {}))) if gate else {}
    if args.metrics:
        metrics.update(numeric_only(load_metrics(Path(args.metrics))))
    registry, model = open_for(args, settings, "mlgen registry register")
    alias = args.alias or settings.alias or CHALLENGER
    stored, fingerprint = _predictions(gate)
    request = RegisterRequest(model, path, alias, _tags(gate), metrics, gate_path, stored, fingerprint)
    outcome = registry.register(request)
    print(outcome.summary)
    record = {"model": model, "version": outcome.version, "alias": alias, "registry": settings.kind}
    reports.write_json(state.REGISTERED, record)
    reports.write_json(state.registered_path(model), record)  # per model: pipelines may register several
    return 0


def _gate_results(path: Path) -> dict[str, Any]:
    data = load_json(path, what="gate results", missing_hint="`mlgen gate` writes it (--json); run the gate first")
    if not isinstance(data, dict) or not isinstance(data.get("passed"), bool) or not isinstance(data.get("gates"), dict):
        raise UserError("this is not a gate result written by `mlgen gate`", where=str(path),
                        hint="pass the file given to `mlgen gate --json` (default .mlgen/gate-<stage>.json)")
    if not data["passed"]:
        failed = ", ".join(m for m, g in data["gates"].items() if isinstance(g, dict) and g.get("status") == "failed")
        raise UserError(f"the gate failed ({failed}); a model that failed its gate is not registered", where=str(path),
                        hint="fix the model or the gates, then run `mlgen gate` again")
    return data


def _predictions(gate: dict[str, Any] | None) -> tuple[Path | None, str]:
    """The predictions the gate decided on, kept with the version so the next gate can pair with them."""
    used = gate.get("predictions") if gate else None
    if not isinstance(used, dict) or not used.get("file"):
        return None, ""
    path = Path(str(used["file"]))
    if not path.is_file():
        raise UserError("the predictions the gate decided on are missing", where=str(path),
                        hint="hand the evaluate stage's `predictions` file on to the register job (the compiler does)")
    return path, str(used.get("fingerprint") or "")


def _tags(gate: dict[str, Any] | None) -> dict[str, str]:
    env = os.environ
    tags = {"mlgen.commit": cienv.commit_sha(env), "mlgen.run_url": cienv.run_url(env), "mlgen.run_id": cienv.run_id(env)}
    if gate is not None:
        tags["mlgen.gates"] = "passed"
        tags["mlgen.baseline"] = _baseline_tag(gate.get("baseline"))
        for metric, result in sorted(gate["gates"].items()):
            if isinstance(result, dict):
                details = "; ".join(f"{r.get('rule')} {r.get('limit')}: {r.get('detail')}" for r in result.get("rules", []))
                tags[f"mlgen.gate.{metric}"] = f"{result.get('status')}: {details}"[:_TAG_VALUE_LIMIT]
                for rule in result.get("rules", []):  # a regression accepted on purpose stays on the record
                    if isinstance(rule, dict) and rule.get("accepted"):
                        tags[f"mlgen.accepted.{metric}.{rule.get('rule')}"] = str(rule["accepted"])[:_TAG_VALUE_LIMIT]
    return {k: v for k, v in tags.items() if v}


def _baseline_tag(baseline: object) -> str:
    """The baseline the gate compared against; `none (why)` when it found none, never the alias it looked for."""
    if not isinstance(baseline, dict):
        return "none"
    found = baseline.get("found", bool(baseline.get("ref")))
    if found and baseline.get("ref"):
        return str(baseline["ref"])
    note = str(baseline.get("note") or "").strip()
    return f"none ({note})"[:_TAG_VALUE_LIMIT] if note else "none"


# --- promote, rollback -----------------------------------------------------------------------

def promote_with(args: argparse.Namespace, settings: RegistrySettings, command: str) -> int:
    """Shared by `registry promote` and `canary promote`: move champion, record what moved."""
    registry, model = open_for(args, settings, command)
    from_alias = args.from_alias or settings.alias or CHALLENGER
    run_id = cienv.run_id(os.environ)
    pinned = pinned_version(args, model)
    # Recorded before the registry is touched: if this job dies half-way, the rollback job still knows.
    state.save(Promotion(model, pinned or state.registered_version(model) or None, None, run_id, settings.kind,
                         complete=False))
    promotion = registry.promote(model, from_alias, run_id, pinned)
    state.save(promotion)
    previous = f"v{promotion.previous}" if promotion.previous else "none"
    shown = f"v{promotion.version}" if promotion.version else f"the `{from_alias}` version"
    if promotion.changed:
        print(f"promoted {model} {shown} to champion (previous champion: {previous})")
    else:
        print(f"{model} {shown} is already the champion; nothing to do")
    return 0


def promote(args: argparse.Namespace) -> int:
    _, settings = _settings(args)
    return promote_with(args, settings, "mlgen registry promote")


def rollback(args: argparse.Namespace) -> int:
    _, settings = _settings(args)
    registry, model = open_for(args, settings, "mlgen registry rollback")
    print(registry.rollback(model, pinned_version(args, model)).summary)
    state.clear()
    return 0


def pinned_version(args: argparse.Namespace, model: str | None = None, *, missing_ok: bool = False) -> str | None:
    """`--version N`, or the version `--version-from FILE` recorded, checked: versions are positive integers.

    `missing_ok`: a missing record gives None instead of an error (a rollback must still route traffic back).
    """
    value = getattr(args, "pin_version", None)
    if value is None:
        source = getattr(args, "version_from", None)
        return state.recorded_version(Path(source), model, missing_ok=missing_ok) if source else None
    if not value.isdigit() or int(value) < 1:
        raise UserError(f"--version must be a version number such as 3, got `{value}`",
                        hint="`mlgen registry register` records it in .mlgen/registered-<model>.json")
    return str(int(value))


# --- baseline, show --------------------------------------------------------------------------

def baseline(args: argparse.Namespace) -> int:
    _, settings = _settings(args)
    registry, model = open_for(args, settings, "mlgen registry baseline")
    found = registry.baseline(model, args.baseline_alias)
    out = Path(args.out)
    if found.metrics is None:
        if out.exists():
            out.unlink()  # a stale baseline from an earlier run must not be mistaken for this one
        print(f"no baseline: {found.note}; wrote nothing to {out}")
        return 0
    reports.write_json(out, dict(found.metrics))
    print(f"wrote the metrics of {found.ref} to {out} ({len(found.metrics)} metrics)")
    return 0


def rescore(args: argparse.Namespace) -> int:
    from mlgen.runtime.registry import rescore as rescoring

    _, settings = _settings(args)
    registry, model = open_for(args, settings, "mlgen registry rescore")
    request = rescoring.Request(model, args.baseline_alias, args.run, Path(args.predictions),
                                Path(args.metrics) if args.metrics else None, Path(args.out),
                                Path(args.model_dir) if args.model_dir else None)
    print(rescoring.rescore(registry, request))
    return 0


def show(args: argparse.Namespace) -> int:
    _, settings = _settings(args)
    registry, model = open_for(args, settings, "mlgen registry show")
    outcome = registry.show(model)
    if args.json:
        aliases = {k.removeprefix("alias."): v for k, v in outcome.details.items() if k.startswith("alias.")}
        print(json.dumps({"model": model, "aliases": aliases}, indent=2, sort_keys=True))
    else:
        print(outcome.summary, end="")
    return 0

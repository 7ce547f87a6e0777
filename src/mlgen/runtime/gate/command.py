"""`mlgen gate`: read the metrics and the baseline, evaluate the gates, report everywhere."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mlgen import layout
from mlgen.errors import UserError
from mlgen.runtime import reports
from mlgen.runtime.gate import render
from mlgen.runtime.gate import rules as gate
from mlgen.runtime.gate.metrics import load_metrics
from mlgen.runtime.settings import GateSettings, apply_env, load_stage, registry_settings, required_path

if TYPE_CHECKING:
    from mlgen.runtime.gate.stats import Bounds, Comparison, Predictions


def run(args: argparse.Namespace) -> int:
    view = load_stage(args.spec, args.stage, "evaluate")
    apply_env(view)
    spec = view.gate() if view is not None else None
    stage = args.stage or "evaluate"
    metrics_path = required_path(args.metrics, spec.metrics if spec else None, flag="--metrics", spec_key="metrics")
    rules = _gates(args, spec)
    on_missing = _on_missing(args.on_missing_baseline or (spec.on_missing if spec else "absolute"))
    metrics = load_metrics(metrics_path)  # read before the registry: a broken file fails fast and offline
    baseline = _baseline(args, spec)
    predictions = _predictions_path(args, spec)
    intervals, used = _intervals(args, spec, rules, stage, predictions)
    report = gate.evaluate(stage, str(metrics_path), metrics, rules, baseline, on_missing, intervals)
    accepted = args.accepted or (str(spec.accepted) if spec and spec.accepted else None)
    if accepted:
        report = _accept(report, Path(accepted), args, spec)
    print(render.render_text(report), end="")
    _write_reports(report, args, stage, used)
    return 0 if report.passed else 1


def _on_missing(value: str) -> gate.OnMissing:
    for choice in gate.ON_MISSING:  # narrows the type; argparse and the spec already checked the value
        if value == choice:
            return choice
    raise UserError(f"on_missing_baseline `{value}` is not one of {', '.join(gate.ON_MISSING)}")


def _gates(args: argparse.Namespace, spec: GateSettings | None) -> list[gate.GateRule]:
    if args.gate:  # flags replace the spec's gates as a whole: what runs is exactly what was typed
        rules = [gate.parse_gate_flag(text) for text in args.gate]
    elif spec is not None:
        rules = [gate.gate_from_values(metric, values, where=f"{args.spec}: gates.{metric}")
                 for metric, values in spec.gates.items()]
    else:
        raise UserError("no gates given", hint="pass --gate METRIC:RULE=VALUE (e.g. --gate accuracy:min=0.85), "
                                               "or --spec mlgen.yaml --stage evaluate")
    names = [r.metric for r in rules]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise UserError(f"metric `{duplicate}` has two gates", hint="put all its rules in one --gate, comma-separated")
    return rules


def _baseline(args: argparse.Namespace, spec: GateSettings | None) -> gate.Baseline:
    if args.baseline_file and args.baseline_registry:
        raise UserError("--baseline-file and --baseline-registry are both given", hint="choose one baseline source")
    file = Path(args.baseline_file) if args.baseline_file else None
    alias = args.baseline_registry
    if file is None and alias is None and spec is not None:
        file, alias = spec.baseline_file, spec.baseline_registry
    if file is not None:
        if not file.exists():
            return gate.Baseline("file", str(file), None, f"{file} does not exist")
        return gate.Baseline("file", str(file), load_metrics(file, what="baseline file"))
    if alias is not None:
        return _registry_baseline(args, spec, alias)
    return gate.NO_BASELINE


def _registry_baseline(args: argparse.Namespace, spec: GateSettings | None, alias: str) -> gate.Baseline:
    from mlgen.runtime.registry import open_registry, require_model

    settings = registry_settings(args, spec.registry if spec else None)
    model = require_model(settings.model, command="mlgen gate --baseline-registry")
    return open_registry(settings, tracking_uri=args.tracking_uri).baseline(model, alias)


def _predictions_path(args: argparse.Namespace, spec: GateSettings | None) -> Path | None:
    if args.predictions:
        return Path(args.predictions)
    return spec.predictions if spec is not None else None


def _intervals(args: argparse.Namespace, spec: GateSettings | None, rules: list[gate.GateRule], stage: str,
               path: Path | None) -> tuple[dict[str, gate.Interval], dict[str, str] | None]:
    """Bounds from per-example predictions for every gate that has a per-example definition, and the
    predictions used (file and evaluation-set fingerprint: register stores them with the version)."""
    if path is None:
        explicit = next((r.metric for r in rules if r.confidence is not None), None)
        if explicit or args.baseline_predictions:
            raise UserError(f"{'gate `' + explicit + '` asks for confidence bounds' if explicit else '--baseline-predictions is given'}"
                            " but there are no per-example predictions",
                            hint="pass --predictions FILE (the evaluate stage's `predictions:`)")
        return {}, None
    import os

    from mlgen.runtime import cienv
    from mlgen.runtime.gate import predictions, stats

    challenger = predictions.load(path)
    champion, pairing, note = _champion(args, spec, challenger)
    commit = args.seed_from or cienv.commit_sha(os.environ) or "local"
    out = {}
    for rule in rules:
        if rule.point_only:
            continue
        if stats.resolve(rule.metric) is None:
            if rule.confidence is not None:
                raise UserError(f"gate `{rule.metric}` asks for confidence bounds, but `{rule.metric}` has no per-example "
                                "definition", hint=f"known: {', '.join(stats.metric_names())}; or use confidence=none")
            continue
        confidence = rule.confidence or args.confidence
        seed = stats.seed_for(commit, stage, rule.metric)
        try:
            if champion is not None and pairing == "unpaired":
                result = stats.compare_unpaired(rule.metric, challenger, champion, confidence=confidence,
                                                resamples=args.resamples, seed=seed)
            else:
                result = stats.compare(rule.metric, challenger, champion, confidence=confidence,
                                       resamples=args.resamples, seed=seed)
        except ValueError as exc:
            raise UserError(f"gate `{rule.metric}`: {exc}", where=str(path), hint=predictions.FORMAT_HINT) from None
        out[rule.metric] = _interval(result, note)
    return out, {"file": str(path), "fingerprint": stats.fingerprint(challenger)}


def _champion(args: argparse.Namespace, spec: GateSettings | None,
              challenger: Predictions) -> tuple[Predictions | None, str, str]:
    """The champion's predictions, how they pair with the challenger's, and a note for the report."""
    from mlgen.runtime.gate import predictions, stats

    path, why_none = _champion_file(args, spec)
    if path is None:
        return None, "none", f"{why_none}: the champion's value is taken as exact"
    champion: Predictions = predictions.load(path, what="baseline predictions file")
    ours, theirs = stats.fingerprint(challenger), stats.fingerprint(champion)
    if ours == theirs:
        rescored = args.rescored_predictions is not None and path == Path(args.rescored_predictions)
        return champion, "paired", "the champion was re-scored on this evaluation set" if rescored else ""
    on_different = args.on_different_eval_set or (spec.on_different_eval_set if spec else "unpaired")
    if on_different == "fail":
        raise UserError(f"the champion was scored on another evaluation set (fingerprint {theirs[:12]}, this one "
                        f"{ours[:12]})", where=str(path),
                        hint="re-score the champion on this evaluation set, or allow --on-different-eval-set unpaired")
    return champion, "unpaired", (f"the champion was scored on another evaluation set (fingerprint {theirs[:12]} vs "
                                  f"{ours[:12]}): an unpaired comparison, wider than a paired one")


def _champion_file(args: argparse.Namespace, spec: GateSettings | None) -> tuple[Path | None, str]:
    """The champion's predictions: a file given, or the ones stored with the registry's baseline version."""
    if args.baseline_predictions:
        path = Path(args.baseline_predictions)
        return (path, "") if path.exists() else (None, f"{path} does not exist")
    if args.rescored_predictions and Path(args.rescored_predictions).is_file():
        return Path(args.rescored_predictions), ""  # `mlgen registry rescore` made them; else the stored ones serve
    alias = args.baseline_registry or (spec.baseline_registry if spec and not args.baseline_file else None)
    if alias is None:
        return None, "no champion predictions"
    from mlgen.runtime.registry import open_registry, require_model

    settings = registry_settings(args, spec.registry if spec else None)
    model = require_model(settings.model, command="mlgen gate --baseline-registry")
    registry = open_registry(settings, tracking_uri=args.tracking_uri)
    return registry.baseline_predictions(model, alias, Path(layout.BASELINE_PREDICTIONS))


def _interval(result: Comparison, note: str) -> gate.Interval:
    def bound(b: Bounds) -> gate.Bound:
        return gate.Bound(b.estimate, b.lower, b.upper)

    difference = None if result.difference is None else bound(result.difference)
    return gate.Interval(bound(result.challenger), difference, result.confidence, result.resamples, result.seed,
                         result.pairing, note)


def _accept(report: gate.GateReport, path: Path, args: argparse.Namespace, spec: GateSettings | None) -> gate.GateReport:
    import datetime as dt

    from mlgen.runtime.gate import acceptance

    model = args.model or (spec.registry.model if spec else None)
    return gate.accept(report, acceptance.load(path), model, dt.datetime.now(dt.UTC).date())


def _write_reports(report: gate.GateReport, args: argparse.Namespace, stage: str, used: dict[str, str] | None) -> None:
    junit = Path(args.junit or layout.junit(stage, "gate"))
    result = Path(args.json or layout.gate_result(stage))
    reports.write_text(junit, reports.junit_xml(f"mlgen gate {stage}", render.junit_cases(report)))
    reports.write_json(result, {**render.to_json(report), "predictions": used})
    summary = reports.append_step_summary(render.render_markdown(report), to=args.summary)
    print(f"wrote {junit} and {result}" + (" and the job summary" if summary else ""))

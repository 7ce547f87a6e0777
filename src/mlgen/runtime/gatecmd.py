"""`mlgen gate`: read the metrics and the baseline, evaluate the gates, report everywhere."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlgen.runtime import gate, reports
from mlgen.runtime._specconfig import GateSettings, apply_env, load_stage
from mlgen.runtime.errors import UserError
from mlgen.runtime.metrics import load_metrics
from mlgen.runtime.options import registry_settings, required_path


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
    report = gate.evaluate(stage, str(metrics_path), metrics, rules, baseline, on_missing)
    print(gate.render_text(report), end="")
    _write_reports(report, args, stage)
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


def _write_reports(report: gate.GateReport, args: argparse.Namespace, stage: str) -> None:
    junit = Path(args.junit or f".mlgen/reports/{stage}-gate.xml")
    result = Path(args.json or f".mlgen/gate-{stage}.json")
    reports.write_text(junit, reports.junit_xml(f"mlgen gate {stage}", gate.junit_cases(report)))
    reports.write_json(result, gate.to_json(report))
    summary = reports.append_step_summary(gate.render_markdown(report), to=args.summary)
    print(f"wrote {junit} and {result}" + (" and the job summary" if summary else ""))

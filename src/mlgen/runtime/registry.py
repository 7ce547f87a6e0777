"""`mlgen registry ...`: register, promote, roll back and read models in a model registry.

MLflow first (aliases, since MLflow 2.9): a new version gets `challenger`; promotion moves
`champion` to it and keeps the old champion as `previous-champion`; rollback moves `champion`
back. The `command` registry runs the user's own command templates instead.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

from mlgen.runtime.common import RuntimeFailure, ci_context, fill, read_json

CHAMPION, PREVIOUS, CHALLENGER = "champion", "previous-champion", "challenger"


class Registry(Protocol):
    # Register the files at `path` as a new version of `model`, give it `alias`; returns the version.
    def register(self, model: str, path: Path, alias: str, tags: dict[str, str], metrics: dict[str, float]) -> str: ...

    # Move `champion` to the version holding `from_alias`, keeping the old champion as previous-champion.
    def promote(self, model: str, from_alias: str) -> str: ...

    # Move `champion` back to `previous-champion`.
    def rollback(self, model: str) -> str: ...

    # Metrics recorded for the version holding `alias`, or None when no version holds it.
    def metrics(self, model: str, alias: str) -> dict[str, Any] | None: ...

    # Tag the version holding `alias` (a failed canary, say).
    def tag(self, model: str, alias: str, tags: dict[str, str]) -> None: ...


class MlflowRegistry:
    def __init__(self) -> None:
        try:
            import mlflow  # noqa: F401 - fail early with a clear message
            from mlflow import MlflowClient
        except ImportError:
            raise RuntimeFailure("the MLflow registry needs MLflow: pip install 'mlgen-ci[mlflow]'") from None
        self.client = MlflowClient()

    def _version(self, model: str, alias: str) -> Any | None:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version_by_alias(model, alias)
        except MlflowException:
            return None  # no such model or alias

    def register(self, model: str, path: Path, alias: str, tags: dict[str, str], metrics: dict[str, float]) -> str:
        import mlflow
        from mlflow.exceptions import MlflowException

        if not path.exists():
            raise RuntimeFailure(f"{path}: the model path does not exist; it should come from an earlier stage's outputs")
        mlflow.set_experiment(f"mlgen-{model}")
        with mlflow.start_run(run_name=f"register {model}") as run:
            if path.is_dir():
                mlflow.log_artifacts(str(path), artifact_path="model")
            else:
                mlflow.log_artifact(str(path), artifact_path="model")
            if metrics:
                mlflow.log_metrics(metrics)
            mlflow.set_tags(tags)
        try:
            self.client.create_registered_model(model)
        except MlflowException:
            pass  # it exists already
        version = self.client.create_model_version(model, f"{run.info.artifact_uri}/model", run_id=run.info.run_id, tags=tags)
        self.client.set_registered_model_alias(model, alias, version.version)
        return str(version.version)

    def promote(self, model: str, from_alias: str) -> str:
        candidate = self._version(model, from_alias)
        if candidate is None:
            raise RuntimeFailure(f"model `{model}` has no version with alias `{from_alias}`: nothing to promote "
                                 "(did the register stage run?)")
        current = self._version(model, CHAMPION)
        if current is not None and current.version != candidate.version:
            self.client.set_registered_model_alias(model, PREVIOUS, current.version)
        self.client.set_registered_model_alias(model, CHAMPION, candidate.version)
        if from_alias != CHAMPION:
            self.client.delete_registered_model_alias(model, from_alias)
        return str(candidate.version)

    def rollback(self, model: str) -> str:
        previous = self._version(model, PREVIOUS)
        if previous is None:
            raise RuntimeFailure(f"model `{model}` has no `{PREVIOUS}` version to roll back to")
        self.client.set_registered_model_alias(model, CHAMPION, previous.version)
        self.client.delete_registered_model_alias(model, PREVIOUS)
        return str(previous.version)

    def metrics(self, model: str, alias: str) -> dict[str, Any] | None:
        version = self._version(model, alias)
        if version is None or not version.run_id:
            return None
        return dict(self.client.get_run(version.run_id).data.metrics)

    def tag(self, model: str, alias: str, tags: dict[str, str]) -> None:
        version = self._version(model, alias)
        if version is not None:
            for key, value in tags.items():
                self.client.set_model_version_tag(model, version.version, key, value)


class CommandRegistry:
    """Any registry, through command templates with {model} {version} {alias} {path} placeholders."""

    def __init__(self, register: str | None = None, promote: str | None = None, rollback: str | None = None,
                 baseline: str | None = None) -> None:
        self.templates = {"register": register, "promote": promote, "rollback": rollback, "baseline": baseline}

    def _run(self, action: str, values: dict[str, str], env: dict[str, str] | None = None) -> str:
        template = self.templates[action]
        if template is None:
            raise RuntimeFailure(f"the command registry has no `{action}` command; set `command.{action}` in the register stage")
        import os

        proc = subprocess.run(fill(template, values), shell=True, capture_output=True, text=True, env={**os.environ, **(env or {})})
        sys.stderr.write(proc.stderr)
        if proc.returncode != 0:
            raise RuntimeFailure(f"the registry's {action} command failed (exit {proc.returncode}): {fill(template, values)}")
        return proc.stdout

    def register(self, model: str, path: Path, alias: str, tags: dict[str, str], metrics: dict[str, float]) -> str:
        env = {"MLGEN_TAGS": json.dumps(tags, sort_keys=True), "MLGEN_METRICS": json.dumps(metrics, sort_keys=True)}
        out = self._run("register", {"model": model, "path": str(path), "alias": alias, "version": ""}, env)
        return out.strip().splitlines()[-1] if out.strip() else "?"

    def promote(self, model: str, from_alias: str) -> str:
        return self._run("promote", {"model": model, "alias": from_alias, "path": "", "version": ""}).strip()

    def rollback(self, model: str) -> str:
        return self._run("rollback", {"model": model, "alias": CHAMPION, "path": "", "version": ""}).strip()

    def metrics(self, model: str, alias: str) -> dict[str, Any] | None:
        out = self._run("baseline", {"model": model, "alias": alias, "path": "", "version": ""}).strip()
        if not out:
            return None
        try:
            data = json.loads(out)
        except json.JSONDecodeError:
            raise RuntimeFailure("the registry's baseline command must print the metrics as a JSON object (or nothing)") from None
        return data if isinstance(data, dict) else None

    def tag(self, model: str, alias: str, tags: dict[str, str]) -> None:
        return None  # templates have no tagging verb; the log says what happened


def backend(kind: str, *, register: str | None = None, promote: str | None = None, rollback: str | None = None,
            baseline: str | None = None) -> Registry:
    if kind == "mlflow":
        return MlflowRegistry()
    return CommandRegistry(register, promote, rollback, baseline)


def add_registry_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", default="mlflow", choices=["mlflow", "command"], help="mlflow (MLFLOW_TRACKING_URI) or command")
    parser.add_argument("--register-command", help="command registry: registers {path} as {model}, prints the version")
    parser.add_argument("--promote-command", help="command registry: promotes {model}@{alias} to champion")
    parser.add_argument("--rollback-command", help="command registry: rolls {model}'s champion back")
    parser.add_argument("--baseline-command", help="command registry: prints {model}@{alias}'s metrics as JSON")


def from_args(args: argparse.Namespace) -> Registry:
    return backend(args.registry, register=args.register_command, promote=args.promote_command,
                   rollback=args.rollback_command, baseline=args.baseline_command)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mlgen registry", description="Model registry operations used by generated pipelines.")
    sub = parser.add_subparsers(dest="action", required=True)
    reg = sub.add_parser("register", help="register a model directory as a new version with an alias (default challenger)")
    reg.add_argument("--model", required=True)
    reg.add_argument("--path", required=True, type=Path)
    reg.add_argument("--alias", default=CHALLENGER)
    reg.add_argument("--gate-results", type=Path, help="JSON written by `mlgen gate`: its metrics and verdicts become tags")
    pro = sub.add_parser("promote", help=f"move {CHAMPION} to the version holding --from-alias; keep the old one as {PREVIOUS}")
    pro.add_argument("--model", required=True)
    pro.add_argument("--from-alias", default=CHALLENGER)
    rb = sub.add_parser("rollback", help=f"move {CHAMPION} back to {PREVIOUS}")
    rb.add_argument("--model", required=True)
    base = sub.add_parser("baseline", help="write the metrics of the version holding --alias as JSON")
    base.add_argument("--model", required=True)
    base.add_argument("--alias", default=CHAMPION)
    base.add_argument("--out", type=Path, required=True)
    for p in (reg, pro, rb, base):
        add_registry_flags(p)
    args = parser.parse_args(argv)
    registry = from_args(args)
    if args.action == "register":
        tags, metrics = _gate_tags(args.gate_results)
        tags.update({f"mlgen.{k}": v for k, v in ci_context().items() if v})
        version = registry.register(args.model, args.path, args.alias, tags, metrics)
        print(f"registered {args.model} version {version} as @{args.alias}")
    elif args.action == "promote":
        print(f"{args.model}@{CHAMPION} is now version {registry.promote(args.model, args.from_alias)}")
    elif args.action == "rollback":
        print(f"{args.model}@{CHAMPION} rolled back to version {registry.rollback(args.model)}")
    else:
        found = registry.metrics(args.model, args.alias)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(found or {}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"{args.model}@{args.alias}: " + ("no such version" if found is None else f"{len(found)} metrics written to {args.out}"))
    return 0


def _gate_tags(path: Path | None) -> tuple[dict[str, str], dict[str, float]]:
    if path is None:
        return {}, {}
    result = read_json(path, "gate results")
    if not result.get("passed"):
        raise RuntimeFailure(f"{path}: the gates did not pass; a model that failed its gates is never registered")
    tags = {"mlgen.gates": "passed", "mlgen.baseline": str(result.get("baseline", ""))}
    for gate in result.get("gates", []):
        tags[f"mlgen.gate.{gate['metric']}.{gate['rule'].split('=')[0]}"] = f"{gate['status']}: {gate['detail']}"[:500]
    metrics = {k: float(v) for k, v in result.get("metrics", {}).items()}
    return tags, metrics

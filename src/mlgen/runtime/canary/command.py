"""`mlgen canary step|promote|rollback`: CI drives the rollout when no controller does.

set weight -> bake with health checks -> next weight; promote after the last step; on failure
the rollback job routes traffic back and undoes this run's promotion, if it made one.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from mlgen.duration import parse_duration
from mlgen.errors import UserError
from mlgen.runtime import cienv, reports, shell, state
from mlgen.runtime.canary import health, prometheus
from mlgen.runtime.settings import CanarySettings, RegistrySettings, apply_env, load_stage, registry_settings


def run(args: argparse.Namespace) -> int:
    handlers = {"step": step, "promote": promote, "rollback": rollback}
    return handlers[args.canary_command](args)


def _load(args: argparse.Namespace) -> tuple[CanarySettings | None, RegistrySettings]:
    view = load_stage(args.spec, args.stage, "canary")
    apply_env(view)
    spec = view.canary() if view is not None else None
    return spec, registry_settings(args, spec.registry if spec else None)


def _need(value: str | None, *, flag: str, key: str) -> str:
    if not value:
        raise UserError(f"no {key} command or value given", hint=f"pass {flag}, or --spec mlgen.yaml --stage NAME")
    return value


# --- step ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _StepPlan:
    """Every setting of a step, checked: nothing may turn out wrong after traffic has moved."""

    weight: int
    deploy: str
    bake: float
    interval: float
    probes: list[health.Probe]
    failure_limit: int


def step(args: argparse.Namespace) -> int:
    from mlgen.runtime.registry.command import pinned_version

    spec, settings = _load(args)
    version = pinned_version(args, settings.model)  # checked before any traffic moves
    plan = _plan(args, spec, version)
    if args.promote:  # the promotion after the bake needs a model: know that before deploying
        from mlgen.runtime.registry import require_model

        require_model(settings.model, command="mlgen canary step --promote")
    env = _version_env(version, MLGEN_CANARY_WEIGHT=str(plan.weight))
    shown = f"version {version} of the model" if version else "the new model"
    print(f"canary: deploying {plan.weight}% of traffic to {shown}", flush=True)
    deployed = shell.run(plan.deploy, env=env)
    if deployed.code != 0:
        return _finish(plan.weight, health.BakeResult(0, 0.0, f"the deploy command failed with exit code {deployed.code}"))
    tolerance = f"; the step fails at {plan.failure_limit} failed checks" if plan.failure_limit > 1 else ""
    print(f"canary: baking {plan.weight}% for {plan.bake:g}s, checking every {plan.interval:g}s: "
          + "; ".join(p.describe() for p in plan.probes) + tolerance, flush=True)
    result = health.bake(plan.probes, plan.bake, plan.interval, failure_limit=plan.failure_limit,
                         log=lambda line: print(f"canary: {line}", flush=True))
    code = _finish(plan.weight, result)
    if code == 0 and args.promote:
        from mlgen.runtime.registry.command import promote_with

        return promote_with(args, settings, "mlgen canary step --promote")
    return code


def _version_env(version: str | None, **env: str) -> dict[str, str]:
    """The user's deploy, check and rollback commands learn which version they act on."""
    return {**env, "MLGEN_MODEL_VERSION": version} if version else env


def _plan(args: argparse.Namespace, spec: CanarySettings | None, version: str | None = None) -> _StepPlan:
    if not 0 <= args.weight <= 100:
        raise UserError(f"--weight must be a percentage from 0 to 100, got {args.weight}", hint="e.g. --weight 10")
    deploy = _need(args.deploy or (spec.deploy if spec else None), flag="--deploy", key="deploy")
    bake_s = parse_duration(_need(args.bake or (spec.bake if spec else None), flag="--bake", key="bake"), flag="--bake")
    interval = parse_duration(args.interval or (spec.interval if spec else "30s"), flag="--interval")
    if interval <= 0:
        raise UserError("--interval must be longer than 0", hint="e.g. --interval 30s")
    limit = args.failure_limit if args.failure_limit is not None else (spec.failure_limit if spec else 1)
    if limit < 1:
        raise UserError(f"--failure-limit must be 1 or more, got {limit}",
                        hint="the number of failed checks that fails the step; 1 fails it at the first")
    return _StepPlan(args.weight, deploy, bake_s, interval, _probes(args, spec, version), limit)


def _probes(args: argparse.Namespace, spec: CanarySettings | None, version: str | None) -> list[health.Probe]:
    check = args.check or (spec.check if spec else None)
    url = args.check_url or (spec.check_url if spec else None)
    if args.threshold:
        bounds = tuple(prometheus.parse_bound(t) for t in args.threshold)
    else:
        bounds = tuple(prometheus.make_bound(m, t.get("min"), t.get("max"), where=f"threshold {m}")
                       for m, t in (spec.thresholds if spec else {}).items())
    if bounds and not url:
        raise UserError("--threshold needs --check-url: thresholds are read from its Prometheus metrics",
                        hint="pass --check-url with the URL of the service's /metrics page")
    if not check and not url:
        raise UserError("a canary step needs a health signal", hint="pass --check CMD and/or --check-url URL")
    timeout = parse_duration(args.check_timeout, flag="--check-timeout")
    if timeout <= 0:
        raise UserError("--check-timeout must be longer than 0", hint="e.g. --check-timeout 30s")
    probes: list[health.Probe] = []
    if check:
        probes.append(health.CommandProbe(check, timeout, _version_env(version, MLGEN_CANARY_WEIGHT=str(args.weight))))
    if url:
        probes.append(health.HttpProbe(health.check_url(url), bounds, timeout))
    return probes


def _finish(weight: int, result: health.BakeResult) -> int:
    failed = f", {result.failures} failed" if result.failures else ""
    if result.failure:
        text = f"canary step {weight}% FAILED after {result.checks} check(s){failed}, {result.elapsed:.1f}s: {result.failure}"
        hint = "the rollback job routes traffic back (`mlgen canary rollback`)"
        print(f"{text}\n{hint}", flush=True)
        reports.append_step_summary(f"### ❌ mlgen canary {weight}%\n\n{result.failure}\n\n{hint}\n")
        return 1
    healthy = result.checks - result.failures
    print(f"canary step {weight}% passed: {healthy} healthy check(s){failed} over {result.elapsed:.1f}s", flush=True)
    reports.append_step_summary(f"### ✅ mlgen canary {weight}%\n\n{healthy} healthy checks{failed} over {result.elapsed:.1f}s\n")
    return 0


# --- promote, rollback -----------------------------------------------------------------------

def promote(args: argparse.Namespace) -> int:
    from mlgen.runtime.registry.command import promote_with

    _, settings = _load(args)
    return promote_with(args, settings, "mlgen canary promote")


def rollback(args: argparse.Namespace) -> int:
    from mlgen.runtime.registry.command import pinned_version

    spec, settings = _load(args)
    command = _need(args.rollback or (spec.rollback if spec else None), flag="--rollback", key="rollback")
    # Checked before any traffic moves; a missing record must not stop traffic from going back.
    pinned = pinned_version(args, settings.model, missing_ok=True)
    print("canary: rolling back: all traffic to the current model", flush=True)
    done = shell.run(command, env=_version_env(pinned, MLGEN_CANARY_WEIGHT="0"))
    if done.code != 0:
        print(f"canary: the rollback command FAILED with exit code {done.code}", flush=True)
    # The registry is checked even when the command failed: a bad champion must not stay promoted.
    _registry_rollback(args, settings, pinned)
    return 0 if done.code == 0 else 1


def _registry_rollback(args: argparse.Namespace, settings: RegistrySettings, pinned: str | None) -> None:
    if not settings.model:
        print("canary: no --model given: the registry was not checked", flush=True)
        return
    from mlgen.runtime.registry import CHALLENGER, open_registry

    registry = open_registry(settings, tracking_uri=args.tracking_uri)
    record = state.load()
    outcome = registry.undo_promotion(settings.model, cienv.run_id(os.environ), record, settings.alias or CHALLENGER,
                                      pinned)
    print(f"canary: {outcome.summary}", flush=True)
    if record is not None:
        state.clear()
    reports.append_step_summary(f"### ↩️ mlgen canary rollback\n\n{outcome.summary}\n")

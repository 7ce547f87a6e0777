"""`mlgen canary step|promote|rollback`: CI drives the rollout when no controller does.

set weight -> bake with health checks -> next weight; promote after the last step; on failure
the rollback job routes traffic back and undoes this run's promotion, if it made one.
"""

from __future__ import annotations

import argparse
import os

from mlgen.runtime import cienv, health, prometheus, reports, shell, state
from mlgen.runtime._specconfig import CanarySettings, RegistrySettings, apply_env, load_stage
from mlgen.runtime.duration import parse_duration
from mlgen.runtime.errors import UserError
from mlgen.runtime.options import registry_settings


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


# --- step ------------------------------------------------------------------------------------

def step(args: argparse.Namespace) -> int:
    spec, settings = _load(args)
    if not 0 <= args.weight <= 100:
        raise UserError(f"--weight must be a percentage from 0 to 100, got {args.weight}")
    deploy = _need(args.deploy or (spec.deploy if spec else None), flag="--deploy", key="deploy")
    bake_s = parse_duration(_need(args.bake or (spec.bake if spec else None), flag="--bake", key="bake"), flag="--bake")
    interval = parse_duration(args.interval or (spec.interval if spec else "30s"), flag="--interval")
    if interval <= 0:
        raise UserError("--interval must be longer than 0", hint="e.g. --interval 30s")
    probes = _probes(args, spec)
    env = {"MLGEN_CANARY_WEIGHT": str(args.weight)}
    print(f"canary: deploying {args.weight}% of traffic to the new model", flush=True)
    deployed = shell.run(deploy, env=env)
    if deployed.code != 0:
        return _finish(args.weight, f"the deploy command failed with exit code {deployed.code}", 0, 0.0)
    print(f"canary: baking {args.weight}% for {bake_s:g}s, checking every {interval:g}s: "
          + "; ".join(p.describe() for p in probes), flush=True)
    result = health.bake(probes, bake_s, interval, log=lambda line: print(f"canary: {line}", flush=True))
    code = _finish(args.weight, result.failure, result.checks, result.elapsed)
    if code == 0 and args.promote:
        from mlgen.runtime.registrycmd import promote_with

        return promote_with(args, settings, "mlgen canary step --promote")
    return code


def _probes(args: argparse.Namespace, spec: CanarySettings | None) -> list[health.Probe]:
    check = args.check or (spec.check if spec else None)
    url = args.check_url or (spec.check_url if spec else None)
    if args.threshold:
        bounds = tuple(prometheus.parse_bound(t) for t in args.threshold)
    else:
        bounds = tuple(prometheus.Bound(m, t.get("min"), t.get("max")) for m, t in (spec.thresholds if spec else {}).items())
    if bounds and not url:
        raise UserError("--threshold needs --check-url: thresholds are read from its Prometheus metrics")
    if not check and not url:
        raise UserError("a canary step needs a health signal", hint="pass --check CMD and/or --check-url URL")
    timeout = parse_duration(args.check_timeout, flag="--check-timeout")
    probes: list[health.Probe] = []
    if check:
        probes.append(health.CommandProbe(check, timeout, {"MLGEN_CANARY_WEIGHT": str(args.weight)}))
    if url:
        probes.append(health.HttpProbe(url, bounds, timeout))
    return probes


def _finish(weight: int, failure: str | None, checks: int, elapsed: float) -> int:
    if failure:
        text = f"canary step {weight}% FAILED after {checks} check(s), {elapsed:.1f}s: {failure}"
        hint = "the rollback job routes traffic back (`mlgen canary rollback`)"
        print(f"{text}\n{hint}", flush=True)
        reports.append_step_summary(f"### ❌ mlgen canary {weight}%\n\n{failure}\n\n{hint}\n")
        return 1
    print(f"canary step {weight}% passed: {checks} healthy check(s) over {elapsed:.1f}s", flush=True)
    reports.append_step_summary(f"### ✅ mlgen canary {weight}%\n\n{checks} healthy checks over {elapsed:.1f}s\n")
    return 0


# --- promote, rollback -----------------------------------------------------------------------

def promote(args: argparse.Namespace) -> int:
    from mlgen.runtime.registrycmd import promote_with

    _, settings = _load(args)
    return promote_with(args, settings, "mlgen canary promote")


def rollback(args: argparse.Namespace) -> int:
    from mlgen.runtime.registrycmd import pinned_version

    spec, settings = _load(args)
    command = _need(args.rollback or (spec.rollback if spec else None), flag="--rollback", key="rollback")
    pinned = pinned_version(args)  # checked before any traffic moves
    print("canary: rolling back: all traffic to the current model", flush=True)
    done = shell.run(command, env={"MLGEN_CANARY_WEIGHT": "0"})
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

"""`mlgen canary ...`: one traffic step of a progressive rollout, promotion, and rollback.

Where no rollout controller exists, CI drives the loop: deploy at a weight, bake while
checking health repeatedly, fail fast on the first bad check; the pipeline's rollback job
runs `mlgen canary rollback` when any step fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from mlgen.runtime import registry as registries
from mlgen.runtime.common import RuntimeFailure, did_you_mean, seconds


@dataclass(frozen=True)
class Threshold:
    metric: str
    min: float | None
    max: float | None


def parse_threshold(text: str) -> Threshold:
    metric, sep, body = text.rpartition(":")
    bounds: dict[str, float] = {}
    for item in body.split(",") if sep else []:
        key, _, raw = item.partition("=")
        try:
            bounds[key] = float(raw)
        except ValueError:
            raise RuntimeFailure(f"--threshold `{text}`: `{raw}` is not a number") from None
    if not metric or not bounds or set(bounds) - {"min", "max"}:
        raise RuntimeFailure(f"--threshold `{text}`: write it as METRIC:max=0.05 or METRIC:min=1,max=2")
    return Threshold(metric, bounds.get("min"), bounds.get("max"))


def prometheus_values(text: str) -> dict[str, float]:
    """Sample values of a Prometheus text exposition, by metric name (labels summed over)."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name_part, _, rest = line.partition(" ")
        name = name_part.split("{", 1)[0]
        if "{" in name_part and "}" not in name_part:  # labels with spaces: the value follows the brace
            name_part, _, rest = line.partition("}")
            rest = rest.strip()
        try:
            value = float(rest.split()[0])
        except (ValueError, IndexError):
            continue
        values[name] = values.get(name, 0.0) + value
    return values


def shell(command: str, env: dict[str, str] | None = None) -> int:
    return subprocess.run(["/bin/sh", "-c", command], env={**os.environ, **(env or {})}).returncode


def check_once(command: str | None, url: str | None, thresholds: list[Threshold]) -> str | None:
    """None when healthy, else why not."""
    if command is not None:
        code = shell(command)
        if code != 0:
            return f"health check `{command}` exited {code}"
    if url is not None:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the user's own endpoint
                body = response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return f"{url} answered HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            return f"{url} is unreachable: {getattr(exc, 'reason', exc)}"
        if thresholds:
            values = prometheus_values(body)
            for t in thresholds:
                if t.metric not in values:
                    return f"{url} has no metric `{t.metric}`; {did_you_mean(t.metric, list(values))}"
                v = values[t.metric]
                if t.max is not None and v > t.max:
                    return f"{t.metric} = {v:g} is above {t.max:g}"
                if t.min is not None and v < t.min:
                    return f"{t.metric} = {v:g} is below {t.min:g}"
    return None


def step(args: argparse.Namespace) -> int:
    bake, interval = seconds(args.bake), seconds(args.interval)
    thresholds = [parse_threshold(t) for t in args.threshold]
    if args.check is None and args.check_url is None:
        raise RuntimeFailure("a canary step needs a health signal: --check CMD and/or --check-url URL")
    print(f"mlgen canary: deploying at {args.weight}% traffic", flush=True)
    code = shell(args.deploy, {"MLGEN_CANARY_WEIGHT": str(args.weight)})
    if code != 0:
        print(f"mlgen canary: deploy command exited {code}", file=sys.stderr)
        return 1
    deadline = time.monotonic() + bake
    checks = 0
    while True:
        problem = check_once(args.check, args.check_url, thresholds)
        checks += 1
        if problem:
            print(f"mlgen canary: unhealthy at {args.weight}% after {checks} check(s): {problem}", file=sys.stderr)
            return 1
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(interval, remaining))
    print(f"mlgen canary: healthy at {args.weight}% for {args.bake} ({checks} checks)", flush=True)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mlgen canary", description="Progressive delivery steps driven from CI.")
    sub = parser.add_subparsers(dest="action", required=True)
    st = sub.add_parser("step", help="deploy at a traffic weight, then bake while checking health; exit 1 on the first bad check")
    st.add_argument("--weight", required=True, type=int, help="percent of traffic for the new model (exported as MLGEN_CANARY_WEIGHT)")
    st.add_argument("--deploy", required=True, help="shell command that routes the traffic")
    st.add_argument("--bake", default="10m", help="how long to watch this step (10m, 30s, 500ms)")
    st.add_argument("--interval", default="30s", help="time between health checks")
    st.add_argument("--check", help="shell command; non-zero exit means unhealthy")
    st.add_argument("--check-url", help="HTTP URL; non-2xx means unhealthy; Prometheus text when thresholds are given")
    st.add_argument("--threshold", action="append", default=[], help="METRIC:max=X[,min=Y] read from --check-url (repeatable)")
    pro = sub.add_parser("promote", help="after the last step: the challenger becomes champion in the registry")
    pro.add_argument("--model", required=True)
    pro.add_argument("--from-alias", default=registries.CHALLENGER)
    rb = sub.add_parser("rollback", help="run the rollback command; the registry's champion stays as it was")
    rb.add_argument("--rollback", required=True, help="shell command that routes all traffic back")
    rb.add_argument("--model", help="registered model whose challenger is marked as rolled back")
    rb.add_argument("--from-alias", default=registries.CHALLENGER)
    for p in (pro, rb):
        registries.add_registry_flags(p)
    args = parser.parse_args(argv)
    if args.action == "step":
        return step(args)
    if args.action == "promote":
        version = registries.from_args(args).promote(args.model, args.from_alias)
        print(f"mlgen canary: {args.model}@{registries.CHAMPION} is now version {version}")
        return 0
    code = shell(args.rollback)
    if args.model:
        # Promotion happens only after the last step passed, so a failed rollout never moved
        # the champion: mark the challenger so nobody promotes it by hand later.
        registries.from_args(args).tag(args.model, args.from_alias, {"mlgen.canary": "rolled back"})
    if code != 0:
        print(f"mlgen canary: rollback command exited {code}", file=sys.stderr)
        return 1
    print("mlgen canary: rolled back; the champion is unchanged")
    return 0

"""Health checks during a canary bake: a user command, an HTTP endpoint, Prometheus thresholds."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from mlgen.errors import UserError
from mlgen.runtime import shell
from mlgen.runtime.canary import prometheus


class Probe(Protocol):
    def describe(self) -> str:
        """What is checked, for the log."""

    def check(self) -> str | None:
        """None when healthy, else why not."""


@dataclass(frozen=True)
class CommandProbe:
    command: str
    timeout: float
    env: dict[str, str]

    def describe(self) -> str:
        return f"command `{self.command}`"

    def check(self) -> str | None:
        done = shell.run(self.command, env=self.env, timeout=self.timeout, capture=True)
        if done.timed_out:
            return f"the check command did not finish within {self.timeout:g}s"
        if done.code != 0:
            output = f"; its output:\n{shell.tail(done.output)}" if done.output.strip() else ""
            return f"the check command exited with {done.code}{output}"
        return None


def check_url(url: str) -> str:
    """`url` if an HTTP health check can GET it; otherwise a UserError, raised before any deploy."""
    hint = "write an http:// or https:// URL with a host, e.g. --check-url http://127.0.0.1:8080/healthz"
    if any(c.isspace() or not c.isprintable() for c in url):
        raise UserError(f"`{url}` contains spaces or control characters", where="--check-url", hint=hint)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        found = f"`{parts.scheme}:`" if parts.scheme else "no scheme"
        raise UserError(f"`{url}` is not an HTTP URL ({found})", where="--check-url", hint=hint)
    try:
        parts.port  # noqa: B018 - parsing the port is the check: `:abc` or `:99999` raise here
    except ValueError as exc:
        raise UserError(f"`{url}` has a bad port: {exc}", where="--check-url", hint=hint) from None
    if not parts.hostname:
        raise UserError(f"`{url}` names no host", where="--check-url", hint=hint)
    return url


@dataclass(frozen=True)
class HttpProbe:
    url: str
    bounds: tuple[prometheus.Bound, ...]
    timeout: float

    def describe(self) -> str:
        extra = f" with thresholds {', '.join(b.metric for b in self.bounds)}" if self.bounds else ""
        return f"GET {self.url}{extra}"

    def check(self) -> str | None:
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as response:  # noqa: S310 - the user's own URL
                status, body = response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return f"{self.url} answered HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return f"{self.url} is unreachable: {reason}"
        if not 200 <= status < 300:
            return f"{self.url} answered HTTP {status}"
        samples = prometheus.parse(body) if self.bounds else {}
        for bound in self.bounds:
            problem = prometheus.violation(samples, bound)
            if problem:
                return f"{self.url}: {problem}"
        return None


@dataclass(frozen=True)
class BakeResult:
    checks: int
    elapsed: float
    failure: str | None  # why the step failed (the check that reached the failure limit), or None
    failures: int = 0  # failed checks, also those the limit tolerated


def bake(probes: Sequence[Probe], duration: float, interval: float, *, log: Callable[[str], None],
         failure_limit: int = 1, clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep) -> BakeResult:
    """Check now, then every `interval` until `duration` has passed, then once more at the end.

    A check fails when any probe fails. The bake fails as soon as `failure_limit` checks have
    failed, in total (not only in a row: a service that flaps is not healthy); more traffic on a
    sick model only does more harm. With the default 1, the first failed check ends it.
    """
    start = clock()
    deadline = start + duration
    checks = failures = 0
    while True:
        checks += 1
        problem = next((p for p in (probe.check() for probe in probes) if p), None)
        now = clock()
        if problem:
            failures += 1
            if failures >= failure_limit:
                return BakeResult(checks, now - start, problem, failures)
            log(f"check {checks} FAILED at {now - start:.1f}s ({failures} of {failure_limit - 1} tolerated): {problem}")
        else:
            log(f"check {checks} healthy at {now - start:.1f}s of {duration:g}s")
        if now >= deadline:
            return BakeResult(checks, now - start, None, failures)
        sleep(min(interval, deadline - now))

"""Health checks during a canary bake: a user command, an HTTP endpoint, Prometheus thresholds."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from mlgen.runtime import prometheus, shell


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
    failure: str | None  # the first bad check, or None


def bake(probes: Sequence[Probe], duration: float, interval: float, *, log: Callable[[str], None],
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> BakeResult:
    """Check now, then every `interval` until `duration` has passed, then once more at the end.

    The first failing check ends the bake: more traffic on a sick model only does more harm.
    """
    start = clock()
    deadline = start + duration
    checks = 0
    while True:
        checks += 1
        for probe in probes:
            problem = probe.check()
            if problem:
                return BakeResult(checks, clock() - start, problem)
        now = clock()
        log(f"check {checks} healthy at {now - start:.1f}s of {duration:g}s")
        if now >= deadline:
            return BakeResult(checks, now - start, None)
        sleep(min(interval, deadline - now))

"""`mlgen canary step`: every argument is checked before the deploy command moves traffic, bad
thresholds are refused, and a failure limit tolerates flapping probes up to a count."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgen.runtime.canary import health
from tests.runtime.conftest import Result, run_cli

Run = Callable[..., Result]
GOOD = {"--weight": "10", "--bake": "1s", "--interval": "0.2s", "--check-url": "http://127.0.0.1:9/healthz"}

# (flag, bad value, what the message says). Each is given with otherwise good arguments.
BAD_ARGUMENTS = [
    ("--check-url", "not-a-url", "is not an HTTP URL (no scheme)"),
    ("--check-url", "file:///x", "is not an HTTP URL (`file:`)"),
    ("--check-url", "ftp://host/x", "is not an HTTP URL (`ftp:`)"),
    ("--check-url", "http://", "names no host"),
    ("--check-url", "http://:8080/x", "names no host"),
    ("--check-url", "http://host:99999/", "has a bad port"),
    ("--check-url", "http://host:abc/", "has a bad port"),
    ("--check-url", "http://a b/", "contains spaces or control characters"),
    ("--check-url", "http://host/\x07", "contains spaces or control characters"),
    ("--bake", "10", "`10` is not a duration"),
    ("--bake", "soon", "`soon` is not a duration"),
    ("--interval", "0s", "--interval must be longer than 0"),
    ("--interval", "fast", "`fast` is not a duration"),
    ("--check-timeout", "0s", "--check-timeout must be longer than 0"),
    ("--check-timeout", "0ms", "--check-timeout must be longer than 0"),
    ("--check-timeout", "30", "`30` is not a duration"),
    ("--weight", "101", "--weight must be a percentage"),
    ("--weight", "-1", "--weight must be a percentage"),
    ("--weight", "ten", "invalid int value"),
    ("--failure-limit", "0", "--failure-limit must be 1 or more"),
    ("--failure-limit", "-3", "--failure-limit must be 1 or more"),
    ("--failure-limit", "two", "invalid int value"),
    ("--threshold", "errors:max=nan", "max `nan` is not a finite number"),
    ("--threshold", "errors:min=nan", "min `nan` is not a finite number"),
    ("--threshold", "errors:max=inf", "max `inf` is not a finite number"),
    ("--threshold", "errors:min=-inf", "min `-inf` is not a finite number"),
    ("--threshold", "errors:max=1e999", "max `1e999` is not a finite number"),
    ("--threshold", "errors:min=5,max=1", "min 5 is above max 1: no value could pass"),
    ("--threshold", "errors:max=abc", "max `abc` is not a number"),
    ("--threshold", "errors:max=1,max=2", "`max` is given twice"),
    ("--threshold", "errors:avg=1", "unknown threshold rule `avg`"),
    ("--threshold", "9errors:max=1", "a threshold is written METRIC:max=VALUE"),
    ("--promote", None, "needs the registered model's name"),
]


def _args(deploy: str, flag: str, value: str | None) -> list[str]:
    args = [a for k, v in GOOD.items() if k != flag for a in (k, v)]
    return [*args, "--deploy", deploy, flag, *([value] if value is not None else [])]


@pytest.mark.parametrize(("flag", "value", "message"), BAD_ARGUMENTS, ids=[f"{f}={v}" for f, v, _ in BAD_ARGUMENTS])
def test_a_bad_argument_stops_the_step_before_the_deploy(runtime: Run, tmp_path: Path, flag: str, value: str | None,
                                                         message: str) -> None:
    marker = tmp_path / "deployed"
    result = runtime("canary", "step", *_args(f"touch {marker}", flag, value))
    assert (result.code, result.out) == (1, ""), result.err
    assert result.err.startswith("error: ") and message in result.err and "\n  hint: " in result.err, result.err
    assert not marker.exists(), "the deploy command ran although an argument was wrong"


@pytest.mark.parametrize("url", ["not-a-url", "file:///etc/hostname"])
def test_the_issue_urls_exit_1_in_a_real_process(tmp_path: Path, url: str) -> None:
    marker = tmp_path / "deployed"
    result = run_cli("canary", "step", *_args(f"touch {marker}", "--check-url", url), cwd=tmp_path)
    assert result.code == 1 and "Traceback" not in result.err and "internal error" not in result.err, result.err
    assert not marker.exists()


# --- failure limit -------------------------------------------------------------------------------

class _Script:
    """Probes that answer from a list (True: healthy), with a clock that moves one second a check."""

    def __init__(self, answers: list[bool]) -> None:
        self.answers = iter(answers)
        self.now = 0.0

    def describe(self) -> str:
        return "scripted"

    def check(self) -> str | None:
        return None if next(self.answers) else "unhealthy"

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _bake(answers: list[bool], limit: int) -> health.BakeResult:
    script = _Script(answers)
    # len(answers) checks: one at the start, one a second until the end of the bake
    return health.bake([script], len(answers) - 1, 1.0, failure_limit=limit, log=lambda _: None,
                       clock=lambda: script.now, sleep=script.sleep)


@given(st.lists(st.booleans(), min_size=1, max_size=12), st.integers(min_value=1, max_value=6))
def test_the_step_fails_at_the_limit_th_failed_check_in_total(answers: list[bool], limit: int) -> None:
    result = _bake(answers, limit)
    failed_at = [i + 1 for i, ok in enumerate(answers) if not ok]
    if len(failed_at) >= limit:
        assert (result.failure, result.checks, result.failures) == ("unhealthy", failed_at[limit - 1], limit)
    else:
        assert (result.failure, result.checks, result.failures) == (None, len(answers), len(failed_at))


def test_limit_1_is_the_old_behaviour_the_first_failure_ends_the_bake() -> None:
    for answers in itertools.product([True, False], repeat=4):
        result = _bake(list(answers), 1)
        first = answers.index(False) + 1 if False in answers else None
        assert result.checks == (first or 4) and (result.failure is None) == (first is None)


def test_failure_limit_tolerates_a_flapping_check(runtime: Run, tmp_path: Path) -> None:
    # fails on the 2nd and 4th check, healthy otherwise
    count = tmp_path / "count"
    check = f'n=$(( $(cat {count} 2>/dev/null || echo 0) + 1 )); echo $n > {count}; [ $((n % 2)) -eq 1 ]'
    args = ["canary", "step", "--weight", "10", "--deploy", "true", "--bake", "0.8s", "--interval", "0.2s", "--check", check]
    tolerant = runtime(*args, "--failure-limit", "3")
    assert tolerant.code == 0, tolerant.out
    assert "(1 of 2 tolerated)" in tolerant.out and "(2 of 2 tolerated)" in tolerant.out
    assert ", 2 failed over" in tolerant.out
    count.unlink()
    strict = runtime(*args, "--failure-limit", "2")
    assert strict.code == 1 and "FAILED after 4 check(s), 2 failed" in strict.out
    count.unlink()
    default = runtime(*args)
    assert default.code == 1 and "FAILED after 2 check(s), 1 failed" in default.out


def test_the_spec_failure_limit_reaches_the_command_line_only_when_set() -> None:
    from mlgen.compile import calls as runtime_calls
    from mlgen.runtime.cli import build_parser
    from mlgen.spec.models import CanaryStage

    base = {"name": "canary", "kind": "canary", "deploy": "./deploy.sh", "check": "./check.sh", "rollback": "./rb.sh"}
    assert "--failure-limit" not in runtime_calls.canary_step(CanaryStage(**base), 10)
    line = runtime_calls.canary_step(CanaryStage(**base, failure_limit=3), 10)
    parsed = build_parser().parse_args(line.split()[1:])  # the runtime's own parser reads what the compiler wrote
    assert parsed.failure_limit == 3


@pytest.mark.parametrize(("threshold", "message"), [
    ({"max": float("nan")}, "finite"), ({"min": float("nan")}, "finite"), ({"max": float("inf")}, "finite"),
    ({"min": 5, "max": 1}, "is above `max`"), ({}, "needs `min` and/or `max`"),
])
def test_the_spec_refuses_thresholds_that_cannot_be_checked(threshold: dict[str, float], message: str) -> None:
    from pydantic import ValidationError

    from mlgen.spec.models import Threshold

    with pytest.raises(ValidationError, match=message):
        Threshold(**threshold)


SPEC = """\
version: 1
name: demo
stages:
  - {{name: train, kind: train, run: python train.py, outputs: [model/]}}
  - name: roll-out
    kind: canary
    deploy: echo "weight $MLGEN_CANARY_WEIGHT" >> deployed.log
    steps: [10, 100]
    bake: 1s
    interval: 1s
    check: {check}
    rollback: echo rolled-back >> deployed.log
{extra}"""


@pytest.mark.parametrize(("extra", "code"), [("", 1), ("    failure_limit: 2\n", 0)])
def test_the_spec_failure_limit_applies_with_spec(runtime: Run, tmp_path: Path, extra: str, code: int) -> None:
    count = tmp_path / "count"  # the first check fails, the second passes
    check = f"'n=$(( $(cat {count} 2>/dev/null || echo 0) + 1 )); echo $n > {count}; [ $n -gt 1 ]'"
    (tmp_path / "mlgen.yaml").write_text(SPEC.format(check=check, extra=extra))
    result = runtime("canary", "step", "--spec", "mlgen.yaml", "--stage", "roll-out", "--weight", "10")
    assert result.code == code, result.out + result.err

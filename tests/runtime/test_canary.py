"""`mlgen canary`: deploy, bake with health checks against a real local service, promote, roll back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.conftest import CHURN, Result, Service

Run = Callable[..., Result]
DEPLOY = f'{CHURN / "deploy.sh"} --weight "$MLGEN_CANARY_WEIGHT"'


def step(runtime: Run, *args: str, weight: str = "10", bake: str = "1s", interval: str = "0.2s") -> Result:
    return runtime("canary", "step", "--weight", weight, "--deploy", DEPLOY, "--bake", bake, "--interval", interval, *args)


def counting_check(tmp_path: Path, exit_code: int = 0) -> str:
    """A check command that appends a line per run (with the weight it saw) and exits as told."""
    return f'echo "$MLGEN_CANARY_WEIGHT" >> {tmp_path / "checks.log"}; exit {exit_code}'


def checks_run(tmp_path: Path) -> list[str]:
    log = tmp_path / "checks.log"
    return log.read_text().split() if log.exists() else []


def test_healthy_step_deploys_then_checks_every_interval(runtime: Run, tmp_path: Path) -> None:
    result = step(runtime, "--check", counting_check(tmp_path), weight="25")
    assert result.code == 0, result.out + result.err
    seen = checks_run(tmp_path)
    assert 4 <= len(seen) <= 8 and set(seen) == {"25"}
    assert (tmp_path / ".mlgen/canary-weight").read_text().strip() == "25"
    assert "weight=25" in (tmp_path / ".mlgen/deploy.log").read_text()
    assert f"canary step 25% passed: {len(seen)} healthy check(s)" in result.out


def test_bad_check_fails_fast(runtime: Run, tmp_path: Path) -> None:
    result = step(runtime, "--check", "echo 'p95 too high' >&2; exit 4", bake="30s", interval="1s")
    assert result.code == 1  # how fast: benchmarks/canary_fail_fast.py
    assert "canary step 10% FAILED after 1 check(s)" in result.out
    assert "the check command exited with 4" in result.out and "p95 too high" in result.out


def test_deploy_failure_stops_before_checking(runtime: Run, tmp_path: Path) -> None:
    result = runtime("canary", "step", "--weight", "10", "--deploy", "exit 9", "--bake", "1s",
                     "--check", counting_check(tmp_path))
    assert result.code == 1 and "the deploy command failed with exit code 9" in result.out
    assert checks_run(tmp_path) == []


def test_hanging_check_times_out(runtime: Run) -> None:
    result = step(runtime, "--check", "sleep 20", "--check-timeout", "300ms", bake="5s")
    assert result.code == 1 and "did not finish within 0.3s" in result.out  # how fast: benchmarks/canary_fail_fast.py


def test_http_check_against_the_service(runtime: Run, healthy: Service) -> None:
    result = step(runtime, "--check-url", f"{healthy.url}/healthz")
    assert result.code == 0, result.out
    healthy.fail()
    result = step(runtime, "--check-url", f"{healthy.url}/healthz")
    assert result.code == 1 and f"{healthy.url}/healthz answered HTTP 503" in result.out


def test_service_breaking_mid_bake_is_caught(runtime: Run, healthy: Service) -> None:
    timer = healthy.fail_after(0.7)
    try:
        result = step(runtime, "--check-url", f"{healthy.url}/metrics", "--threshold", "http_errors_rate:max=0.05",
                      bake="20s", interval="0.2s")
    finally:
        timer.cancel()
    assert result.code == 1
    assert "http_errors_rate = 0.31 > max 0.05" in result.out
    assert "canary: check 2 healthy" in result.out  # it was healthy before it broke


@pytest.mark.parametrize(("threshold", "message"), [
    ("http_errors_rate:max=0.001", "http_errors_rate = 0.004 > max 0.001"),
    ("http_request_duration_seconds_p95:max=0.01", "http_request_duration_seconds_p95 = 0.042 > max 0.01"),
    ("churn_canary_weight:min=50", "churn_canary_weight = 10 < min 50"),  # deploy.sh set 10 via the state dir
    ("http_error_rate:max=0.05", "metric `http_error_rate` is not in the response (did you mean 'http_errors_rate'?)"),
])
def test_thresholds_on_prometheus_metrics(runtime: Run, healthy: Service, threshold: str, message: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGEN_STATE_DIR", str(healthy.state_dir))  # deploy.sh writes where the service reads
    result = step(runtime, "--check-url", f"{healthy.url}/metrics", "--threshold", threshold)
    assert result.code == 1
    assert message in result.out


def test_thresholds_within_bounds_pass(runtime: Run, healthy: Service) -> None:
    result = step(runtime, "--check-url", f"{healthy.url}/metrics", "--threshold", "http_errors_rate:max=0.05",
                  "--threshold", "http_request_duration_seconds_p95:max=0.5,min=0")
    assert result.code == 0, result.out


def test_unreachable_url_is_unhealthy(runtime: Run) -> None:
    from tests.runtime.conftest import free_port

    result = step(runtime, "--check-url", f"http://127.0.0.1:{free_port()}/healthz")
    assert result.code == 1 and "is unreachable" in result.out


@pytest.mark.parametrize(("args", "message"), [
    (["--weight", "10", "--bake", "1s", "--check", "true"], "no deploy command or value given"),
    (["--weight", "10", "--deploy", "true", "--check", "true"], "no bake command or value given"),
    (["--weight", "10", "--deploy", "true", "--bake", "1s"], "a canary step needs a health signal"),
    (["--weight", "101", "--deploy", "true", "--bake", "1s", "--check", "true"], "--weight must be a percentage"),
    (["--weight", "10", "--deploy", "true", "--bake", "10", "--check", "true"], "--bake: `10` is not a duration"),
    (["--weight", "10", "--deploy", "true", "--bake", "1s", "--interval", "0s", "--check", "true"],
     "--interval must be longer than 0"),
    (["--weight", "10", "--deploy", "true", "--bake", "1s", "--check", "true", "--threshold", "x:max=1"],
     "--threshold needs --check-url"),
    (["--weight", "10", "--deploy", "true", "--bake", "1s", "--check-url", "http://x", "--threshold", "x:below=1"],
     "unknown threshold rule `below`"),
])
def test_step_input_errors(runtime: Run, args: list[str], message: str) -> None:
    result = runtime("canary", "step", *args)
    assert result.code == 1
    assert message in result.err


@pytest.mark.parametrize(("text", "seconds"), [
    ("10m", 600), ("30s", 30), ("1h30m", 5400), ("200ms", 0.2), ("0.2s", 0.2), ("1m30s", 90), ("0s", 0),
])
def test_durations(text: str, seconds: float) -> None:
    from mlgen.duration import parse_duration

    assert parse_duration(text, flag="--bake") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "5 m", "1d", "m", "1.s", "-1s"])
def test_bad_durations(text: str) -> None:
    from mlgen.duration import parse_duration
    from mlgen.errors import UserError

    with pytest.raises(UserError, match="is not a duration"):
        parse_duration(text, flag="--bake")


def test_prometheus_text_parsing() -> None:
    from mlgen.runtime.canary.prometheus import Bound, parse, violation

    text = """\
# HELP req Requests.
# TYPE req counter
req{code="200",path="/a{b}"} 10 1700000000000
req{code="500",msg="say \\"hi\\""} 2
latency_p95 +Inf
ratio NaN
job:errors:rate5m 0.25
garbage line here
"""
    samples = parse(text)
    assert [s.value for s in samples["req"]] == [10, 2]
    assert samples["req"][0].labels == (("code", "200"), ("path", "/a{b}"))
    assert samples["req"][1].labels == (("code", "500"), ("msg", 'say \\"hi\\"'))
    assert violation(samples, Bound("req", max=5)) == 'req{code="200",path="/a{b}"} = 10 > max 5'
    assert violation(samples, Bound("req", max=50)) is None
    assert violation(samples, Bound("latency_p95", max=1)) == "latency_p95 = inf > max 1"
    assert violation(samples, Bound("ratio", max=1)) == "ratio is NaN"
    assert violation(samples, Bound("job:errors:rate5m", max=0.1)) == "job:errors:rate5m = 0.25 > max 0.1"
    assert "garbage" not in samples


def aliases(uri: str) -> dict[str, str]:
    from mlflow import MlflowClient

    model: Any = MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model("churn")
    return {k: str(v) for k, v in model.aliases.items()}


def register(runtime: Run, tmp_path: Path, name: str) -> None:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "model.bin").write_text(name)
    assert runtime("registry", "register", "--model", "churn", "--path", str(folder)).code == 0


class TestPromotionAndRollback:
    """The registry side of a canary: promote after the last step; undo only this run's promotion."""

    def test_last_step_promotes_and_rollback_undoes_it(self, runtime: Run, tmp_path: Path, mlflow_uri: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("GITHUB_RUN_ID", "41")
        register(runtime, tmp_path, "v1")
        assert runtime("registry", "promote", "--model", "churn").code == 0
        monkeypatch.setenv("GITHUB_RUN_ID", "42")
        register(runtime, tmp_path, "v2")
        result = step(runtime, "--check", "true", "--promote", "--model", "churn", weight="100", bake="0s")
        assert result.code == 0 and "promoted churn v2 to champion (previous champion: v1)" in result.out
        assert aliases(mlflow_uri) == {"champion": "2", "previous-champion": "1"}
        assert json.loads((tmp_path / ".mlgen/canary-state.json").read_text())["version"] == "2"

        result = runtime("canary", "rollback", "--rollback", f"{CHURN / 'deploy.sh'} --rollback", "--model", "churn")
        assert result.code == 0, result.err
        assert "undid this run's promotion of v2; champion is now v1" in result.out
        assert aliases(mlflow_uri) == {"champion": "1", "canary-failed": "2"}
        assert (tmp_path / ".mlgen/deploy.log").read_text().splitlines()[-1].endswith("rollback")

    def test_rollback_leaves_another_runs_champion_alone(self, runtime: Run, tmp_path: Path, mlflow_uri: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CI_PIPELINE_ID", "100")
        register(runtime, tmp_path, "v1")
        assert runtime("canary", "promote", "--model", "churn").code == 0
        (tmp_path / ".mlgen/canary-state.json").unlink()  # the rollback job runs in another workspace
        monkeypatch.setenv("CI_PIPELINE_ID", "101")  # this pipeline's canary failed before promoting
        register(runtime, tmp_path, "v2")
        result = runtime("canary", "rollback", "--rollback", "true", "--model", "churn")
        assert result.code == 0
        assert "marked v2 of churn as failed (alias `canary-failed`); champion v1 unchanged" in result.out
        assert aliases(mlflow_uri) == {"champion": "1", "canary-failed": "2"}  # this run's version, not the champion

    def test_first_model_rollback_removes_the_champion(self, runtime: Run, tmp_path: Path, mlflow_uri: str) -> None:
        register(runtime, tmp_path, "v1")  # locally: no CI run id, the state file is the record
        assert runtime("canary", "promote", "--model", "churn").code == 0
        result = runtime("canary", "rollback", "--rollback", "exit 5", "--model", "churn")
        assert result.code == 1  # the rollback command failed...
        assert "the rollback command FAILED with exit code 5" in result.out
        assert "champion is now no champion (this was the first)" in result.out  # ...the registry was still fixed
        assert aliases(mlflow_uri) == {"canary-failed": "1"}

    def test_failed_step_does_not_promote(self, runtime: Run, tmp_path: Path, mlflow_uri: str) -> None:
        register(runtime, tmp_path, "v1")
        assert step(runtime, "--check", "false", "--promote", "--model", "churn", bake="0s").code == 1
        assert aliases(mlflow_uri) == {"challenger": "1"}


CANARY_SPEC = """\
version: 1
name: demo
env: {{MLFLOW_TRACKING_URI: "http://127.0.0.1:9"}}
stages:
  - {{name: train, kind: train, run: python train.py, outputs: [model/]}}
  - {{name: evaluate, kind: evaluate, run: python eval.py, metrics: m.json, gates: {{auc: {{min: 0.5}}}}}}
  - {{name: register, kind: register, model: churn, path: model/}}
  - name: roll-out
    kind: canary
    deploy: echo "weight $MLGEN_CANARY_WEIGHT" >> deployed.log
    steps: [10, 100]
    bake: 1s
    interval: 1s
    check_url: {url}/metrics
    thresholds: {{http_errors_rate: {{max: 0.05}}}}
    rollback: echo rolled-back >> deployed.log
"""


def test_settings_come_from_the_spec(runtime: Run, tmp_path: Path, healthy: Service) -> None:
    (tmp_path / "mlgen.yaml").write_text(CANARY_SPEC.format(url=healthy.url))
    assert runtime("canary", "step", "--spec", "mlgen.yaml", "--stage", "roll-out", "--weight", "10").code == 0
    healthy.fail()
    result = runtime("canary", "step", "--spec", "mlgen.yaml", "--stage", "roll-out", "--weight", "100")
    assert result.code == 1 and "http_errors_rate = 0.31 > max 0.05" in result.out
    # The model comes from the register stage; the traffic goes back first, then the registry (down here) is named.
    result = runtime("canary", "rollback", "--spec", "mlgen.yaml", "--stage", "roll-out")
    assert result.code == 1 and "http://127.0.0.1:9" in result.err
    assert (tmp_path / "deployed.log").read_text() == "weight 10\nweight 100\nrolled-back\n"

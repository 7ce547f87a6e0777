"""Files a target writes beside its config (GitHub's `.github/actionlint.yaml`) follow the same
rules as the configs: `output_paths` names exactly what a full compile writes, every header lists
them, `--target` keeps or drops them with their owner, and target settings that cannot be honoured
are refused as spec errors."""

from __future__ import annotations

from typing import Any

import pytest

from mlgen.compile.compiler import compile_pipeline, output_paths
from mlgen.drift import header
from mlgen.errors import SpecError
from mlgen.spec.models import Pipeline

RUNNERS = [None, "ubuntu-24.04", "gpu", ["linux", "x64"]]
OVERRIDES = [{}, {"a": {"runs-on": ["self-hosted", "arm-box"]}}, {"a": {"runs-on": "ubuntu-latest"}}]


def _pipeline(runner: Any, overrides: dict[str, Any], actionlint: bool = True) -> Pipeline:
    stage: dict[str, Any] = {"name": "a", "kind": "validate", "run": "true"}
    if runner is not None:
        stage["runner"] = runner
    return Pipeline.model_validate({
        "version": 1, "name": "p", "stages": [stage],
        "targets": {"github": {"path": ".github/workflows/mlgen.yml", "overrides": overrides, "actionlint": actionlint},
                    "gitlab": {"path": ".gitlab-ci.yml"}, "jenkins": {"path": "Jenkinsfile"}}})


CASES = [(r, o, a) for r in RUNNERS for o in OVERRIDES for a in (True, False)]


@pytest.mark.parametrize(("runner", "overrides", "actionlint"), CASES)
def test_output_paths_name_exactly_what_compile_writes_and_every_header_lists(runner: Any, overrides: dict[str, Any],
                                                                              actionlint: bool) -> None:
    pipeline = _pipeline(runner, overrides, actionlint)
    outputs = compile_pipeline(pipeline, spec_name="mlgen.yaml", spec_bytes=b"")
    paths = output_paths(pipeline)
    assert sorted(o.path for o in outputs) == sorted(paths)
    for output in outputs:
        parsed = header.parse(output.text)
        assert parsed is not None and sorted(p for _, p in parsed.outputs) == sorted(paths)
    # the companion exists exactly when the (overridden) workflow runs on a self-hosted label
    last = overrides.get("a", {}).get("runs-on", runner)
    custom = [x for x in ([last] if isinstance(last, str) else list(last or [])) if x not in ("self-hosted",)
              and not x.startswith(("ubuntu-", "windows-", "macos-"))]
    assert (".github/actionlint.yaml" in paths) == (actionlint and bool(custom))


@pytest.mark.parametrize(("only", "written"), [(("github",), True), (("gitlab",), False), (("jenkins", "gitlab"), False), ((), True)])
def test_the_companion_goes_with_its_owner_under_target(only: tuple[str, ...], written: bool) -> None:
    outputs = compile_pipeline(_pipeline("gpu", {}), spec_name="mlgen.yaml", spec_bytes=b"", only=only)
    assert ("actionlint" in {o.target for o in outputs}) == written
    assert {o.target for o in outputs} - {"actionlint"} == set(only or ("github", "gitlab", "jenkins"))


def test_a_pin_mlgen_cannot_honour_is_a_spec_error_also_without_a_source() -> None:
    spec = {"version": 1, "name": "p", "stages": [{"name": "a", "kind": "validate", "run": "true"}],
            "targets": {"github": {"path": ".github/workflows/mlgen.yml",
                                   "actions": {"actions/setup-node": "3d3c42e5aac5ba805825da76410c181273ba90b1"}}}}
    with pytest.raises(SpecError) as refused:
        compile_pipeline(Pipeline.model_validate(spec), spec_name="mlgen.yaml", spec_bytes=b"")
    (problem,) = refused.value.problems
    assert "mlgen emits no `actions/setup-node` action" in problem.message and "actions/checkout" in problem.hint

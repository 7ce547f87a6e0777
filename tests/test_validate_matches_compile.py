"""`mlgen validate` runs every check `mlgen compile` runs: table-driven over specs compile refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlgen.targets import yamlout

CANARY = {"kind": "canary", "deploy": "true", "check": "true", "rollback": "true", "steps": [100], "approval": False}
CASES: dict[str, tuple[dict[str, Any], str]] = {
    "job-id clash": ({"stages": [{"name": "c", **CANARY}, {"name": "c-100", "kind": "validate", "run": "true"}]},
                     "job id `c-100` (from stage `c-100`) clashes with one from stage `c`"),
    "override of a missing job": ({"stages": [{"name": "a", "kind": "validate", "run": "true"}],
                                   "targets": {"gitlab": {"path": ".gitlab-ci.yml", "overrides": {"b": {"tags": ["x"]}}}}},
                                  "targets.gitlab.overrides: job `b` does not exist on gitlab"),
    "reserved stage name": ({"stages": [{"name": "stages", "kind": "validate", "run": "true"}]},
                            "stage `stages` makes a GitLab job named `stages`"),
    "empty runner list in a target": ({"stages": [{"name": "a", "kind": "validate", "run": "true", "runner": "gpu"}],
                                       "targets": {"github": {"path": "gh.yml", "runners": {"gpu": []}}}},
                                      "targets.github.runners.gpu is an empty list"),
    "empty runner list on a stage": ({"stages": [{"name": "a", "kind": "validate", "run": "true", "runner": []}]},
                                     "stage `a`: `runner` is an empty list"),
    "schema-invalid override": ({"stages": [{"name": "a", "kind": "validate", "run": "true"}],
                                 "targets": {"gitlab": {"path": ".gitlab-ci.yml", "overrides": {"a": {"timeout": 42}}}}},
                                "targets.gitlab.overrides.a.timeout: the gitlab config does not validate after this override: timeout: "
                                "42 is not of type 'string'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_validate_refuses_what_compile_refuses(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    spec, message = CASES[case]
    (tmp_path / "mlgen.yaml").write_text(yamlout.dump({"version": 1, "name": "v", **spec}), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    compiled, validated, planned = cli("compile"), cli("validate"), cli("plan")
    assert compiled.code == validated.code == planned.code == 1
    assert validated.err == compiled.err == planned.err
    assert message in compiled.err
    assert "report a bug" not in compiled.err and "Traceback" not in compiled.err
    lines = compiled.err.splitlines()
    assert lines[1].startswith("mlgen.yaml:") and lines[1].split(":")[1] != "0", "located"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlgen.yaml"]

"""Names the targets reserve, and generated names that must not collide: table-driven and generated.

Every case is refused at compile time with a message located at the stage or key in the spec, and
`mlgen validate` refuses exactly what `mlgen compile` refuses.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgen.compile import names, plan
from mlgen.spec.models import ENV_NAME_PATTERN, NAME_PATTERN, Pipeline
from mlgen.targets import yamlout

STAGE_NAMES = sorted(n for n in names.GITLAB_RESERVED if re.fullmatch(NAME_PATTERN, n))
GROOVY_ENV = sorted(n for n in names.GROOVY_RESERVED | names.JENKINS_BINDINGS if re.fullmatch(ENV_NAME_PATTERN, n))
RESERVED_ENV = sorted(names.RESERVED_ENV) + [f"{p}X" for p in names.RESERVED_ENV_PREFIXES]
MATRIX_KEYS = [n.lower() for n in sorted(names.RESERVED_ENV)] + [f"{p.lower()}x" for p in names.RESERVED_MATRIX_PREFIXES]


def _write(tmp_path: Path, spec: dict[str, Any]) -> Path:
    path = tmp_path / "mlgen.yaml"
    path.write_text(yamlout.dump(spec), encoding="utf-8")
    return path


def _refused(cli: Any, tmp_path: Path, spec: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    _write(tmp_path, spec)
    monkeypatch.chdir(tmp_path)
    compiled, validated = cli("compile"), cli("validate")
    assert compiled.code == 1 and validated.code == 1, (compiled, validated)
    assert compiled.err == validated.err, "validate runs every check compile runs"
    assert "Traceback" not in compiled.err and "report a bug" not in compiled.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlgen.yaml"], "nothing is written"
    return compiled.err


def _spec(*stages: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"version": 1, "name": "names", "stages": list(stages), **top}


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_gitlab_keywords_cannot_name_a_stage(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    err = _refused(cli, tmp_path, _spec({"name": name, "kind": "validate", "run": "true"}), monkeypatch)
    expected = (f"error: the spec has 1 problem:\nmlgen.yaml:LINE: stage `{name}` makes a GitLab job named `{name}`, "
                "a reserved top-level keyword of .gitlab-ci.yml\n"
                f"  hint: rename the stage; GitLab reserves {names._listed(names.GITLAB_RESERVED)}\n")
    assert re.sub(r"mlgen\.yaml:\d+:\d+", "mlgen.yaml:LINE", err, count=1) == expected


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_a_canary_may_use_the_name_its_jobs_are_suffixed(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          name: str) -> None:
    """A canary's jobs are `<name>-<weight>...`: only job ids are GitLab keys, so `pages` is fine here."""
    spec = _spec({"name": name, "kind": "canary", "deploy": "true", "check": "true", "rollback": "true", "steps": [100]})
    (tmp_path / "mlgen.yaml").write_text(yamlout.dump(spec), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = cli("compile")
    assert result.code == 0, result.err


@pytest.mark.parametrize("name", GROOVY_ENV)
def test_groovy_words_cannot_name_a_variable(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    err = _refused(cli, tmp_path, _spec({"name": "a", "kind": "validate", "run": "true", "env": {name: "x"}}), monkeypatch)
    assert (f"stage `a`: variable `{name}` is a reserved word of the Jenkinsfile's Groovy, so it cannot name an "
            "environment variable\n  hint: rename the variable\n") in err


@pytest.mark.parametrize("name", RESERVED_ENV)
def test_platform_variables_cannot_be_set(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    err = _refused(cli, tmp_path, _spec({"name": "a", "kind": "validate", "run": "true"}, env={name: "x"}), monkeypatch)
    assert re.search(rf"^mlgen\.yaml:\d+:\d+: the pipeline's `env`: variable `{name}` (is set by the CI platform|starts with `)", err, re.M)


@pytest.mark.parametrize("key", MATRIX_KEYS)
def test_matrix_keys_cannot_become_reserved_variables(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    stage = {"name": "train", "kind": "train", "run": "true", "matrix": {key: ["a", "b"]}}
    err = _refused(cli, tmp_path, _spec(stage), monkeypatch)
    assert f"matrix key `{key}` becomes the variable `{key.upper()}`, which " in err


@pytest.mark.parametrize("where", ["stage", "pipeline"])
def test_an_env_variable_cannot_shadow_a_matrix_key(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    stage: dict[str, Any] = {"name": "train", "kind": "train", "run": "true", "matrix": {"lr": ["1", "2"]}}
    top: dict[str, Any] = {}
    if where == "stage":
        stage["env"] = {"LR": "3"}
    else:
        top["env"] = {"LR": "3"}
    err = _refused(cli, tmp_path, _spec(stage, **top), monkeypatch)
    assert ("`LR` is both an `env` variable and the variable of matrix key `lr` of stage `train`; the targets disagree "
            "on which one wins\n  hint: rename the variable or the matrix key\n") in err


def test_a_deployment_cannot_use_another_canarys_approval_environment(cli: Any, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    canary = {"kind": "canary", "deploy": "true", "check": "true", "rollback": "true", "steps": [100], "needs": []}
    spec = _spec({"name": "a", **canary, "environment": "prod"}, {"name": "b", **canary, "environment": "prod-approval"})
    assert "environment `prod-approval` of stage `b` is the approval environment of stage `a`" in _refused(cli, tmp_path, spec, monkeypatch)


def test_job_id_clashes_are_located(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    canary = {"kind": "canary", "deploy": "true", "check": "true", "rollback": "true", "steps": [100], "approval": False}
    spec = _spec({"name": "c", **canary}, {"name": "c-100", "kind": "validate", "run": "true"})
    err = _refused(cli, tmp_path, spec, monkeypatch)
    assert re.match(r"error: the spec has 1 problem:\nmlgen\.yaml:[1-9]\d*:[1-9]\d*: job id `c-100` \(from stage `c-100`\) "
                    r"clashes with one from stage `c`\n", err), err


# -- artifacts: generated names never collide, download patterns pull only their own stage -------------

STAGE = st.from_regex(r"\A[a-z][a-z0-9_-]{0,8}\Z")
VALUES = st.lists(st.from_regex(r"\A[A-Za-z0-9_.-]{1,5}\Z"), min_size=1, max_size=3, unique=True)


@given(st.lists(STAGE, min_size=2, max_size=5, unique=True), st.data())
def test_artifact_names_never_collide_and_patterns_stay_in_their_stage(stage_names: list[str], data: st.DataObject) -> None:
    stages: list[dict[str, Any]] = []
    for name in stage_names:
        stage = {"name": name, "kind": "train", "run": "true", "outputs": ["out/"], "needs": []}
        if data.draw(st.booleans()):
            stage["matrix"] = data.draw(st.dictionaries(st.sampled_from(["model", "lr"]), VALUES, min_size=1))
        stages.append(stage)
    pipeline = Pipeline.model_validate(_spec(*stages))
    the_plan = plan.build(pipeline, "0")
    uploads = [j.upload for j in the_plan.jobs if j.upload is not None]
    every = [name for art in uploads for name in art.leg_names]
    assert len(every) == len(set(every))
    for art in uploads:
        if art.matrix:
            pulled = {n for n in every if fnmatch.fnmatchcase(n, art.leg_pattern)}
            assert pulled == set(art.leg_names), (art.leg_pattern, pulled)


def test_a_leg_of_train_and_a_stage_named_train_gb_are_distinct() -> None:
    spec = _spec({"name": "train", "kind": "train", "run": "true", "outputs": ["a/"], "matrix": {"model": ["gb"]}},
                 {"name": "train-gb", "kind": "train", "run": "true", "outputs": ["b/"]},
                 {"name": "train-baseline", "kind": "train", "run": "true", "outputs": ["c/"]})
    the_plan = plan.build(Pipeline.model_validate(spec), "0")
    legs = {j.id: j.upload.leg_names for j in the_plan.jobs if j.upload}
    assert legs == {"train": ("train~gb",), "train-gb": ("train-gb",), "train-baseline": ("train-baseline",)}


# -- Jenkins overrides are typed like the spec ------------------------------------------------------

OVERRIDES = [
    ({"timeout": "2h"}, None),
    ({"timeout": 90}, None),
    ({"timeout": None, "agent": None, "environment": None, "retries": None}, None),
    ({"agent": 42}, "targets.jenkins.overrides.validate.agent: 42 is not allowed: input should be a valid string"),
    ({"environment": "A=1"}, "targets.jenkins.overrides.validate.environment: 'A=1' is not allowed: input should be a valid dictionary"),
    ({"environment.in": "x"}, "targets.jenkins.overrides.validate.environment.in: `in` is a reserved word of the Jenkinsfile's "
                              "Groovy and cannot name a variable"),
    ({"timeout": 0}, "targets.jenkins.overrides.validate.timeout: 0 is not allowed: input should be greater than or equal to 1"),
    ({"retries": 5}, "targets.jenkins.overrides.validate.retries: 5 is not allowed: input should be less than or equal to 2"),
]


@pytest.mark.parametrize(("patch", "message"), OVERRIDES, ids=[str(p) for p, _ in OVERRIDES])
def test_jenkins_overrides(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patch: dict[str, Any], message: str | None) -> None:
    spec = _spec({"name": "validate", "kind": "validate", "run": "true"},
                 targets={"jenkins": {"path": "Jenkinsfile", "overrides": {"validate": patch}}})
    if message is None:
        _write(tmp_path, spec)
        monkeypatch.chdir(tmp_path)
        result = cli("compile")
        assert result.code == 0, result.err
        text = (tmp_path / "Jenkinsfile").read_text()
        if "timeout" in patch and patch["timeout"] is None:
            assert "timeout(" not in text
        elif "timeout" in patch:
            assert f"timeout(time: {90 if patch['timeout'] == 90 else 120}, unit: 'MINUTES')" in text
        from tests import validators

        validators.groovy_parse(tmp_path / "Jenkinsfile")
        return
    err = _refused(cli, tmp_path, spec, monkeypatch)
    assert re.search(rf"^mlgen\.yaml:\d+:\d+: {re.escape(message)}\n  hint: ", err, re.M), err


@pytest.mark.parametrize(("kind", "explicit"), [("register", False), ("canary", False), ("validate", True)])
def test_a_variable_cannot_shadow_a_secret_the_job_reads(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         kind: str, explicit: bool) -> None:
    """register and canary read every declared secret unless told otherwise; the others only the listed ones."""
    stage: dict[str, Any] = {"name": "s", "kind": kind, "env": {"TOKEN": "x", "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}}
    stage.update({"register": {"model": "m", "path": "model/"}, "validate": {"run": "true"},
                  "canary": {"deploy": "true", "check": "true", "rollback": "true", "steps": [100]}}[kind])
    if explicit:
        stage["secrets"] = ["TOKEN"]
    producer = {"name": "train", "kind": "train", "run": "true", "outputs": ["model/"]}  # register needs its path made
    err = _refused(cli, tmp_path, _spec(producer, stage, secrets=["TOKEN"]), monkeypatch)
    assert ("`TOKEN` is both an `env` variable and a secret of stage `s`; the targets disagree on which one wins\n"
            "  hint: rename the variable\n") in err
    assert err.startswith("error: the spec has 1 problem:")


def test_a_pipeline_variable_cannot_shadow_a_declared_secret(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec({"name": "s", "kind": "validate", "run": "true"}, secrets=["TOKEN"], env={"TOKEN": "x"})
    assert "`TOKEN` is both an `env` variable and a declared secret" in _refused(cli, tmp_path, spec, monkeypatch)

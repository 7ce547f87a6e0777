"""pip's downloads are cached on every target, keyed on the spec's requirement files."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mlgen.spec.models import Pipeline
from mlgen.targets import yamlout
from mlgen.targets.install import project_setup
from tests.support import compile_model

REQUIREMENTS = [[], ["requirements.txt"], ["requirements.txt", "requirements-ml.txt"], ["a.txt", "b.txt", "c.txt"]]


def _compile(requirements: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    pipeline = Pipeline.model_validate({
        "version": 1, "name": "p", "env": env or {},
        "defaults": {"setup": "python -m pip install -r requirements.txt", "requirements": requirements},
        "stages": [
            {"name": "validate", "kind": "validate", "run": "true"},
            {"name": "train", "kind": "train", "run": "python train.py", "outputs": ["model/"], "cache": {"key": ["data/**"]},
             "matrix": {"model": ["a", "b"]}},
            {"name": "evaluate", "kind": "evaluate", "run": "true", "metrics": "m.json", "gates": {"auc": {"min": 0.5}}},
            {"name": "register", "kind": "register", "model": "m", "path": "model/"},
        ],
    })
    bodies = compile_model(pipeline, bodies=True)
    return {"github": yamlout.load(bodies["github"]), "gitlab": yamlout.load(bodies["gitlab"]), "jenkins": bodies["jenkins"]}


@pytest.mark.parametrize("requirements", REQUIREMENTS, ids=len)
def test_github_setup_python_caches_pip_on_the_requirement_files(requirements: list[str]) -> None:
    jobs = _compile(requirements)["github"]["jobs"]
    for job_id, job in jobs.items():
        setups = [s for s in job["steps"] if s["name"] == "Set up Python"]
        if not setups:
            continue
        with_ = setups[0]["with"]
        if requirements:
            assert with_["cache"] == "pip", job_id
            assert with_["cache-dependency-path"].split() == requirements, job_id
        else:  # setup-python would fail looking for a requirements.txt that may not exist
            assert "cache" not in with_ and "cache-dependency-path" not in with_, job_id


@pytest.mark.parametrize("requirements", REQUIREMENTS, ids=len)
def test_gitlab_caches_pip_inside_the_project_in_every_job(requirements: list[str]) -> None:
    doc = _compile(requirements)["gitlab"]
    pip_dir = doc["variables"]["PIP_CACHE_DIR"]
    assert pip_dir.startswith("$CI_PROJECT_DIR/")  # GitLab caches only paths inside the project
    relative = pip_dir.removeprefix("$CI_PROJECT_DIR/") + "/"
    default = doc["default"]["cache"]
    assert default["paths"] == [relative]
    if 1 <= len(requirements) <= 2:
        assert default["key"] == {"files": requirements, "prefix": "pip-3.11"}
    else:  # GitLab's key:files takes one or two files
        assert default["key"] == "pip-3.11"
    jobs = {k: v for k, v in doc.items() if isinstance(v, dict) and "script" in v}
    for job_id, job in jobs.items():
        # A job's own cache replaces the default: such a job must list pip's again.
        caches = job.get("cache", [default])
        # (whether it uploads pip's cache or only restores it: tests/test_gitlab_pipcache.py)
        same = [(c["key"], c["paths"]) for c in (caches if isinstance(caches, list) else [caches])]
        assert (default["key"], default["paths"]) in same, job_id
    assert len(jobs["train"]["cache"]) == 2


def test_gitlab_user_env_may_set_the_pip_cache_dir() -> None:
    doc = _compile(["requirements.txt"], env={"PIP_CACHE_DIR": "/elsewhere"})["gitlab"]
    assert doc["variables"]["PIP_CACHE_DIR"] == "/elsewhere"


@pytest.mark.parametrize("env", [{}, {"PIP_CACHE_DIR": "/shared/pip"}], ids=["default", "user-set"])
def test_jenkins_pip_cache_is_per_agent(env: dict[str, str]) -> None:
    text = _compile(["requirements.txt"], env=env)["jenkins"]
    declared = re.findall(r"^\s+PIP_CACHE_DIR = '([^']*)'$", text, re.MULTILINE)
    assert declared == [env.get("PIP_CACHE_DIR", "~/.cache/mlgen-pip")]  # one declaration: pipeline level


SETUP = "python -m pip install -r requirements.txt"


def _setup_runs(outputs: dict[str, Any], job: str) -> dict[str, bool]:
    """Per target: does the job install the project's requirements (skipped where current: test_setup_skip.py)?"""
    line = project_setup(SETUP, "pip")
    github = any(s.get("run") == line for s in outputs["github"]["jobs"][job]["steps"])
    gitlab = line in outputs["gitlab"][job].get("before_script", [])
    block = outputs["jenkins"].split(f"stage('{job}')")[1].split("\n    stage(")[0]
    return {"github": github, "gitlab": gitlab, "jenkins": SETUP in block}


@pytest.mark.parametrize(("stage", "needs_setup"), [
    ({"name": "v", "kind": "validate", "contract": "c.yaml", "data": ["d.csv"]}, False),  # mlgen's own data check
    ({"name": "v", "kind": "validate", "contract": "c.yaml", "data": ["d.csv"], "run": "python check.py"}, True),
    ({"name": "v", "kind": "validate", "run": "python check.py"}, True),
    ({"name": "v", "kind": "register", "model": "m", "path": "model/"}, False),  # the registry client only
    ({"name": "v", "kind": "register", "model": "m", "path": "model/", "registry": "command",
      "command": {"register": "./reg.sh {model}", "promote": "./p.sh", "rollback": "./r.sh", "baseline": "./b.sh"}}, True),
    ({"name": "v", "kind": "evaluate", "run": "python ev.py", "metrics": "m.json", "gates": {"auc": {"min": 0.5}}}, True),
], ids=["contract-only", "contract-and-run", "run", "register-mlflow", "register-command", "evaluate"])
def test_only_jobs_that_run_project_code_install_its_requirements(stage: dict[str, Any], needs_setup: bool) -> None:
    pipeline = Pipeline.model_validate({"version": 1, "name": "p", "defaults": {"setup": SETUP}, "stages": [stage]})
    bodies = compile_model(pipeline, bodies=True)
    parsed = {"github": yamlout.load(bodies["github"]), "gitlab": yamlout.load(bodies["gitlab"]), "jenkins": bodies["jenkins"]}
    assert _setup_runs(parsed, "v") == dict.fromkeys(("github", "gitlab", "jenkins"), needs_setup)


def _train_cache(python: str, requirements: list[str]) -> Any:
    from mlgen.compile.plan import build

    pipeline = Pipeline.model_validate({
        "version": 1, "name": "p", "defaults": {"python": python, "requirements": requirements},
        "stages": [{"name": "train", "kind": "train", "run": "python t.py", "outputs": ["m/"], "cache": {"key": ["data/**"]}}],
    })
    return build(pipeline, "0.1.0").job("train").cache


@pytest.mark.parametrize("requirements", REQUIREMENTS, ids=len)
def test_a_dependency_bump_or_another_python_retrains(requirements: list[str]) -> None:
    cache = _train_cache("3.11", requirements)
    assert cache.key_files == ("data/**", *requirements)  # their content is hashed into the key on every target
    assert _train_cache("3.12", requirements).prefix != cache.prefix

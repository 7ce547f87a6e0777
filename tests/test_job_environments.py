"""Isolated, cached, current job environments (issue 14, section 3), read off the generated configs.

Table- and property-driven: every stage of every target gets its own Python environment of the
spec's version, the GitLab image and Jenkins docker image are pinned, action pins can be bumped
from the spec (and stay green under `mlgen check`), and the training key moves with the Python
version and the requirement files on every target.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen.compile.compiler import compile_pipeline
from mlgen.drift import header
from mlgen.errors import SpecError
from mlgen.runtime.cache import command as cachecmd
from mlgen.spec.models import DEFAULT_PATHS, Pipeline
from mlgen.targets import jenkins, pins, yamlout
from tests.support import flat_github, output_key
from tests.validators import shell_bodies

SETUP = "python -m pip install -r requirements.txt"
SHA = re.compile(r"^[0-9a-f]{40}$")


def _spec(python: str = "3.11", requirements: tuple[str, ...] = ("requirements.txt",), **targets: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "version": 1, "name": "p", "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"},
        "defaults": {"python": python, "setup": SETUP, "requirements": list(requirements)},
        "stages": [
            {"name": "validate", "kind": "validate", "run": "python check.py"},
            {"name": "train", "kind": "train", "run": "python train.py", "outputs": ["model/"], "cache": {"key": ["data/**"]},
             "runner": "gpu"},
            {"name": "evaluate", "kind": "evaluate", "run": "python ev.py", "metrics": "m.json", "gates": {"auc": {"min": 0.5}}},
            {"name": "register", "kind": "register", "model": "m", "path": "model/"},
            {"name": "canary", "kind": "canary", "environment": "production", "steps": [50, 100],
             "deploy": "./deploy.sh", "check": "./health.sh", "rollback": "./rollback.sh", "bake": "1m"},
        ],
    }
    if targets:
        spec["targets"] = {**{name: {"path": path} for name, path in DEFAULT_PATHS.items()}, **targets}
    return spec


def _outputs(spec: dict[str, Any]) -> dict[str, str]:
    outputs = compile_pipeline(Pipeline.model_validate(spec), spec_name="mlgen.yaml", spec_bytes=b"")
    return {output_key(o): header.body(o.text) for o in outputs}


PYTHONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]


# -- Jenkins: a venv per stage, the spec's Python, nothing into the system Python ------------

@pytest.mark.parametrize("python", PYTHONS)
def test_every_jenkins_shell_runs_in_the_stage_venv(python: str) -> None:
    text = _outputs(_spec(python))["jenkins"]
    bodies = shell_bodies("jenkins", text)
    assert bodies
    for body in bodies:
        lines = body.split("\n")
        # the venv is first on PATH before any line of the script runs
        assert lines[:3] == ["#!/bin/bash -xe", "set -o pipefail", jenkins.VENV_ENV.rstrip("\n")], body
        assert not re.search(r"\bpython3 -m pip\b|(?<!-m )\bpip3? install\b", body), body  # never the agent's pip
    stages = re.findall(r"stage\('([^']+)'\) \{\n(.*?)\n {4}\}\n", text, re.DOTALL)
    for name, block in stages:
        if "sh '''" not in block:
            continue  # the approval stage runs no shell
        first = shell_bodies("jenkins", block)[0]
        # the stage's first shell makes the venv with the spec's Python before anything uses it
        assert f'python{python} -m venv --clear "$VIRTUAL_ENV"' in first, name
        assert f"command -v python{python} " in first, name


def test_the_venv_is_made_once_per_workspace_and_anew_for_another_python(tmp_path: Path) -> None:
    import subprocess
    import sys

    lines = jenkins.venv(f"{sys.version_info.major}.{sys.version_info.minor}")
    script = "set -e\n" + jenkins.VENV_ENV + "\n".join(lines) + "\n"
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    exe = fake_bin / f"python{sys.version_info.major}.{sys.version_info.minor}"
    # stands in for the agent's interpreter: logs each venv it is asked to make, then makes a real one
    exe.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/made\nexec {sys.executable} \"$@\"\n")
    exe.chmod(0o755)
    env = {"WORKSPACE": str(tmp_path / "ws"), "PATH": f"{fake_bin}:/usr/bin:/bin"}
    (tmp_path / "ws").mkdir()
    for _ in range(2):
        subprocess.run(["bash", "-c", script], env=env, check=True, cwd=tmp_path / "ws")
    assert (tmp_path / "made").read_text().count("-m venv") == 1  # the second run reuses it
    (tmp_path / "ws" / ".venv" / "bin" / "python").unlink()  # a broken or foreign venv is made anew
    subprocess.run(["bash", "-c", script], env=env, check=True, cwd=tmp_path / "ws")
    assert (tmp_path / "made").read_text().count("-m venv") == 2


def test_a_missing_python_fails_the_stage_naming_it(tmp_path: Path) -> None:
    import subprocess

    script = "set -e\n" + jenkins.VENV_ENV + "\n".join(jenkins.venv("3.99")) + "\n"
    proc = subprocess.run(["bash", "-c", script], env={"WORKSPACE": str(tmp_path), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "mlgen: this stage needs Python 3.99 (python3.99) on the agent" in proc.stderr


@pytest.mark.parametrize("python", PYTHONS)
def test_the_same_python_on_every_target(python: str) -> None:
    out = _outputs(_spec(python, jenkins={"path": "Jenkinsfile", "agent": "docker"}))
    github = flat_github(out)
    versions = {s["with"]["python-version"] for job in github["jobs"].values() for s in job["steps"]
                if s.get("name") == "Set up Python"}
    assert versions == {python}
    gitlab = yamlout.load(out["gitlab"])
    assert gitlab["default"]["image"] == f"python:{python}-slim-bookworm"
    images = set(re.findall(r"^\s+image '([^']+)'$", out["jenkins"], re.MULTILINE))
    assert images == {f"python:{python}-slim-bookworm"}
    assert f"python{python} -m venv" in out["jenkins"]  # the image's own interpreter, in a venv too


def test_jenkins_docker_agent_keeps_the_runner_label_and_parses() -> None:
    from tests.engines.jenkins.runner import parse_only

    spec = _spec(jenkins={"path": "Jenkinsfile", "agent": "docker", "image": "registry.example.com/py:3.11-gpu"})
    text = _outputs(spec)["jenkins"]
    assert "docker {\n          image 'registry.example.com/py:3.11-gpu'\n          label 'gpu'\n" in text
    assert text.count("docker {") == text.count("stage(") - 2  # every stage but the canary group and its approval
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "Jenkinsfile"
        path.write_text(text, encoding="utf-8")
        model = parse_only(path)
    agents = [s.get("agent") for s in model["stages"] if s.get("agent")]
    assert {"type": "docker", "label": "gpu", "image": "registry.example.com/py:3.11-gpu"} in agents


@pytest.mark.parametrize(("image", "ok"), [("python:3.12-slim-bookworm", True), ("ghcr.io/acme/py:3.12@sha256:" + "a" * 64, True),
                                           ("python 3.12", False), ("", False), ("${IMAGE}", False)])
def test_gitlab_image_override(image: str, ok: bool) -> None:
    spec = _spec(gitlab={"path": ".gitlab-ci.yml", "image": image})
    if not ok:
        with pytest.raises(Exception, match="image"):
            Pipeline.model_validate(spec)
        return
    assert yamlout.load(_outputs(spec)["gitlab"])["default"]["image"] == image


# -- Action pins ----------------------------------------------------------------------------

def test_default_pins_are_full_shas_with_versions() -> None:
    for pin in pins.ACTIONS.values():
        assert SHA.match(pin.sha) and pin.repo.startswith("actions/") and re.match(r"^v\d+\.\d+\.\d+$", pin.version)


@settings(max_examples=25, deadline=None)
@given(repo=st.sampled_from(sorted(p.repo for p in pins.ACTIONS.values())), sha=st.from_regex(SHA, fullmatch=True),
       version=st.none() | st.from_regex(r"^v[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}$", fullmatch=True))
def test_a_spec_pin_replaces_exactly_that_action(repo: str, sha: str, version: str | None) -> None:
    bump: Any = sha if version is None else {"sha": sha, "version": version}
    text = _outputs(_spec(github={"path": ".github/workflows/mlgen.yml", "actions": {repo: bump}}))["github"]
    uses = re.findall(r"uses: (\S+)@(\S+)  # (.*)$", text, re.MULTILINE)
    assert uses
    for action, commit, comment in uses:
        if action == repo:
            assert (commit, comment) == (sha, version or pins.SPEC_PINNED)
        else:
            default = next(p for p in pins.ACTIONS.values() if p.repo == action)
            assert (commit, comment) == (default.sha, default.version)
    assert any(action == repo for action, _, _ in uses) or repo == "actions/cache"


@pytest.mark.parametrize(("actions", "message"), [
    ({"actions/checkout": "v7"}, "String should match pattern"),
    ({"actions/checkout": "3d3c42e5aac5ba805825da76410c181273ba90b"}, "String should match pattern"),  # 39 hex
    ({"actions/checkout": {"sha": "3D3C42E5AAC5BA805825DA76410C181273BA90B1"}}, "String should match pattern"),
    ({"actions/checkout": {"sha": "3d3c42e5aac5ba805825da76410c181273ba90b1", "extra": 1}}, "Extra inputs"),
])
def test_bad_spec_pins_are_refused(actions: dict[str, Any], message: str) -> None:
    with pytest.raises(Exception, match=message):
        Pipeline.model_validate(_spec(github={"path": ".github/workflows/mlgen.yml", "actions": actions}))


def test_a_pin_for_an_action_mlgen_does_not_emit_is_refused_with_a_location(tmp_path: Path) -> None:
    from tests.support import run_mlgen

    (tmp_path / "mlgen.yaml").write_text(
        "version: 1\nname: p\nstages:\n  - {name: v, kind: validate, run: 'true'}\n"
        "targets:\n  github:\n    path: .github/workflows/mlgen.yml\n    actions:\n"
        "      actions/setup-node: 3d3c42e5aac5ba805825da76410c181273ba90b1\n", encoding="utf-8")
    result = run_mlgen("compile", cwd=tmp_path)
    assert result.code == 1, result.err
    assert "mlgen.yaml:9:" in result.err and "mlgen emits no `actions/setup-node` action" in result.err
    assert "actions/checkout" in result.err  # the hint lists what can be pinned
    assert "Traceback" not in result.err


def test_a_spec_pin_keeps_check_green_where_a_hand_edit_does_not(tmp_path: Path) -> None:
    from tests.support import run_mlgen

    new = "0123456789abcdef0123456789abcdef01234567"
    base = "version: 1\nname: p\nstages:\n  - {name: v, kind: validate, run: 'true'}\n"
    (tmp_path / "mlgen.yaml").write_text(base, encoding="utf-8")
    assert run_mlgen("compile", cwd=tmp_path).code == 0
    workflow = tmp_path / ".github" / "workflows" / "mlgen.yml"
    old = pins.ACTIONS["checkout"].sha
    workflow.write_text(workflow.read_text().replace(old, new), encoding="utf-8")  # what Dependabot does
    edited = run_mlgen("check", cwd=tmp_path)
    assert edited.code == 2 and "hand-edited" in edited.out + edited.err
    (tmp_path / "mlgen.yaml").write_text(
        base + f"targets:\n  gitlab: {{path: .gitlab-ci.yml}}\n  jenkins: {{path: Jenkinsfile}}\n"
               f"  github:\n    path: .github/workflows/mlgen.yml\n    actions:\n"
               f"      actions/checkout: {{sha: {new}, version: v7.0.2}}\n", encoding="utf-8")
    assert run_mlgen("compile", cwd=tmp_path).code == 0
    assert f"actions/checkout@{new}  # v7.0.2" in workflow.read_text()
    checked = run_mlgen("check", cwd=tmp_path)
    assert checked.code == 0, checked.out + checked.err


# -- The training key: the Python version and the requirement files, on every target ---------

def _train_key(tmp_path: Path, python: str, requirements: bytes, data: bytes, other: bytes) -> dict[str, str]:
    """What decides a cache hit for the train stage, per target, in a checkout holding these files."""
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "d.csv").write_bytes(data)
    (tmp_path / "requirements.txt").write_bytes(requirements)
    (tmp_path / "README.md").write_bytes(other)
    out = _outputs(_spec(python))
    keys: dict[str, str] = {}
    github = yamlout.load(out["github"])["jobs"]["train"]
    key = next(s for s in github["steps"] if s.get("id") == "cache")["with"]["key"]
    files = re.findall(r"'([^']+)'", key.split("hashFiles(")[1])
    keys["github"] = key.split("${{")[0] + cachecmd.key_digest(tmp_path, files, [])  # hashFiles over the same files
    for target in ("gitlab", "jenkins"):
        body = next(b for b in shell_bodies(target, out[target]) if "mlgen cache hit" in b)
        flags = re.search(r"mlgen cache hit (.*) \|\|", body).group(1).replace("'", "").split()  # type: ignore[union-attr]
        salt = flags[flags.index("--salt") + 1]
        patterns = [flags[i + 1] for i, f in enumerate(flags) if f == "--key"]
        keys[target] = cachecmd.key_digest(tmp_path, patterns, [salt, "model/"])
    return keys


@settings(max_examples=30, deadline=None)
@given(change=st.sampled_from(["python", "requirements", "data", "other", "nothing"]))
def test_a_dependency_bump_or_another_python_moves_the_key_on_every_target(tmp_path_factory: pytest.TempPathFactory,
                                                                           change: str) -> None:
    folder = tmp_path_factory.mktemp("key")
    before = _train_key(folder, "3.11", b"numpy==2.0\n", b"a\n", b"readme\n")
    after = _train_key(folder, "3.12" if change == "python" else "3.11",
                       b"numpy==2.1\n" if change == "requirements" else b"numpy==2.0\n",
                       b"b\n" if change == "data" else b"a\n", b"changed\n" if change == "other" else b"readme\n")
    moved = change in ("python", "requirements", "data")
    for target in before:
        assert (before[target] != after[target]) == moved, (target, change)


def test_jenkins_compile_has_no_system_pip_in_any_example() -> None:
    from tests.support import example_specs

    for spec in example_specs():
        text = (spec.parent / "Jenkinsfile").read_text(encoding="utf-8")
        assert "python3 -m pip" not in text and jenkins.VENV_ENV.strip() in text, spec


@pytest.mark.parametrize(("target", "field", "value"), [("gitlab", "actions", {}), ("jenkins", "actionlint", False),
                                                      ("github", "agent", "docker"), ("github", "image", "python:3.12")])
def test_a_setting_of_another_target_is_refused(target: str, field: str, value: Any) -> None:
    spec = _spec(**{target: {"path": DEFAULT_PATHS[target], field: value}})
    with pytest.raises(Exception, match=f"targets.{target}.{field}: `{field}` is a setting of"):
        Pipeline.model_validate(spec)


def test_compile_errors_stay_spec_errors() -> None:
    with pytest.raises(SpecError):
        _outputs(_spec(github={"path": ".github/workflows/mlgen.yml", "actions": {"actions/nope": "0" * 40}}))

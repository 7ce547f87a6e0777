"""Hostile strings through every field that reaches an output: rejected with a clear rule, or byte-exact.

Which values must be accepted is stated, not inferred: free text (commands, env values, canary
commands) takes every corpus value except those with GitHub's `${{`, and must arrive byte-exact;
an identifier is accepted exactly when it matches its documented pattern. A refusal where an
acceptance is due fails, as does an acceptance of a value outside the pattern.

"Byte-exact" is checked with the consumers' own parsers: PyYAML (a YAML 1.1 reader, like
GitLab's) next to ruamel, bash for command lines, and Groovy 2.4 for Jenkinsfile literals.
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml as pyyaml

from mlgen.compile.compiler import compile_pipeline
from mlgen.drift import header
from mlgen.errors import SpecError
from mlgen.spec.load import load
from mlgen.targets import yamlout
from mlgen.targets.jenkins import SHELL_PREAMBLE, VENV_ENV
from tests import hostile
from tests.support import output_key, require_tool

CASES = [(f, v) for f in hostile.FIELDS for v in hostile.CORPUS]
FREE_TEXT = {"command (train.run)", "setup", "env value", "stage env value", "canary deploy", "canary check", "canary rollback"}
# The pattern each identifier field is documented to take, stated here rather than imported from
# mlgen/spec.py: a loosened pattern in the code (a secret name `1:30` reaching `${{ secrets.1:30 }}`)
# must fail this test, not move its expectation along.
IDENTIFIERS = {
    "stage name": r"^[a-z][a-z0-9_-]{0,39}$", "env name": r"^[A-Za-z_][A-Za-z0-9_]{0,99}$",
    "secret name": r"^[A-Z_][A-Z0-9_]{0,99}$", "branch name": r"^[A-Za-z0-9_.][A-Za-z0-9_./-]{0,199}$",
    "output path": r"^[A-Za-z0-9_.@+-][A-Za-z0-9_.@+/-]{0,299}$", "metrics path": r"^[A-Za-z0-9_.@+-][A-Za-z0-9_.@+/-]{0,299}$",
    "gate metric name": r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,99}$", "model name": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
    "environment": r"^[a-z][a-z0-9_-]{0,39}$",
}
assert set(hostile.FIELDS) == FREE_TEXT | set(IDENTIFIERS), "every hostile field is classified"
LOCATED = re.compile(r"^\S*mlgen\.yaml:\d+:\d+: ", re.MULTILINE)
JENKINS_LITERAL = re.compile(r"'''(?:\\.|[^\\])*?'''|'(?:\\.|[^\\'\n])*'", re.DOTALL)


@functools.cache
def _compile_all(tmp: str) -> dict[tuple[str, str], Any]:
    results: dict[tuple[str, str], Any] = {}
    for i, (field, value) in enumerate(CASES):
        folder = Path(tmp) / f"case{i}"
        folder.mkdir()
        spec = folder / "mlgen.yaml"
        spec.write_text(yamlout.dump(hostile.spec_with(field, value)), encoding="utf-8")
        try:
            source, pipeline = load(spec)
            outputs = compile_pipeline(pipeline, spec_name="mlgen.yaml", spec_bytes=source.raw, source=source)
        except SpecError as exc:
            results[(field, value)] = exc.render()
        else:
            results[(field, value)] = {output_key(o): header.body(o.text) for o in outputs}
    return results


@functools.cache
def _groovy_values(tmp: str) -> dict[tuple[str, str], set[str]]:
    """Every string literal of each case's Jenkinsfile, evaluated by the real Groovy (one JVM for all
    cases), kept per case: a value is looked up only among its own case's literals."""
    cases = {key: set(JENKINS_LITERAL.findall(r["jenkins"])) for key, r in _compile_all(tmp).items() if isinstance(r, dict)}
    literals = sorted(set().union(*cases.values()))  # each distinct literal once: a JVM method has a size limit
    script = Path(tmp) / "eval.groovy"
    script.write_text("def out = new PrintStream(System.out, true, 'UTF-8')\n"
                      + "".join(f"out.print({lit}); out.print('\\u0000')\n" for lit in literals), encoding="utf-8")
    proc = subprocess.run([require_tool("groovy"), "-c", "UTF-8", str(script)], capture_output=True, timeout=300,
                          env={"JAVA_HOME": "/usr/lib/jvm/java-17-openjdk-amd64", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr.decode()
    values = proc.stdout.decode("utf-8").split("\0")[:-1]
    assert len(values) == len(literals)
    # every `sh` body starts with the bash preamble that gives it the other targets' shell semantics
    value_of = {lit: v.removeprefix(SHELL_PREAMBLE).removeprefix(VENV_ENV) for lit, v in zip(literals, values)}
    return {key: {value_of[lit] for lit in lits} for key, lits in cases.items()}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("hostile"))


def _bash_words(command_line: str) -> list[str]:
    """Let bash itself split a generated command line into arguments."""
    command_line = re.sub(r"\A# shellcheck disable=[A-Z0-9,]+\n", "", command_line)
    words = subprocess.run(["bash", "-c", 'printf "%s\\0" ' + command_line.removeprefix("mlgen ")],
                           capture_output=True, check=True).stdout.decode("utf-8")
    return words.split("\0")[:-1]


def _yaml_agree(text: str) -> Any:
    strict = yamlout.load(text)
    assert pyyaml.safe_load(text) == strict, "a YAML 1.1 reader would see different values"
    return strict


def expected_accepted(field: str, value: str) -> bool:
    """Free text takes anything but GitHub's `${{`; an identifier exactly what its pattern allows."""
    if field in FREE_TEXT:
        return "${{" not in value
    if field == "branch name" and not _git_accepts_branch(value):
        return False  # branches follow git's own rules on top of the characters
    return re.fullmatch(IDENTIFIERS[field], value) is not None


def _git_accepts_branch(name: str) -> bool:
    return subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True).returncode == 0


@pytest.mark.parametrize(("field", "value"), CASES, ids=[f"{f}-{i}" for i, (f, _) in enumerate(CASES)])
def test_hostile_value(field: str, value: str, workdir: str) -> None:
    result = _compile_all(workdir)[(field, value)]
    accepted = not isinstance(result, str)
    assert accepted is expected_accepted(field, value), (
        f"{field} {'accepted' if accepted else 'refused'} {value!r}" + ("" if accepted else f":\n{result}"))
    if not accepted:
        assert LOCATED.search(result), result
        assert "Traceback" not in result and "report a bug" not in result
        return
    gh, gl, jf = _yaml_agree(result["github"]), _yaml_agree(result["gitlab"]), result["jenkins"]
    if "github-rollout" in result:  # the rollout's jobs run in a workflow of their own: read both
        gh = {**gh, "jobs": {**gh["jobs"], **_yaml_agree(result["github-rollout"])["jobs"]}}
    gh["jobs"] = {job_id: job for job_id, job in gh["jobs"].items() if "uses" not in job}  # a call runs no steps itself
    for key in [k for k in result if k.startswith("gitlab-child:")]:  # the rollout's jobs, in its child config
        gl.update({k: v for k, v in _yaml_agree(result[key]).items() if k not in ("workflow", "stages", "default", "variables")})
    groovy = _groovy_values(workdir)[(field, value)]
    if field in ("command (train.run)", "setup"):
        assert value in [s.get("run") for j in gh["jobs"].values() for s in j["steps"]]
        assert value in [s for j in gl.values() if isinstance(j, dict) for s in j.get("script", []) + j.get("before_script", [])]
        if field == "command (train.run)":
            assert value in groovy
        else:  # the setup command is the last line of the prepare script
            assert any(v.endswith("\n" + value) for v in groovy)
    elif field == "env value":
        assert gh["env"]["PLAIN"] == value
        assert gl["variables"]["PLAIN"] == value.replace("$", "$$")  # GitLab expands `$`; `$$` is a literal `$`
        assert value in groovy
    elif field == "stage env value":
        assert gh["jobs"]["train"]["env"]["STAGE_VAR"] == value
        assert gl["train"]["variables"]["STAGE_VAR"] == value.replace("$", "$$")
        assert value in groovy
    elif field.startswith("canary "):
        flag = {"canary deploy": "--deploy", "canary check": "--check", "canary rollback": "--rollback"}[field]
        job = "canary-50-rollback" if flag == "--rollback" else "canary-50"
        lines = {"github": gh["jobs"][job]["steps"][-1]["run"], "gitlab": gl[job]["script"][-1],
                 "jenkins": next(v for v in groovy if f"mlgen canary {'rollback' if job.endswith('rollback') else 'step'} " in v)}
        for target, line in lines.items():
            words = _bash_words(line)
            # a value that starts with `-` is joined to its flag (`--deploy=-x`) so argparse keeps it a value
            joined = [w.split("=", 1)[1] for w in words if w.startswith(flag + "=")]
            assert (joined or [words[words.index(flag) + 1]]) == [value], target
    elif field == "secret name":
        assert set(re.findall(r"\$\{\{ secrets\.([^ }]*) \}\}", result["github"] + result.get("github-rollout", ""))) == {value}
        assert set(re.findall(r"credentialsId: '([^']*)'", jf)) == {value}
    elif field == "stage name":
        assert value in gh["jobs"] and value in gl and f"stage('{value}')" in jf


def test_rejections_explain_the_rule(workdir: str) -> None:
    message = _compile_all(workdir)[("stage name", "$(rm -rf ~)")]
    assert "names are 1-40 lowercase letters" in message
    message = _compile_all(workdir)[("command (train.run)", "${{ github.event.issue.title }}")]
    assert "`${{` is GitHub expression syntax" in message


def test_yaml_traps_are_quoted(workdir: str) -> None:
    text = yamlout.dump({"values": ["on", "no", "0755", "3.10", "1:30", "y", "~", "2024-01-01"]})
    assert pyyaml.safe_load(text) == {"values": ["on", "no", "0755", "3.10", "1:30", "y", "~", "2024-01-01"]}


def test_gitlab_secrets_come_only_from_ci_variables(tmp_path: Path) -> None:
    """On GitLab a secret's value is the project's CI/CD variable, byte for byte only when it is
    raw: mlgen must not define or shadow it, and the README must say to make such variables raw."""
    from tests.support import compile_dict, gitlab_doc

    gl = gitlab_doc(compile_dict(hostile.BASE, tmp_path))
    scopes = [gl.get("variables", {})] + [job.get("variables", {}) for job in gl.values() if isinstance(job, dict)]
    assert all("TOKEN" not in scope for scope in scopes), "a `variables:` entry would replace the CI/CD variable"
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8").split())
    assert 'turn off "Expand variable reference" on secrets whose value may hold `$`' in readme

"""Trust boundaries, decided on the generated configs of many generated specs.

For every combination of credentials, runners, register branches, approval and registry kind:
- no job that can run for a pull/merge request can read the registry write credential, and
  every job that can read it references the deployment environment (GitHub environment secret,
  GitLab protected environment-scoped variable) or, on Jenkins, binds it only inside stages
  whose `when` keeps change requests out;
- the gate reads the champion with the read credential, under the variable the client reads;
- GitHub jobs on self-hosted runners never run for a pull request from a fork;
- every Jenkins `when` is evaluated before an agent is taken, and the schedule exists only on
  the default branch, in UTC.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from mlgen.errors import SpecError
from mlgen.targets import yamlout
from tests.compiled import compile_dict
from tests.condeval import github_if, gitlab_rules, gitlab_variables, jenkins_when
from tests.support import flat_github

CREDENTIALS: dict[str, dict[str, str] | None] = {
    "none": None,
    "write": {"write": "REG_WRITE"},
    "read+write": {"read": "REG_READ", "write": "REG_WRITE"},
    "own-variable": {"read": "REG_READ", "write": "REG_WRITE", "variable": "REG_TOKEN", "environment": "registry"},
}
RUNNERS: dict[str, Any] = {"default": None, "gpu": "gpu", "hosted": "ubuntu-22.04"}
REGISTER_BRANCHES: dict[str, Any] = {"default": None, "main+release": ["main", "release"]}
APPROVAL_REGISTRY: dict[str, tuple[Any, str]] = {
    "approved-mlflow": (True, "mlflow"), "unapproved-command": (False, "command"),
    "submitter-mlflow": ({"submitter": "ml-leads,alice"}, "mlflow"),
}
CASES = list(itertools.product(CREDENTIALS, RUNNERS, REGISTER_BRANCHES, APPROVAL_REGISTRY))
WRITE_COMMANDS = ("mlgen registry register", "mlgen canary promote", "mlgen canary rollback")


def make_spec(credentials: str, runner: str, branches: str, approval_registry: str) -> dict[str, Any]:
    approval, registry = APPROVAL_REGISTRY[approval_registry]
    register: dict[str, Any] = {"name": "register", "kind": "register", "registry": registry, "model": "m", "path": "model/"}
    if registry == "command":
        register["command"] = {"register": "true", "promote": "true", "rollback": "true", "baseline": "true"}
    if REGISTER_BRANCHES[branches] is not None:
        register["branches"] = REGISTER_BRANCHES[branches]
    train: dict[str, Any] = {"name": "train", "kind": "train", "run": "mkdir -p model", "outputs": ["model/"]}
    if RUNNERS[runner] is not None:
        train["runner"] = RUNNERS[runner]
    spec: dict[str, Any] = {
        "version": 1, "name": "trust",
        "triggers": {"push": ["main", "release"], "pull_request": True, "schedule": "0 4 * * *"},
        "env": {"MLFLOW_TRACKING_URI": "https://mlflow.example.com"},
        "secrets": ["DEPLOY_KEY"],
        "stages": [
            {"name": "validate", "kind": "validate", "run": "true"},
            train,
            {"name": "evaluate", "kind": "evaluate", "run": "true", "metrics": "m.json", "gates": {"auc": {"min": 0.5}},
             "baseline": {"registry": "champion"}},
            register,
            {"name": "canary", "kind": "canary", "approval": approval, "deploy": "./deploy.sh", "check": "true",
             "rollback": "./deploy.sh --rollback", "steps": [50, 100]},
        ],
    }
    if CREDENTIALS[credentials] is not None:
        spec["credentials"] = CREDENTIALS[credentials]
    return spec


@pytest.fixture(scope="module", params=CASES, ids=["-".join(c) for c in CASES])
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, str]]:
    spec = make_spec(*request.param)
    return spec, compile_dict(spec, tmp_path_factory.mktemp("trust"))


# -- GitHub Actions ---------------------------------------------------------------------------------

def _pull_request(head_repo: str) -> dict[str, Any]:
    return {"github.event_name": "pull_request", "github.ref": "refs/pull/1/merge", "github.repository": "o/r",
            "github.event.pull_request.head.repo.full_name": head_repo}


PUSH_MAIN = {"github.event_name": "push", "github.ref": "refs/heads/main", "github.repository": "o/r",
             "github.event.pull_request.head.repo.full_name": None}


def _runs(job: dict[str, Any], context: dict[str, Any]) -> bool:
    """Whether the job can run in this context, whatever its needs ended with."""
    needs = job.get("needs", [])
    return any(github_if(job.get("if"), {**context, "needs_results": [result] * len(needs)})
               for result in ("success", "failure", "cancelled"))


def _step_secrets(job: dict[str, Any]) -> dict[str, str]:
    """variable -> secret, over every step of the job."""
    out = {}
    for step in job.get("steps", []):
        for variable, value in step.get("env", {}).items():
            found = re.fullmatch(r"\$\{\{ secrets\.([A-Z0-9_]+) \}\}", str(value))
            if found:
                out[variable] = found.group(1)
    return out


def test_github_pull_requests_never_reach_the_write_credential(case: tuple[dict[str, Any], dict[str, str]]) -> None:
    spec, out = case
    write = (spec.get("credentials") or {}).get("write")
    jobs = flat_github(out)["jobs"]
    assert write is None or any(write in _step_secrets(job).values() for job in jobs.values()), "the write credential is used"
    for job_id, job in jobs.items():
        secrets = _step_secrets(job).values()
        if any(_runs(job, _pull_request(repo)) for repo in ("o/r", "fork/r")):
            assert write not in secrets, f"{job_id} runs on pull requests and reads {write}"
            assert "DEPLOY_KEY" not in secrets, f"{job_id} runs on pull requests and reads the deploy secret"
        if write in secrets:
            assert job.get("environment", {}).get("name"), f"{job_id} reads {write} outside an environment"


def test_github_gate_reads_with_the_read_credential(case: tuple[dict[str, Any], dict[str, str]]) -> None:
    spec, out = case
    creds = spec.get("credentials") or {}
    gate = next(s for s in flat_github(out)["jobs"]["evaluate"]["steps"] if s["name"] == "gate")
    expected = {creds.get("variable", "MLFLOW_TRACKING_TOKEN"): f"${{{{ secrets.{creds['read']} }}}}"} if "read" in creds else None
    assert gate.get("env") == expected


def test_github_self_hosted_jobs_never_run_for_a_fork(case: tuple[dict[str, Any], dict[str, str]]) -> None:
    _, out = case
    jobs = flat_github(out)["jobs"]
    for job_id, job in jobs.items():
        labels = job["runs-on"] if isinstance(job["runs-on"], list) else [job["runs-on"]]
        if "self-hosted" in labels:
            assert not _runs(job, _pull_request("fork/r")), f"{job_id}: fork code on a self-hosted runner"
        if job_id in ("validate", "train"):
            # the guard keeps forks out; a pull request from this repository and pushes still run
            assert _runs(job, _pull_request("o/r")) and _runs(job, PUSH_MAIN), job_id
    assert _runs(jobs["validate"], _pull_request("fork/r")), "hosted jobs still check fork pull requests"


def test_github_approval_job_checks_its_reviewers_first(case: tuple[dict[str, Any], dict[str, str]]) -> None:
    spec, out = case
    jobs = flat_github(out)["jobs"]
    approvals = {i: j for i, j in jobs.items() if i.endswith("-approval")}
    assert bool(approvals) == bool(spec["stages"][-1]["approval"])
    for job in approvals.values():
        environment = job["environment"]["name"]
        first = job["steps"][0]
        assert first["env"]["MLGEN_APPROVAL_ENVIRONMENT"] == environment
        assert first["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
        assert job["permissions"] == {"actions": "read"}


# -- GitLab CI --------------------------------------------------------------------------------------

def _scripts(job: dict[str, Any]) -> str:
    return "\n".join(str(line) for key in ("before_script", "script", "after_script") for line in job.get(key, []))


def test_gitlab_merge_requests_never_reach_the_write_credential(case: tuple[dict[str, Any], dict[str, str]]) -> None:
    spec, out = case
    creds = spec.get("credentials") or {}
    write = creds.get("write")
    doc = yamlout.load(out["gitlab"])
    merge_request = gitlab_variables(branch="feature", source="merge_request_event")
    for job_id, job in doc.items():
        if not isinstance(job, dict) or "script" not in job:
            continue
        on_mr = gitlab_rules(job.get("rules"), merge_request) != "never"
        scripts = _scripts(job)
        if any(command in scripts for command in WRITE_COMMANDS):
            # the write credential is a protected variable scoped to the environment: only jobs
            # that reference the environment and run on a (protected) branch get it
            assert "environment" in job and not on_mr, job_id
        if on_mr:
            assert "environment" not in job, f"{job_id} runs on merge requests in an environment"
            assert write is None or write not in scripts, job_id
    gate = doc["evaluate"]["script"][-1]
    if "read" in creds and creds.get("variable", "MLFLOW_TRACKING_TOKEN") != creds["read"]:
        assert gate.startswith(f'export {creds.get("variable", "MLFLOW_TRACKING_TOKEN")}="${{{creds["read"]}:-}}"\n')
    else:
        assert gate.startswith("mlgen gate ")


# -- Jenkins ----------------------------------------------------------------------------------------

def _blank_scripts(text: str) -> str:
    """The Jenkinsfile with the text of `'''` scripts blanked (same length), so braces inside
    them do not count."""
    return re.sub(r"'''.*?'''", lambda m: "'''" + re.sub(r"[^\n]", " ", m.group(0)[3:-3]) + "'''", text, flags=re.DOTALL)


def _enclosing_stages(text: str, at: int) -> list[str]:
    """The names of the stages whose block contains offset `at`, outermost first."""
    blank = _blank_scripts(text)
    stack: list[tuple[str | None, int]] = []
    for match in re.finditer(r"stage\('((?:[^'\\]|\\.)*)'\) \{|\{|\}", blank[:at]):
        if match.group(0) == "}":
            stack.pop()
        else:
            stack.append((match.group(1), match.start()))
    return [name for name, _ in stack if name is not None]


def test_jenkins_binds_the_write_credential_only_outside_change_requests(case: tuple[dict[str, Any], dict[str, str]]) -> None:
    spec, out = case
    write = (spec.get("credentials") or {}).get("write")
    text = out["jenkins"]
    bindings = [m.start() for m in re.finditer(rf"credentialsId: '{write}'", text)] if write else []
    assert bool(bindings) == bool(write)
    for at in bindings:
        stages = _enclosing_stages(text, at)
        assert stages, "bound outside any stage"
        assert not all(jenkins_when(text, s, branch="feature", change_request=True) for s in stages), stages
        assert any(jenkins_when(text, s, branch="main") for s in stages[-1:]), stages
    for match in re.finditer(r"credentialsId: '([A-Z0-9_]+)'", text):
        stages = _enclosing_stages(text, match.start())
        if all(jenkins_when(text, s, branch="feature", change_request=True) for s in stages):
            assert match.group(1) == (spec.get("credentials") or {}).get("read"), (match.group(1), stages)


def test_jenkins_every_when_is_decided_before_an_agent(case: tuple[dict[str, Any], dict[str, str]]) -> None:
    _, out = case
    text = _blank_scripts(out["jenkins"])
    whens = re.findall(r"when \{\n\s*(\S+ \S+)", text)
    assert whens and all(first == "beforeAgent true" for first in whens), whens


def test_jenkins_schedule_only_on_the_default_branch_in_utc(case: tuple[dict[str, Any], dict[str, str]]) -> None:
    _, out = case
    assert "cron(env.BRANCH_NAME == 'main' ? 'TZ=UTC\\n0 4 * * *' : '')" in out["jenkins"]
    assert len(re.findall(r"\bcron\(", out["jenkins"])) == 1


def test_jenkins_submitter_comes_from_the_spec(case: tuple[dict[str, Any], dict[str, str]]) -> None:
    spec, out = case
    approval = spec["stages"][-1]["approval"]
    submitters = re.findall(r"^\s*submitter (.*)$", out["jenkins"], re.MULTILINE)
    assert submitters == (["'ml-leads,alice'"] if isinstance(approval, dict) else [])


# -- the compile-time check -------------------------------------------------------------------------

@pytest.mark.parametrize("index", [0, 1, 2], ids=["validate", "train", "evaluate"])
def test_a_stage_on_pull_requests_cannot_take_the_write_credential(index: int, tmp_path: Path) -> None:
    spec = make_spec("read+write", "default", "default", "approved-mlflow")
    spec["stages"][index]["secrets"] = ["REG_READ", "REG_WRITE"]
    with pytest.raises(SpecError) as caught:
        compile_dict(spec, tmp_path)
    [problem] = caught.value.problems
    name = spec["stages"][index]["name"]
    assert problem.message == (f"stage `{name}` runs on pull/merge requests and on every pushed branch, but it receives the "
                               "registry write credential `REG_WRITE`")
    assert problem.hint.startswith("remove `REG_WRITE` from the stage's `secrets:`; to read the champion on pull/merge "
                                   "requests use `REG_READ` (`credentials.read`)")
    # located at the offending entry of the stage's `secrets:` list
    line = (tmp_path / "mlgen.yaml").read_text().splitlines()[problem.line - 1]
    assert line[problem.col - 1:].lstrip("- ").startswith("REG_WRITE"), line


def test_the_read_credential_is_allowed_on_pull_requests(tmp_path: Path) -> None:
    spec = make_spec("read+write", "default", "default", "approved-mlflow")
    spec["stages"][2]["secrets"] = ["REG_READ"]
    assert "gate" in compile_dict(spec, tmp_path)["github"]


def test_the_same_secret_cannot_be_both_roles(tmp_path: Path) -> None:
    spec = make_spec("none", "default", "default", "approved-mlflow")
    spec["credentials"] = {"read": "TOKEN", "write": "TOKEN"}
    with pytest.raises(SpecError) as caught:
        compile_dict(spec, tmp_path)
    [problem] = caught.value.problems
    assert "`read` and `write` are the same secret `TOKEN`" in problem.message and problem.line > 0


def test_without_credentials_the_gate_gets_no_declared_secret(tmp_path: Path) -> None:
    # Before roles, the gate received every declared secret, on pull requests too.
    out = compile_dict(make_spec("none", "default", "default", "approved-mlflow"), tmp_path)
    jobs = flat_github(out)["jobs"]
    assert _step_secrets(jobs["evaluate"]) == {}
    assert _step_secrets(jobs["register"]) == {"DEPLOY_KEY": "DEPLOY_KEY"}


def test_a_declared_secret_named_like_the_variable_gives_way_to_the_credential(tmp_path: Path) -> None:
    spec = make_spec("read+write", "default", "default", "approved-mlflow")
    spec["secrets"] = ["MLFLOW_TRACKING_TOKEN"]
    jobs = flat_github(compile_dict(spec, tmp_path))["jobs"]
    assert _step_secrets(jobs["register"]) == {"MLFLOW_TRACKING_TOKEN": "REG_WRITE"}
    assert _step_secrets(jobs["evaluate"]) == {"MLFLOW_TRACKING_TOKEN": "REG_READ"}


@pytest.mark.parametrize("value", ["plain", "$HOME `id` $(id) \"q\" 'q' \\\\n", "line\nbreak", ""], ids=["plain", "hostile", "newline", "empty"])
def test_gitlab_binds_the_read_credential_byte_exact(value: str, tmp_path: Path) -> None:
    import subprocess

    out = compile_dict(make_spec("own-variable", "default", "default", "approved-mlflow"), tmp_path)
    gate = yamlout.load(out["gitlab"])["evaluate"]["script"][-1]
    binding = gate.split("\n")[0]
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", f'{binding}\nprintf %s "$REG_TOKEN"'],
                          env={"PATH": "/usr/bin:/bin", "REG_READ": value}, capture_output=True, text=True, check=True)
    assert done.stdout == value


def test_a_register_stage_that_runs_everywhere_cannot_write(tmp_path: Path) -> None:
    spec = make_spec("read+write", "default", "default", "unapproved-command")
    spec["stages"][3]["branches"] = []  # no branch condition: it would run on pull requests
    with pytest.raises(SpecError) as caught:
        compile_dict(spec, tmp_path)
    messages = [p.message for p in caught.value.problems]
    assert "stage `register` runs on pull/merge requests and on every pushed branch, but it receives the registry write " \
           "credential `REG_WRITE`" in messages
    assert all(p.hint.startswith("name the branches it runs on") for p in caught.value.problems if "`register`" in p.message)


@pytest.mark.parametrize(("key", "name"), [("variable", "PATH"), ("read", "GITHUB_TOKEN"), ("write", "CI_JOB_TOKEN")])
def test_credentials_cannot_take_a_platform_name(key: str, name: str, tmp_path: Path) -> None:
    spec = make_spec("read+write", "default", "default", "approved-mlflow")
    spec["credentials"][key] = name
    with pytest.raises(SpecError) as caught:
        compile_dict(spec, tmp_path)
    assert any(p.message.startswith(f"`credentials.{key}` `{name}`") for p in caught.value.problems)

"""The hostile corpus, run on the real engines: every value comes back from the jobs byte-exact.

test_hostile.py reads each hostile value back out of the generated files with the consumers' own
parsers. This test goes the whole way: one spec carries every accepted corpus value in every
free-text field at once (global env, stage env, a secret, the setup command, the stage command,
and the canary deploy/check/rollback commands). act, gitlab-ci-local and the Groovy harness run
it, and the jobs write the values they received into files outside the workspace. Those bytes
must equal the corpus, on each engine.

Commands carry the values as shell-quoted `printf` arguments: if any layer (YAML, GitLab's
variable expansion, Groovy strings, the runtime's argument handling) changed one byte of the
command text, the printed value would differ. Env values and the secret are printed from the
environment, so they prove that no layer expanded `$`, `${...}` or backticks on the way.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import hostile
from tests.support import init_and_commit, run_mlgen

pytestmark = pytest.mark.engine

# `${{` is rejected in every free-text field (test_hostile.py checks the message); the rest is accepted.
VALUES = [v for v in hostile.CORPUS if "${{" not in v]
# A secret reaches the job through the engine's secret store: one line (act reads secrets as dotenv).
SECRET = "s3cr3t $(id) `id` 'q' \"dq\" ${params.X} $CI_JOB_TOKEN $$x \\ %s # ü"
# A GitLab CI/CD variable's value is expanded unless the variable is marked raw ("Expand variable
# reference" off, as the README tells users for secrets holding `$`). gitlab-ci-local has no raw
# variables, and a test that doubled `$` itself would test the engine, not mlgen. So GitLab gets
# the secret without `$`; what mlgen writes and documents for such secrets is checked in
# tests/test_hostile.py (test_gitlab_secrets_come_only_from_ci_variables).
ENGINE_SECRET = {"github": SECRET, "gitlab": SECRET.replace("$", ""), "jenkins": SECRET}
FIELDS = ("env", "stage-env", "secret", "setup", "run", "deploy", "check", "rollback")


def _printf(values: list[str], to: str) -> str:
    """A command that writes each value, NUL-terminated, to $ECHO_DIR/<to>."""
    return "printf '%s\\0' " + " ".join(shlex.quote(v) for v in values) + f' > "$ECHO_DIR/{to}"'


def _printenv(names: list[str], to: str) -> str:
    return "printf '%s\\0' " + " ".join(f'"${n}"' for n in names) + f' > "$ECHO_DIR/{to}"'


def echo_spec() -> dict[str, object]:
    glob = [f"HOSTILE_{i}" for i in range(len(VALUES))]
    stage = [f"STAGE_{i}" for i in range(len(VALUES))]
    run = "\n".join([_printf(VALUES, "run"), _printenv(glob, "env"), _printenv(stage, "stage-env"),
                     _printenv(["ECHO_TOKEN"], "secret")])
    return {
        "version": 1,
        "name": "echo",
        "triggers": {"push": ["main"]},
        "defaults": {"setup": _printf(VALUES, "setup")},
        "env": dict(zip(glob, VALUES)),
        "secrets": ["ECHO_TOKEN"],
        "stages": [
            {"name": "validate", "kind": "validate", "run": run, "secrets": ["ECHO_TOKEN"], "env": dict(zip(stage, VALUES))},
            {"name": "canary", "kind": "canary", "approval": False, "steps": [50, 100], "bake": "1s", "interval": "1s",
             "deploy": _printf(VALUES, "deploy"),
             # The check fails, so the step's rollback job runs and echoes its command too.
             "check": _printf(VALUES, "check") + "\nexit 1",
             "rollback": _printf(VALUES, "rollback")},
        ],
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlgen.targets import yamlout

    repo = tmp_path_factory.mktemp("echo") / "repo"
    repo.mkdir()
    (repo / "mlgen.yaml").write_text(yamlout.dump(echo_spec()), encoding="utf-8")
    compiled = run_mlgen("compile", cwd=repo)
    assert compiled.code == 0, compiled.err
    init_and_commit(repo, "echo")
    return repo


def _env(echo_dir: Path) -> dict[str, str]:
    echo_dir.mkdir(parents=True)
    return {"ECHO_DIR": str(echo_dir), "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def run_github(repo: Path, echo_dir: Path) -> str:
    from tests.engines.github.runner import run_workflow

    run = run_workflow(repo, Path(".github/workflows/mlgen.yml"), secrets={"ECHO_TOKEN": SECRET}, env=_env(echo_dir),
                       cache_dir=echo_dir.parent / "gh-cache", artifact_dir=echo_dir.parent / "gh-artifacts", timeout=300)
    assert run.jobs.get("validate") == "passed" and run.result("canary-50-rollback") == "passed", run.stdout[-4000:]
    return run.stdout


def run_gitlab(repo: Path, echo_dir: Path) -> str:
    from tests.engines.gitlab.runner import run_pipeline

    run = run_pipeline(repo, variables={**_env(echo_dir), "ECHO_TOKEN": ENGINE_SECRET["gitlab"]}, timeout=300)
    assert run.jobs.get("validate") == "passed" and run.result("canary-50-rollback") == "passed", run.stdout[-4000:]
    return run.stdout


def run_jenkins(repo: Path, echo_dir: Path) -> str:
    from tests.engines.jenkins.runner import run_jenkinsfile

    run = run_jenkinsfile(repo / "Jenkinsfile", repo, credentials={"ECHO_TOKEN": SECRET}, env=_env(echo_dir),
                          stash_dir=echo_dir.parent / "stash", timeout=300)
    assert run.statuses().get("validate") == "passed", run.log
    assert (echo_dir / "rollback").is_file(), run.log
    return run.log


ENGINES: dict[str, Callable[[Path, Path], str]] = {"github": run_github, "gitlab": run_gitlab, "jenkins": run_jenkins}


@pytest.fixture(scope="module", params=sorted(ENGINES))
def echoed(request: pytest.FixtureRequest, project: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, str]:
    engine: str = request.param
    echo_dir = tmp_path_factory.mktemp(f"echo-{engine}") / "out"
    log = ENGINES[engine](project, echo_dir)
    return engine, echo_dir, log


@pytest.mark.parametrize("field", FIELDS)
def test_every_value_arrives_byte_exact(echoed: tuple[str, Path, str], field: str) -> None:
    engine, echo_dir, log = echoed
    path = echo_dir / field
    assert path.is_file(), f"{engine}: no job wrote {field}\n{log[-4000:]}"
    got = path.read_bytes().split(b"\0")[:-1]
    want = [ENGINE_SECRET[engine].encode()] if field == "secret" else [v.encode() for v in VALUES]
    assert len(got) == len(want), f"{engine}/{field}: {len(got)} values, expected {len(want)}"
    wrong = [(w.decode(), g.decode(errors="replace")) for w, g in zip(want, got) if w != g]
    assert not wrong, f"{engine}/{field}: " + "\n".join(f"{w!r} arrived as {g!r}" for w, g in wrong[:5])


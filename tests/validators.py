"""Run the real validators of each target on generated text. Shared by the example and fuzz tests."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from mlgen.targets import yamlout
from tests.support import require_tool

_SH_BLOCK = re.compile(r"\bsh '''((?:\\.|[^\\])*?)'''", re.DOTALL)


def groovy_unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), body, flags=re.DOTALL)


def shell_bodies(target: str, text: str) -> list[str]:
    """Every script the target's runner hands to a shell."""
    if target == "jenkins":
        return [groovy_unescape(m) for m in _SH_BLOCK.findall(text)]
    doc: dict[str, Any] = yamlout.load(text)
    if target in ("github", "github-rollout"):
        return [s["run"] for job in doc["jobs"].values() for s in job.get("steps", []) if "run" in s]  # a call has none
    scripts = []
    for job in doc.values():
        if isinstance(job, dict) and "script" in job:
            scripts += job.get("before_script", []) + job["script"]
    return scripts


def shellcheck(target: str, text: str) -> list[str]:
    """What shellcheck finds, one entry (its findings, then the script) per script it faults.

    Every script goes to one shellcheck run, a file each: a process per script cost more than the
    checks (an example holds up to 40 scripts). The gcc format names the file on every line."""
    tool = require_tool("shellcheck")
    bodies = shell_bodies(target, text)
    if not bodies:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"script-{i}.sh" for i in range(len(bodies))]
        for path, body in zip(paths, bodies):
            path.write_text(body, encoding="utf-8")
        # Every target runs scripts with bash (Jenkins: through a shebang).
        proc = subprocess.run([tool, "-s", "bash", "-f", "gcc", *map(str, paths)], capture_output=True, text=True)
    findings: dict[str, list[str]] = {str(path): [] for path in paths}
    for line in proc.stdout.splitlines():
        name, _, rest = line.partition(":")
        findings.setdefault(name, []).append(f"-:{rest}")  # as for a script read from stdin
    problems = ["\n".join(findings[str(path)]) + f"\n--- script ---\n{body}" for path, body in zip(paths, bodies) if findings[str(path)]]
    if proc.returncode != 0 and not problems:  # shellcheck itself failed: never read that as "no findings"
        problems.append(f"shellcheck exited {proc.returncode}: {proc.stdout}{proc.stderr}")
    return problems


def actionlint(text: str, labels: list[str], beside: dict[str, str] | None = None) -> str:
    """actionlint on the workflow, with the files `beside` it (repository path -> text: the rollout's
    reusable workflows, whose calls actionlint checks against the called file)."""
    tool = require_tool("actionlint")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        workflow = _write_beside(root, text, beside)
        # a repository: actionlint checks a call against the called file only inside a project
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        config = root / "actionlint.yaml"
        config.write_text("self-hosted-runner:\n  labels: [" + ", ".join(repr(label) for label in labels) + "]\n")
        files = [str(workflow)] + [str(root / rel) for rel in beside or {}]
        proc = subprocess.run([tool, "-no-color", "-config-file", str(config), *files], capture_output=True, text=True, cwd=root)
        return "" if proc.returncode == 0 else proc.stdout + proc.stderr


def zizmor(text: str, beside: dict[str, str] | None = None) -> str:
    tool = require_tool("zizmor")
    with tempfile.TemporaryDirectory() as tmp:
        workflow = _write_beside(Path(tmp), text, beside)
        proc = subprocess.run([tool, "--offline", "--no-progress", "--format", "plain", str(workflow.parent)],
                              capture_output=True, text=True)
        return "" if proc.returncode == 0 else proc.stdout + proc.stderr


def _write_beside(root: Path, text: str, beside: dict[str, str] | None) -> Path:
    workflow = root / ".github" / "workflows" / "mlgen.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(text)
    for rel, body in (beside or {}).items():
        (root / rel).write_text(body)
    return workflow


def beside_of(outputs: dict[str, str]) -> dict[str, str]:
    """The rollout workflow among compiled `outputs` (target -> text), by the path its header gives it."""
    from mlgen.drift import header

    text = outputs.get("github-rollout")
    parsed = header.parse(text) if text else None
    paths = [p for t, p in parsed.outputs if t == "github-rollout"] if parsed else []
    assert len(paths) <= 1, "several rollouts: pass each called workflow"
    return {paths[0]: text} if paths and text else {}


def called_workflows(folder: Path) -> dict[str, str]:
    """The reusable workflows mlgen wrote beside `folder`'s main workflow, by repository path."""
    workflows = folder / ".github" / "workflows"
    return {f".github/workflows/{p.name}": p.read_text() for p in sorted(workflows.glob("*.yml")) if p.name != "mlgen.yml"}


def check_jsonschema(target: str, text: str) -> str:
    tool = require_tool("check-jsonschema")
    schema = {"github": "vendor.github-workflows", "gitlab": "vendor.gitlab-ci"}[target]
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as handle:
        handle.write(text)
        handle.flush()
        proc = subprocess.run([tool, "--builtin-schema", schema, handle.name], capture_output=True, text=True)
        return "" if proc.returncode == 0 else proc.stdout + proc.stderr


def runner_labels(text: str) -> list[str]:
    doc = yamlout.load(text)
    labels: set[str] = set()
    for job in doc["jobs"].values():
        runs_on = job.get("runs-on", [])  # a job that calls a reusable workflow has none
        labels.update([runs_on] if isinstance(runs_on, str) else runs_on)
    return sorted(labels - {"self-hosted"})


def groovy_parse(jenkinsfile: Path) -> None:
    """Parse (and structurally check) a Jenkinsfile with Groovy 2.4 through the Jenkins harness."""
    from tests.engines.jenkins.runner import parse_only

    parse_only(jenkinsfile)

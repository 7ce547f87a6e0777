"""The escape hatch: patch emitted jobs by job id and dotted key path, never by list position.

The compiler applies the overrides, in one place for every target: a target hands it the
overridable face of each job (`Target.jobs`), the patches land there, and the target renders
what it got back. A target that types its face reports the patches it refuses as `Misfit`s
(raised in `Refused`); the compiler locates them in the spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mlgen.errors import Problem, SpecError, suggestion
from mlgen.spec.source import Source, locate


def apply(target: str, jobs: dict[str, Any], overrides: dict[str, dict[str, Any]], source: Source | None = None) -> None:
    """Patch `jobs` (job id -> mapping) in place. `None` deletes a key."""
    problems = []
    for job_id, patches in overrides.items():
        if job_id not in jobs:
            hint = suggestion(job_id, jobs) or f"jobs on {target}: {', '.join(jobs)}"
            problems.append(locate(source, ("targets", target, "overrides", job_id), f"targets.{target}.overrides: job `{job_id}` does not exist on {target}", hint))
            continue
        for key_path, value in patches.items():
            error = _patch(jobs[job_id], key_path.split("."), value)
            if error:
                problems.append(locate(source, ("targets", target, "overrides", job_id, key_path),
                                       f"targets.{target}.overrides.{job_id}.{key_path}: {error[0]}", error[1]))
    if problems:
        raise SpecError(problems)


def _patch(node: Any, keys: list[str], value: Any) -> tuple[str, str] | None:
    """Set or delete one dotted key; on failure, (what is wrong, how to fix it)."""
    for depth, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            if value is None:
                return f"`{'.'.join(keys[:depth + 1])}` does not exist, so there is nothing to delete", "check the key path"
            child = node[key] = {}
        if not isinstance(child, dict):
            return (f"`{'.'.join(keys[:depth + 1])}` is not a mapping",
                    "address keys by name; lists cannot be patched by position, replace the whole list")
        node = child
    last = keys[-1]
    if value is None:
        if last not in node:
            return f"`{'.'.join(keys)}` does not exist, so there is nothing to delete", "check the key path"
        del node[last]
    else:
        node[last] = value
    return None


def output_problems(target: str, messages: list[str], overrides: dict[str, dict[str, Any]],
                    source: Source | None) -> list[Problem]:
    """Validator messages (`$.path: text`) about overridden jobs, as problems located at the override.

    The override is the user's input, so a config it breaks is a spec mistake, not a bug in mlgen.
    """
    root = "$.jobs" if target == "github" else "$"
    problems = []
    for message in messages:
        path, _, text = message.partition(": ")
        job_id = next((j for j in overrides if path.startswith((f"{root}.{j}", f"{root}['{j}']"))), None)
        if job_id is None:
            return []  # something mlgen made is invalid: report it as such
        rest = path[len(root):].removeprefix(f".{job_id}").removeprefix(f"['{job_id}']")
        first = re.match(r"^(?:\.([^.\[]+)|\['([^']+)'\])", rest)
        key = (first.group(1) or first.group(2)) if first else None
        # Point at the patch that set this key when there is one, else at the job's overrides.
        patch = next((p for p in overrides[job_id] if key is not None and p.split(".")[0] == key), None)
        problems.append(locate(source, ("targets", target, "overrides", job_id, *([patch] if patch else [])),
                               f"targets.{target}.overrides.{job_id}{'.' + patch if patch else ''}: the {target} config "
                               f"does not validate after this override: {rest.lstrip('.') or 'the job'}: {text}",
                               "check the value against the target's documentation of this key"))
    return problems


@dataclass(frozen=True)
class Misfit:
    """A patch a target refused, before it is located in the spec."""

    job_id: str
    key_path: str  # the override's key as the user wrote it (`environment.A`)
    message: str  # what is wrong, without the `targets.<t>.overrides...` prefix
    hint: str


class Refused(Exception):
    """Raised by a target whose patched face does not hold: every misfit at once."""

    def __init__(self, misfits: list[Misfit]) -> None:
        super().__init__(f"{len(misfits)} override(s) refused")
        self.misfits = misfits


def located(target: str, misfits: list[Misfit], source: Source | None) -> list[Problem]:
    return [locate(source, ("targets", target, "overrides", m.job_id, m.key_path),
                   f"targets.{target}.overrides.{m.job_id}.{m.key_path}: {m.message}", m.hint) for m in misfits]

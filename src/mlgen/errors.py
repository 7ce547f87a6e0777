"""One error hierarchy. `errhandler` is the only place that maps these to exit codes."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the user's input, located as precisely as we can."""

    file: str
    line: int  # 1-based; 0 when unknown
    col: int  # 1-based; 0 when unknown
    message: str
    hint: str = ""

    def render(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.col}"
        text = f"{where}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class MlgenError(Exception):
    """An error caused by the user's input or environment (exit code 1)."""

    exit_code = 1

    def render(self) -> str:
        return f"error: {self}"


class UserError(MlgenError):
    """Bad input or environment at run time: says where, what is wrong and how to fix it (exit code 1)."""

    def __init__(self, message: str, *, where: str = "", hint: str = "") -> None:
        self.where, self.message, self.hint = where, message, hint
        super().__init__(f"{where}: {message}" if where else message)

    def render(self) -> str:
        text = f"error: {self}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class ProblemsError(MlgenError):
    """Every problem found in one located document, reported together, sorted by place."""

    document = "input"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__(f"{len(self.problems)} problem(s) in the {self.document}")

    def render(self) -> str:
        count = len(self.problems)
        head = f"error: the {self.document} has {count} problem{'s' if count != 1 else ''}:"
        return "\n".join([head, *(p.render() for p in self.problems)])


class SpecError(ProblemsError):
    """Every problem found in a spec."""

    document = "spec"


class ContractError(ProblemsError):
    """Every problem found in a data contract."""

    document = "data contract"


class OutputInvalid(MlgenError):
    """A generated config failed its target's validator: a bug in mlgen or in an override."""

    def __init__(self, target: str, path: str, messages: list[str]) -> None:
        self.target, self.path, self.messages = target, path, messages
        super().__init__(f"{target} output {path} failed validation")

    def render(self) -> str:
        lines = [f"error: the {self.target} config for {self.path} does not validate; nothing was written:"]
        lines += [f"  {m}" for m in self.messages]
        lines.append("  hint: if `overrides` touch this job, check them; otherwise please report a bug in mlgen.")
        return "\n".join(lines)


class DriftFound(MlgenError):
    """`mlgen check` found generated files that are stale or hand-edited (exit code 2)."""

    exit_code = 2

    def __init__(self, report: str) -> None:
        self.report = report
        super().__init__("generated files are out of date")

    def render(self) -> str:
        return self.report


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ` (did you mean 'x'?)` suffix naming the closest choices, or "" when nothing is close.

    The one spelling-suggestion rule of mlgen: spec keys, stage names, job ids, flags and stage
    references all go through it.
    """
    close = closest(name, choices)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"


def closest(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The choices closest to `name`, best first (difflib's ratio of at least 0.6)."""
    return difflib.get_close_matches(name, sorted(set(choices)), n=n, cutoff=0.6)


def suggestion(name: str, choices: Iterable[str]) -> str:
    """The hint form of `did_you_mean`: "did you mean `x`?" for the closest choice, or ""."""
    close = closest(name, choices, n=1)
    return f"did you mean `{close[0]}`?" if close else ""

"""One error hierarchy. `errhandler` is the only place that maps these to exit codes."""

from __future__ import annotations

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


class SpecError(MlgenError):
    """Every problem found in a spec, reported together."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__(f"{len(self.problems)} problem(s) in the spec")

    def render(self) -> str:
        count = len(self.problems)
        head = f"error: the spec has {count} problem{'s' if count != 1 else ''}:"
        return "\n".join([head, *(p.render() for p in self.problems)])


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

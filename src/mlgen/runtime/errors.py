"""Errors of the runtime commands. They join mlgen's one hierarchy, so `errhandler` maps them."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from mlgen.errors import MlgenError, Problem


class UserError(MlgenError):
    """Bad input or environment: says where, what is wrong and how to fix it (exit code 1)."""

    def __init__(self, message: str, *, where: str = "", hint: str = "") -> None:
        self.where, self.message, self.hint = where, message, hint
        super().__init__(f"{where}: {message}" if where else message)

    def render(self) -> str:
        text = f"error: {self}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class ContractError(MlgenError):
    """Every problem found in a data contract, reported together."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__(f"{len(self.problems)} problem(s) in the data contract")

    def render(self) -> str:
        count = len(self.problems)
        head = f"error: the data contract has {count} problem{'s' if count != 1 else ''}:"
        return "\n".join([head, *(p.render() for p in self.problems)])


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ` (did you mean 'x'?)` suffix, or "" when nothing is close."""
    close = difflib.get_close_matches(name, sorted(set(choices)), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"

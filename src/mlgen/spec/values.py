"""Values every target accepts: cron schedules and branch names, checked with a reason and a hint.

Each check returns None for a good value, else a `Refusal` naming what is wrong. The rules are
the intersection of what GitHub Actions, GitLab and Jenkins accept, so a spec that passes means
the same thing on every target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    message: str
    hint: str


# --- cron ------------------------------------------------------------------------------------
# GitHub documents POSIX cron (numbers, JAN-DEC, SUN-SAT, `* , - /`); GitLab parses with fugit,
# a superset; Jenkins takes numbers only (its lexer has no names), adds `H`, and ANDs the two day
# fields where POSIX ORs them. The common subset below is what all three read the same way;
# names are turned into numbers for Jenkins (`numeric_cron`).

@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] means low + i

    def value(self, text: str) -> int | None:
        if text.isdigit() and len(text) <= 2:
            return int(text)
        upper = text.upper()
        return self.names.index(upper) + self.low if upper in self.names else None

    def allowed(self) -> str:
        names = f" or {self.names[0]}-{self.names[-1]}" if self.names else ""
        return f"{self.low}-{self.high}{names}"


CRON_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    _Field("day of week", 0, 6, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
CRON_HINT = ("five fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12 or JAN-DEC, day of week 0-6 or "
             "SUN-SAT (0 is Sunday), each `*`, a value, a range A-B, a step */N or A-B/N, or a list of these; "
             "only the syntax GitHub, GitLab and Jenkins all accept (no H, L, W, ?, # or @daily), in UTC")
_JENKINS_HASH = re.compile(r"^H(\([0-9-]*\))?(/[0-9]*)?$")
_ITEM = re.compile(r"^(?:(\*)|([A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?)(?:/([0-9]+))?$")


def _show(text: str) -> str:
    return f"`{text}`" if text.isprintable() else repr(text)


def check_cron(text: str) -> Refusal | None:
    if not text.isprintable():
        return Refusal(f"{_show(text)} has characters a schedule cannot contain", CRON_HINT)
    if text.startswith("@"):
        return Refusal(f"`{text}` is a nickname not every target accepts (GitHub does not)",
                       "write the five fields, e.g. `0 0 * * *` for @daily")
    fields = text.split(" ")
    if len(fields) != 5 or not all(fields):
        return Refusal(f"`{text}` does not have five fields separated by single spaces", CRON_HINT)
    problems = [p for field, spec in zip(fields, CRON_FIELDS) if (p := _check_field(field, spec))]
    if not problems and _too_often(fields):
        return Refusal(f"`{text}` runs more often than every 5 minutes, GitHub's shortest schedule interval",
                       "space the minutes at least 5 apart, e.g. `*/5` or `0,30`")
    if not problems and fields[2] != "*" and fields[4] != "*":
        return Refusal(f"`{text}` restricts both day of month and day of week: GitHub and GitLab run on days "
                       "matching either, Jenkins only on days matching both", "set one of the two day fields to `*`")
    return Refusal(f"`{text}`: {'; '.join(problems)}", CRON_HINT) if problems else None


def _check_field(text: str, spec: _Field) -> str | None:
    for item in text.split(","):
        problem = _check_item(item, spec)
        if problem:
            return f"{spec.name} {problem}"
    return None


def _check_item(item: str, spec: _Field) -> str | None:
    if _JENKINS_HASH.fullmatch(item):
        return f"`{item}` uses `H`, which only Jenkins reads"
    match = _ITEM.fullmatch(item)
    if match is None:
        return f"`{item}` is not allowed here ({spec.allowed()})"
    star, first, last, step = match.groups()
    if not star:
        start = spec.value(first)
        end = spec.value(last) if last is not None else start
        if start is None or end is None or not all(spec.low <= v <= spec.high for v in (start, end)):
            return f"`{item}` is outside {spec.allowed()}"
        if start > end:
            return f"`{item}` runs backwards"
        if step is not None and last is None:
            return f"`{item}`: a step needs `*` or a range before it (`*/{step}` or `{first}-{spec.high}/{step}`)"
    if step is not None and not 1 <= int(step) <= spec.high - spec.low:
        return f"`{item}`: the step must be 1-{spec.high - spec.low}"
    return None


def _values(text: str, spec: _Field) -> list[int]:
    """Every value a (valid) field selects, sorted."""
    out: set[int] = set()
    for item in text.split(","):
        match = _ITEM.fullmatch(item)
        assert match is not None, "only called on fields that passed _check_field"
        star, first, last, step = match.groups()
        start = spec.low if star else spec.value(first)
        end = spec.high if star else (spec.value(last) if last is not None else start)
        assert start is not None and end is not None
        out.update(range(start, end + 1, int(step or 1)))
    return sorted(out)


def _too_often(fields: list[str]) -> bool:
    """Whether two runs can be less than 5 minutes apart (within an hour, or across two consecutive hours)."""
    minutes = _values(fields[0], CRON_FIELDS[0])
    if any(b - a < 5 for a, b in zip(minutes, minutes[1:])):
        return True
    hours = set(_values(fields[1], CRON_FIELDS[1]))
    consecutive_hours = any((h + 1) % 24 in hours for h in hours)
    return consecutive_hours and 60 - minutes[-1] + minutes[0] < 5


def numeric_cron(text: str) -> str:
    """The same schedule with month and day names as numbers (Jenkins reads numbers only)."""
    fields = text.split(" ")
    if len(fields) != 5:
        return text
    return " ".join(_numeric_field(field, spec) for field, spec in zip(fields, CRON_FIELDS))


def _numeric_field(field: str, spec: _Field) -> str:
    if not spec.names:
        return field
    return re.sub(r"[A-Za-z]{3}", lambda m: str(spec.value(m.group(0))), field)


# --- branches --------------------------------------------------------------------------------
# `git check-ref-format --branch`, narrowed to the characters every target takes literally in a
# branch filter (GitHub's filters are globs, Jenkins' `branch` condition too): letters, digits,
# `_ . / -`. Patterns are not supported, so one spec means the same branches everywhere.

BRANCH_HINT = "a branch name as git allows it (see `git check-ref-format`), e.g. main or release/1.2"
_BRANCH_CHARS = re.compile(r"^[A-Za-z0-9_./-]+$")


def check_branch(name: str) -> Refusal | None:
    if any(c in name for c in "*?[]!+"):
        return Refusal(f"{_show(name)} is a pattern; branch patterns are not supported",
                       "list each branch by its full name: GitHub, GitLab and Jenkins read patterns differently")
    if not _BRANCH_CHARS.fullmatch(name) or len(name) > 200:
        return Refusal(f"{_show(name)} is not a branch name mlgen accepts",
                       "branch names are up to 200 letters, digits and `_ . / -`")
    reason = _ref_format_problem(name)
    return Refusal(f"`{name}` is not a valid branch name: {reason}", BRANCH_HINT) if reason else None


def _ref_format_problem(name: str) -> str | None:
    if name.startswith("-"):
        return "it starts with `-`"
    if name == "HEAD":
        return "`HEAD` names the current commit, not a branch"
    if name.startswith("/") or name.endswith("/"):
        return "it starts or ends with `/`"
    if "//" in name:
        return "it has an empty part (`//`)"
    if ".." in name:
        return "it contains `..`"
    if name.endswith("."):
        return "it ends with `.`"
    for part in name.split("/"):
        if part.startswith("."):
            return f"the part `{part}` starts with `.`"
        if part.endswith(".lock"):
            return f"the part `{part}` ends with `.lock`"
    return None

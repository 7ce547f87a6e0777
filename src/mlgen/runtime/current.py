"""`python -m mlgen.runtime.current 'mlgen-ci[data]==X'`: exit 0 when that install would change nothing.

Every job installs the pinned mlgen runtime. On a warm runner (a self-hosted agent, a cached
environment) it is already there, and `pip install` would still spend a second or more starting,
reading every installed package's metadata and resolving, under load several. This check reads
only the metadata of mlgen and of the extras' requirements, with the standard library.

It answers "current" only when it is sure: the exact version is installed (its base requirements
came with it), and every requirement of the wanted extras is installed at a version its specifiers
allow. A marker it cannot evaluate,
or a specifier it does not know, means "not current", and the job runs the installer as before.
Exit 1 when not current; a mlgen without this module (older, or none) fails the import the same way.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

_REQUIREMENT = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[([A-Za-z0-9._,-]+)\])?\s*(.*)")
_EXTRA_ONLY = re.compile(r"""extra\s*==\s*["']([A-Za-z0-9._-]+)["']""")
_CLAUSE = re.compile(r"(==|!=|>=|<=|>|<)\s*([0-9][0-9.]*)")


def _version(text: str) -> tuple[int, ...] | None:
    """A release number as a tuple (pre-releases and local versions: None, i.e. not judged here)."""
    return tuple(int(p) for p in text.split(".")) if re.fullmatch(r"[0-9]+(\.[0-9]+)*", text) else None


def _padded(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)), b + (0,) * (width - len(b))


def _allows(specifiers: str, installed: str) -> bool:
    have = _version(installed)
    clauses = [c.strip() for c in specifiers.split(",") if c.strip()]
    if have is None:
        return False
    for clause in clauses:
        match = _CLAUSE.fullmatch(clause)
        want = _version(match.group(2)) if match else None
        if match is None or want is None:
            return False
        a, b = _padded(have, want)
        ok = {"==": a == b, "!=": a != b, ">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b}[match.group(1)]
        if not ok:
            return False
    return True


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _needed(requirement: str, extras: set[str]) -> tuple[str, str] | None:
    """(name, specifiers) of one Requires-Dist entry when it applies; raises ValueError when unsure."""
    spec, _, marker = requirement.partition(";")
    marker = marker.strip()
    if "extra" not in marker:
        return None  # a base requirement: installed with mlgen itself, whatever its platform marker
    named = {m.group(1) for m in _EXTRA_ONLY.finditer(marker)}
    if named and not named & extras and " or " not in marker:
        return None  # only for extras not wanted, whatever else the marker says
    only = _EXTRA_ONLY.fullmatch(marker)
    if only is None:
        raise ValueError(marker)  # an extra combined with a platform or Python marker: not evaluated here
    if only.group(1) not in extras:
        return None
    match = _REQUIREMENT.fullmatch(spec.strip())
    if match is None or match.group(2):
        raise ValueError(spec)  # a requirement with extras of its own: not followed here
    return match.group(1), match.group(3).strip().strip("()")


def is_current(requirement: str) -> bool:
    """Whether `name[extras]==version` is installed with every requirement of those extras satisfied."""
    match = _REQUIREMENT.fullmatch(requirement.strip())
    if match is None or not match.group(3).startswith("=="):
        return False
    name, extras, version = match.group(1), set(filter(None, (match.group(2) or "").split(","))), match.group(3)[2:].strip()
    if _installed(name) != version:
        return False
    try:
        needed = [n for r in metadata.requires(name) or [] if (n := _needed(r, extras)) is not None]
    except ValueError:
        return False
    for dependency, specifiers in needed:
        have = _installed(dependency)
        if have is None or (specifiers and not _allows(specifiers, have)):
            return False
    return True


def main(argv: list[str]) -> int:
    return 0 if len(argv) == 1 and is_current(argv[0]) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

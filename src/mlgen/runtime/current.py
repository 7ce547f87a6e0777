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

`python -m mlgen.runtime.current -r requirements.txt [-r more.txt]` asks the same of the project's
set-up when it is exactly `python -m pip install -r ...` (`targets/install.py`): with every line a
plain `name<specifiers>` that is installed at an allowed version (and each one's unconditional
requirements present), pip would only print "Requirement already satisfied". Options, editable or
URL requirements, extras, markers, line continuations, and any PIP_* variable that changes what
`install` does (`PIP_UPGRADE`, `PIP_TARGET`, ...) mean "not current".
"""

from __future__ import annotations

import os
import re
import sys
from importlib import metadata
from pathlib import Path

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


# PIP_* variables that only say where packages come from or how pip talks: pip still changes
# nothing for a satisfied requirement. Any other (PIP_UPGRADE, PIP_FORCE_REINSTALL, PIP_TARGET,
# PIP_CONFIG_FILE, ...) may make `install` act: not judged here.
_HARMLESS_PIP_ENV = frozenset({
    "PIP_CACHE_DIR", "PIP_NO_CACHE_DIR", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX",
    "PIP_TRUSTED_HOST", "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_PROGRESS_BAR", "PIP_ROOT_USER_ACTION", "PIP_NO_INPUT",
    "PIP_QUIET", "PIP_VERBOSE", "PIP_TIMEOUT", "PIP_DEFAULT_TIMEOUT", "PIP_RETRIES", "PIP_CERT", "PIP_CLIENT_CERT",
    "PIP_PROXY", "PIP_NO_COLOR", "PIP_NO_WARN_SCRIPT_LOCATION", "PIP_BREAK_SYSTEM_PACKAGES", "PIP_KEYRING_PROVIDER",
})


def _satisfied(line: str) -> bool:
    """One requirement-file line: a plain `name<specifiers>` installed at an allowed version."""
    match = _REQUIREMENT.fullmatch(line)
    if match is None or match.group(2) or any(c in line for c in ";@"):
        return False  # extras, markers, URLs, anything but a bare name and its specifiers
    name, specifiers = match.group(1), match.group(3)
    have = _installed(name)
    if have is None or (specifiers and not _allows(specifiers, have)):
        return False
    # Its own unconditional requirements present (a broken environment would make pip act).
    for requirement in metadata.requires(name) or []:
        dependency = _REQUIREMENT.match(requirement.strip())
        if ";" not in requirement and dependency is not None and _installed(dependency.group(1)) is None:
            return False
    return True


def files_current(paths: list[str]) -> bool:
    """Whether `pip install -r P1 -r P2 ...` would change nothing."""
    if any(k.startswith("PIP_") and k not in _HARMLESS_PIP_ENV for k in os.environ):
        return False
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return False  # pip reports it, not us
        for raw in text.splitlines():
            line = re.sub(r"(^|\s)#.*$", "", raw).strip()  # a comment: `#` at the start or after a space
            if line and (line.startswith("-") or line.endswith("\\") or not _satisfied(line)):
                return False
    return True


def main(argv: list[str]) -> int:
    if argv[:1] == ["-r"]:
        paths = argv[1::2]
        ok = len(argv) % 2 == 0 and all(flag == "-r" for flag in argv[0::2]) and files_current(paths)
        return 0 if ok else 1
    return 0 if len(argv) == 1 and is_current(argv[0]) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Where generated files may go: inside the spec's folder, never over anything that is not ours.

The compiler is run by people (and pre-commit hooks) on specs they did not all write, so a
target path is treated as untrusted: it must name a regular file inside the spec's directory
tree, reached without leaving it through a symbolic link, outside `.git/`, other than the spec
itself, and distinct from every other target's file. "Distinct" is decided the way the most
forgiving filesystem decides it: case-insensitively (macOS and Windows checkouts), ignoring the
trailing dots and spaces Windows drops, after `.` and `..` are resolved and symbolic links
followed, so two spellings of one file are caught wherever the repository is checked out later.
Names Windows reserves for devices (`NUL`, `con.yml`) are refused for the same reason.
"""

from __future__ import annotations

import os

from mlgen.layout import ACTIONLINT_PATH

_DEVICES = frozenset(["con", "prn", "aux", "nul"] + [f"{p}{i}" for p in ("com", "lpt") for i in range(1, 10)])


class Refusal:
    """One target path that must not be written, and how to fix it."""

    __slots__ = ("target", "path", "message", "hint")

    def __init__(self, target: str, path: str, message: str, hint: str) -> None:
        self.target, self.path, self.message, self.hint = target, path, message, hint


def check(root: str, spec: str, targets: list[tuple[str, str]]) -> list[Refusal]:
    """Every reason why writing `targets` ((name, path relative to root)) would be unsafe."""
    real_root = os.path.realpath(root)
    refusals: list[Refusal] = []
    owners: dict[str, tuple[str, str]] = {}  # identity key -> (target, path) that claimed it first
    for name, rel in targets:
        problem = _single(real_root, spec, rel)
        if problem is not None:
            refusals.append(Refusal(name, rel, *problem))
            continue
        key = identity(os.path.join(real_root, rel))
        clash = _clash(key, owners)
        if clash is not None:
            other_name, other_rel, how = clash
            refusals.append(Refusal(name, rel, f"`{rel}` {how} `{other_rel}`, which target `{other_name}` writes",
                                    "give every target its own file (paths are compared ignoring case, "
                                    "as macOS and Windows checkouts do)"))
            continue
        owners[key] = (name, rel)
    return refusals


def identity(path: str) -> str:
    """One key per file however it is spelled: resolved, case-folded, trailing dots and spaces dropped."""
    resolved = os.path.normcase(os.path.realpath(path)).casefold()
    return os.sep.join(_windows_name(part) for part in resolved.split(os.sep))


def _windows_name(part: str) -> str:
    return part.rstrip(". ") or part  # Windows opens `ci.yml.` and `ci.yml ` as `ci.yml`


def _clash(key: str, owners: dict[str, tuple[str, str]]) -> tuple[str, str, str] | None:
    if key in owners:
        return (*owners[key], "is the same file as")
    for other, (name, rel) in owners.items():
        if key.startswith(other + os.sep):
            return name, rel, "needs as a folder the file"
        if other.startswith(key + os.sep):
            return name, rel, "is a folder in the path of"
    return None


def _single(real_root: str, spec: str, rel: str) -> tuple[str, str] | None:
    """Why `rel` alone cannot be written (message, hint), or None."""
    parts = rel.replace("\\", "/").split("/")
    if not rel or os.path.isabs(rel) or rel.startswith(("/", "\\")) or os.path.splitdrive(rel)[0]:
        return f"`{rel}` is an absolute path", "write it relative to the spec's folder, e.g. `ci/pipeline.yml`"
    if parts[-1] in ("", ".", ".."):
        return (f"`{rel}` names a folder, not a file",
                f"end it with a file name, e.g. `{rel.rstrip('/.') or 'ci'}/pipeline.yml`")
    if any(_windows_name(p).casefold() == ".git" for p in parts):
        return f"`{rel}` is inside `.git/`", "git's own files (hooks, config) are never generated; pick a path outside `.git/`"
    device = next((p for p in parts if p.split(".")[0].rstrip(" ").casefold() in _DEVICES), None)
    if device is not None:
        return f"`{rel}`: `{device}` is a device name on Windows", "a checkout on Windows could not hold this file; rename it"
    if os.path.normpath(rel).replace("\\", "/").split("/")[0] == "..":
        return f"`{rel}` leaves the spec's folder", "generated files stay in the spec's folder or below it"
    if ".." in parts:  # `a/..` means different things to the filesystem (links, missing `a`) and to normpath
        return f"`{rel}` goes up with `..`", f"write it from the spec's folder down: `{os.path.normpath(rel)}`"
    return _on_disk(real_root, spec, rel)


def _on_disk(real_root: str, spec: str, rel: str) -> tuple[str, str] | None:
    """What the filesystem says: symbolic links out of the tree, folders and files in the way, the spec."""
    lexical = os.path.normpath(os.path.join(real_root, rel))
    resolved = os.path.realpath(lexical)
    if resolved != real_root and not resolved.startswith(real_root.rstrip(os.sep) + os.sep):
        return (f"`{rel}` goes through a symbolic link that leaves the spec's folder (to `{resolved}`)",
                "point the target at a real path inside the repository")
    if os.path.islink(lexical):
        return f"`{rel}` is a symbolic link", f"name the file it points to (`{os.path.relpath(resolved, real_root)}`) instead"
    if os.path.isdir(resolved):
        return f"`{rel}` is an existing folder", f"name a file in it, e.g. `{rel.rstrip('/')}/pipeline.yml`"
    if os.path.lexists(resolved) and not os.path.isfile(resolved):
        return f"`{rel}` exists and is not a regular file (a device, pipe or socket)", "pick a path that is a file or does not exist yet"
    blocker = _file_in_the_way(real_root, resolved)
    if blocker is not None:
        return f"`{blocker}` is a file, so `{rel}` cannot be created under it", "pick another folder for the target"
    if _same_file(resolved, spec):
        return f"`{rel}` is the spec itself", "generated files must not overwrite the spec; pick another path"
    owner = _generated_from(resolved)
    if owner is not None and spec and owner != os.path.basename(spec):
        if rel == ACTIONLINT_PATH:  # a fixed path: actionlint reads no other, so "another path" cannot help
            return (f"`{rel}` was generated from {owner}, another spec (actionlint reads its labels from this one file only)",
                    f"let one spec write it: set `targets.github.actionlint: false` here and run every workflow on "
                    f"the self-hosted labels {owner} declares, or set it to false in both specs and keep a "
                    f"hand-written `{rel}` with all the labels")
        return (f"`{rel}` was generated from {owner}, another spec",
                "two specs cannot share an output file; give this target another path "
                "(or delete the file first if that spec was renamed to this one)")
    return None


def _generated_from(path: str) -> str | None:
    """The spec named in an existing file's mlgen header, if it has one."""
    from mlgen.drift import header

    try:
        with open(path, "rb") as handle:
            head = handle.read(header.HEADER_CHARS).decode("utf-8", "replace")
    except OSError:
        return None
    parsed = header.parse(head)
    return parsed.spec if parsed is not None else None


def _file_in_the_way(real_root: str, resolved: str) -> str | None:
    parent = os.path.dirname(resolved)
    while len(parent) > len(real_root):
        if os.path.lexists(parent) and not os.path.isdir(parent):
            return os.path.relpath(parent, real_root)
        parent = os.path.dirname(parent)
    return None


def _same_file(resolved: str, spec: str) -> bool:
    if identity(resolved) == identity(spec):
        return True
    try:
        return os.path.samefile(resolved, spec)  # hard links, and case-insensitive filesystems
    except OSError:
        return False

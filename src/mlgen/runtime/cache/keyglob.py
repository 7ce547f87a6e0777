"""Which files a training-cache key covers: one rule, the same on every target and Python.

GitHub keys the cache with `hashFiles(patterns)`; GitLab and Jenkins run `mlgen cache`, which
selects files with this module. The rule follows `hashFiles` (the runner's glob library with the
options it uses), so that all three targets retrain on the same edits:

- Patterns are relative to the repository root. `*` and `?` match within one path segment,
  `[abc]` / `[a-z]` match one character of a set, and a `**` segment matches any number of
  segments (also none). File and directory names that begin with `.` match like any other.
- A pattern that names a directory covers every file below it: `data` is the same as `data/**`.
  A pattern that ends in `/` only matches directories (and so the files below them).
- The folders the generated jobs create in the workspace (`layout.JOB_FOLDERS`: the Jenkins venv,
  GitLab's pip and uv caches, `.mlgen`) are never covered, unless a pattern names one literally
  (`.venv/...`): they change on every run while the model's inputs do not. They do not exist in a
  GitHub checkout when `hashFiles` runs, so the three targets still agree.
- Only files are hashed. Symbolic links are not followed into directories; a link to a file is
  hashed by the content of that file.
- Refused, with a message: `..` and inner `.` segments, absolute paths, `~`, `\\` escapes and `!`
  negation (the spec's glob syntax has no `!`; list the folders you mean instead).

It walks the tree itself, in sorted order, instead of using `Path.glob`: what `Path.glob("data/**")`
yields differs between Python 3.11 (directories only), 3.12 and 3.13.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mlgen.layout import JOB_FOLDERS

GLOBSTAR = "**"
_MAGIC = re.compile(r"[*?\[]")


class GlobError(ValueError):
    """A key pattern outside the rule above, or a key file that cannot be read; says what to do."""


@dataclass(frozen=True)
class KeyPattern:
    text: str
    segments: tuple[str, ...]
    directories_only: bool  # written with a trailing `/`
    regex: re.Pattern[str]

    @property
    def base(self) -> tuple[str, ...]:
        """The literal leading segments: the only folder the walk needs to enter."""
        out: list[str] = []
        for segment in self.segments:
            if _MAGIC.search(segment):
                break
            out.append(segment)
        return tuple(out)

    def covers(self, path: str) -> bool:
        """True when the pattern matches the file `path` itself or one of its parent folders."""
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        candidates = prefixes[:-1] if self.directories_only else prefixes
        return any(self.regex.fullmatch(p) for p in candidates)


def problem(text: str) -> str | None:
    """Why `text` is not a key pattern this rule supports, or None."""
    try:
        parse(text)
    except GlobError as exc:
        return str(exc)
    return None


def parse(text: str) -> KeyPattern:
    if not text.strip():
        raise GlobError("a key pattern is empty")
    if text.startswith("!"):
        raise GlobError(f"`{text}`: `!` (exclude) patterns are not supported; list the folders to include instead")
    if text.startswith(("/", "~")):
        raise GlobError(f"`{text}`: key patterns are relative to the repository root")
    if "\\" in text:
        raise GlobError(f"`{text}`: `\\` escapes are not supported; match a special character with [*], [?] or [[]")
    segments = [s for s in text.split("/") if s]
    if segments[:1] == ["."]:
        segments = segments[1:]
    # `a/**/**` means `a/**`: repeated globstars add nothing.
    segments = [s for i, s in enumerate(segments) if not (s == GLOBSTAR and i and segments[i - 1] == GLOBSTAR)]
    if any(s in (".", "..") for s in segments):
        raise GlobError(f"`{text}`: `.` and `..` segments are not allowed (the key covers files inside the repository)")
    if not segments:
        raise GlobError(f"`{text}`: names the repository root; write `**` for every file")
    regex = _compile(segments, text)
    return KeyPattern(text, tuple(segments), text.endswith("/"), regex)


def _compile(segments: list[str], text: str) -> re.Pattern[str]:
    out = ""
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == GLOBSTAR:
            # Zero or more whole segments; `a/**` also matches `a` itself, as hashFiles does.
            if last:
                out += "[^/]+(?:/[^/]+)*" if i == 0 else "(?:/[^/]+)*"
            else:
                out += "(?:[^/]+/)*" if i == 0 else "/(?:[^/]+/)*"
            continue
        if i > 0 and segments[i - 1] != GLOBSTAR:
            out += "/"
        out += _segment(segment, text)
    return re.compile(out)


def _segment(segment: str, text: str) -> str:
    out, i = "", 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = segment.find("]", i + 2)  # a `]` right after `[` belongs to the set
            if end < 0:
                raise GlobError(f"`{text}`: `[` opens a character set that is not closed; write [[] for a literal [")
            out += _char_set(segment[i + 1:end], text)
            i = end
        else:
            out += re.escape(char)
        i += 1
    return out


def _char_set(body: str, text: str) -> str:
    if body[:1] in ("!", "^") or "[:" in body:
        raise GlobError(f"`{text}`: negated and named character sets ([!a], [^a], [[:alpha:]]) are not supported")
    items = re.findall(r".-.|.", body)
    if any(len(item) == 3 and item[0] > item[2] for item in items):
        raise GlobError(f"`{text}`: a character range in [{body}] runs backwards")
    return "[" + "".join(re.escape(item[0]) + ("-" + re.escape(item[2]) if len(item) == 3 else "") for item in items) + "]"


def matching_files(root: Path, patterns: Iterable[str]) -> list[str]:
    """Sorted POSIX paths (relative to `root`) of the files the patterns cover."""
    parsed = [parse(p) for p in patterns]
    found: set[str] = set()
    for start in _search_roots(parsed):
        skipped = frozenset(f for f in JOB_FOLDERS if not _inside(start, f))
        for path in _walk(root, start, skipped):
            if any(p.covers(path) for p in parsed) and _is_file(root / path):
                found.add(path)
    return sorted(found)


def _search_roots(patterns: list[KeyPattern]) -> list[str]:
    """The literal folders to walk, without any that lies inside another (walked once)."""
    bases = sorted({"/".join(p.base) for p in patterns}, key=lambda b: (b.count("/"), b))
    kept: list[str] = []
    for base in bases:
        if not any(base == k or k == "" or base.startswith(k + "/") for k in kept):
            kept.append(base)
    return kept


def _inside(start: str, folder: str) -> bool:
    """True when the walk starts at `folder` or below it: the pattern named the folder itself."""
    return start == folder or start.startswith(folder + "/")


def _walk(root: Path, start: str, skipped: frozenset[str] = frozenset()) -> Iterator[str]:
    """Every entry at or below `start` that is not a folder; linked folders and `skipped` are not entered."""
    top = root / start if start else root
    if not top.is_symlink() and top.is_dir():
        stack = [start]
        while stack:
            folder = stack.pop()
            with os.scandir(root / folder if folder else root) as entries:
                for entry in entries:
                    rel = f"{folder}/{entry.name}" if folder else entry.name
                    if entry.is_dir(follow_symlinks=False):
                        if rel not in skipped:
                            stack.append(rel)
                    else:
                        yield rel
    elif start and (top.is_symlink() or top.exists()):
        yield start


def _is_file(path: Path) -> bool:
    """A regular file, or a link to one. A broken link is an error, as it is for hashFiles."""
    if path.is_symlink() and not path.exists():
        raise GlobError(f"`{path}` is a broken symbolic link; the cache key cannot hash it")
    return path.is_file()

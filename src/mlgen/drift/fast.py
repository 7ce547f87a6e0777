"""The fast path of `mlgen check`: decides "up to date" from the headers alone, in a few milliseconds.

It answers only "everything is up to date" and otherwise returns None, so the caller falls
back to a full compile, which is always right. It is safe because it trusts a header only
when the header's spec hash equals the hash of the spec's current bytes, the header was
written by this very mlgen version for the target that owns the path, and the file's seal is
intact; the header then also lists every output compiled from that spec, so none can be
missed. Files the spec no longer writes (a renamed or dropped target) are looked for exactly
as the full check looks for them. Python specs can import other files, so they never take
this path.

Everything here is bounded and defensive: only regular files inside the spec's folder are
read, never more than a size limit, and anything unusual (an odd spec, a special file, an
error of any kind) means "don't know" rather than an answer. Imports stay minimal (os and
the header module) because this path's whole budget is a few milliseconds.
"""

from __future__ import annotations

import os
import stat

from mlgen import __version__
from mlgen.drift import header

SPEC_LIMIT = 8 << 20  # bytes; a bigger spec goes through the full check
FILE_LIMIT = 64 << 20  # bytes; no generated config is anywhere near this
WORKFLOWS = ".github/workflows"


def up_to_date(spec_path: str | os.PathLike[str]) -> bool | None:
    try:
        return _up_to_date(os.fspath(spec_path))
    except Exception:  # noqa: BLE001 - the full check is always right; this path only saves time
        return None


def _up_to_date(spec: str) -> bool | None:
    if spec.endswith(".py"):
        return None
    spec_bytes = _read_regular(spec, SPEC_LIMIT)
    if spec_bytes is None:
        return None
    digest, name = header.spec_digest(spec_bytes), os.path.basename(spec)
    base = os.path.dirname(spec) or "."
    first = _find_header(base, spec_bytes, digest, name)
    if first is None:
        return None
    for target, rel in first.outputs:
        parsed = _read_trusted(base, rel, digest, name)
        if parsed is None or parsed.target != target or parsed.outputs != first.outputs:
            return None
    if orphans(base, name, [rel for _, rel in first.outputs]):
        return None
    return True


def orphans(base: str, spec_name: str, outputs: list[str]) -> list[str]:
    """Generated files that name this spec in their header but that the spec no longer writes.

    They keep running on their platform, so `check` reports them. Looked for where a target's
    config takes effect by default (the default paths, any GitHub workflow) and wherever an old
    header says an output went.
    """
    current = {_key(base, rel) for rel in outputs}
    seen: set[str] = set()
    found: list[str] = []
    queue = list(header.DEFAULT_PATHS.values()) + [header.ACTIONLINT_PATH] + _workflows(base)
    while queue and len(seen) < 1000:
        rel = queue.pop(0)
        key = _key(base, rel)
        if key in seen or not _inside(base, rel):
            continue
        seen.add(key)
        head = _read_head(os.path.join(base, rel))
        parsed = header.parse(head) if head else None
        if parsed is None or parsed.spec != spec_name:
            continue
        queue += [p for _, p in parsed.outputs]
        if key not in current:
            found.append(rel)
    return sorted(found)


def _workflows(base: str) -> list[str]:
    try:
        names = sorted(os.listdir(os.path.join(base, WORKFLOWS)))
    except OSError:
        return []
    return [f"{WORKFLOWS}/{n}" for n in names[:1000] if n.endswith((".yml", ".yaml"))]


def _key(base: str, rel: str) -> str:
    return os.path.normcase(os.path.normpath(os.path.join(base, rel))).casefold()


def _find_header(base: str, spec_bytes: bytes, digest: str, spec_name: str) -> header.Header | None:
    """Any one file generated from exactly this spec: the spec's target paths, then the defaults."""
    for rel in dict.fromkeys(target_paths(spec_bytes) + list(header.DEFAULT_PATHS.values())):
        parsed = _read_trusted(base, rel, digest, spec_name)
        if parsed is not None:
            return parsed
    return None


def target_paths(spec_bytes: bytes) -> list[str]:
    """The `path:` values under the top-level `targets:` key (block or flow style), comments ignored.

    Only a hint of where to look first: every header found is verified, and a spec written
    another way (one line, anchors) simply finds none and takes the full check.
    """
    paths: list[str] = []
    inside = False
    for raw in spec_bytes.decode("utf-8", "replace").splitlines()[:20000]:
        line = raw.split(" #", 1)[0].rstrip()
        if not line or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            inside = line.startswith("targets:")
            continue
        if inside:
            paths += _path_values(line)
    return paths[:10]  # overrides may hold `path:` keys too; a miss only costs the full check


def _path_values(line: str) -> list[str]:
    values = []
    chunks = line.split("path:")
    for before, after in zip(chunks, chunks[1:]):
        if before and before[-1] not in " {,":
            continue  # `xpath:` is another key
        value = after.strip()
        for stop in ",} ":
            value = value.split(stop, 1)[0]
        if value.strip("'\""):
            values.append(value.strip("'\""))
    return values


def _read_trusted(base: str, rel: str, digest: str, spec_name: str) -> header.Header | None:
    if not _inside(base, rel):
        return None
    path = os.path.join(base, rel)
    head = _read_head(path)
    parsed = header.parse(head) if head else None
    if parsed is None or parsed.spec_sha256 != digest or parsed.version != __version__ or parsed.spec != spec_name:
        return None
    data = _read_regular(path, FILE_LIMIT)  # only now the whole file: its seal covers every byte
    try:
        text = data.decode("utf-8").replace("\r\n", "\n") if data is not None else None
    except UnicodeDecodeError:
        return None
    return parsed if text is not None and header.sealed(text) else None


def _inside(base: str, rel: str) -> bool:
    """Only paths the compiler could have written: relative, no `..`, no symbolic link on the way."""
    if not rel or os.path.isabs(rel) or ".." in rel.replace("\\", "/").split("/"):
        return False
    real_base = os.path.realpath(base)
    return os.path.realpath(os.path.join(base, rel)).startswith(real_base.rstrip(os.sep) + os.sep)


def _read_head(path: str) -> str:
    """The first bytes of a regular file, where a header would be (empty for anything else)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        return os.read(fd, header.HEADER_CHARS).decode("utf-8", "replace").replace("\r\n", "\n")
    finally:
        os.close(fd)


def _read_regular(path: str, limit: int) -> bytes | None:
    """The whole of a regular file no bigger than `limit`, else None (devices, FIFOs, huge files)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        return None
    finally:
        os.close(fd)

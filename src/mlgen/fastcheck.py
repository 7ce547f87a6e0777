"""The fast path of `mlgen check`: stdlib only, decides "up to date" from the headers alone.

It answers only "everything is up to date" and otherwise returns None, so the caller falls
back to a full compile, which is always right. It is safe because it trusts a header only
when the header's spec hash equals the hash of the spec's current bytes, the header was
written by this very mlgen version, and the file's seal is intact; the header then also
lists every output compiled from that spec, so none can be missed. Python specs can import
other files, so they never take this path.
"""

from __future__ import annotations

import re
from pathlib import Path

from mlgen import __version__, header

_PATH_VALUE = re.compile(r"\bpath:\s*['\"]?([A-Za-z0-9_.@+/-]+)")


def up_to_date(spec_path: Path) -> bool | None:
    if spec_path.suffix == ".py":
        return None
    try:
        spec_bytes = spec_path.read_bytes()
    except OSError:
        return None
    digest = header.spec_digest(spec_bytes)
    base = spec_path.parent
    first = _find_header(base, spec_bytes, digest, spec_path.name)
    if first is None:
        return None
    for _target, rel in first.outputs:
        parsed = _read_trusted(base / rel, digest, spec_path.name)
        if parsed is None or parsed.outputs != first.outputs:
            return None
    return True


def _find_header(base: Path, spec_bytes: bytes, digest: str, spec_name: str) -> header.Header | None:
    """Any one file generated from exactly this spec: guessed from `path:` values and defaults."""
    text = spec_bytes.decode("utf-8", "replace")
    guesses = _PATH_VALUE.findall(text) + [".github/workflows/mlgen.yml", ".gitlab-ci.yml", "Jenkinsfile"]
    for rel in dict.fromkeys(guesses):
        parsed = _read_trusted(base / rel, digest, spec_name)
        if parsed is not None:
            return parsed
    return None


def _read_trusted(path: Path, digest: str, spec_name: str) -> header.Header | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    parsed = header.parse(text)
    if parsed is None or parsed.spec_sha256 != digest or parsed.version != __version__ or parsed.spec != spec_name:
        return None
    return parsed if header.sealed(text) else None

"""The only place mlgen writes files. All or nothing, each file replaced atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mlgen.errors import MlgenError


def write_all(files: list[tuple[Path, str]]) -> None:
    """Write every file or none: stage each as a temp file beside its target, then rename them all.

    A crash before the renames leaves the old files untouched; each rename is atomic, so a
    reader never sees half a file.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, text in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".mlgen-tmp", dir=path.parent)
            staged.append((tmp, path))
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            _keep_mode(path, tmp)
        for tmp, path in staged:
            os.replace(tmp, path)
    except OSError as exc:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise MlgenError(f"cannot write {exc.filename or 'the output'}: {exc.strerror}; nothing was changed") from None


def _keep_mode(path: Path, tmp: str) -> None:
    try:
        os.chmod(tmp, path.stat().st_mode & 0o777)
    except FileNotFoundError:
        os.chmod(tmp, 0o644)

"""The only place mlgen writes files. All or nothing, each file replaced atomically.

`write_all` writes the generated configs; `write_one` the runtime's reports, one file at a time.

Three phases: check every destination, stage every file as a temp file beside its target,
then rename them all. Nothing the user has is touched before the last file is staged; if a
rename fails part-way, the files already replaced get their previous content back. Ctrl-C
while staging removes the temp files; Ctrl-C while renaming is held back until the renames
(or the restore) are done, so an interrupt never leaves a mix of old and new files.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from mlgen import confine
from mlgen.errors import MlgenError

TMP_SUFFIX = ".mlgen-tmp"


class _Staged:
    """A file written to its temp name, and what its destination held before (None: nothing)."""

    def __init__(self, tmp: str, path: Path, previous: tuple[bytes, int] | None) -> None:
        self.tmp, self.path, self.previous = tmp, path, previous


def write_one(path: Path, text: str) -> None:
    """One file replaced atomically, for the runtime's reports: a reader sees the old file or the
    new one, never a part; a failure leaves no temp file behind. OSError goes to the caller."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            _write_text(handle, text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_all(files: list[tuple[Path, str]], *, root: Path | None = None, spec: Path | None = None) -> None:
    """Write every file or none. With `root`, every path must stay inside it (see `confine`)."""
    if root is not None:
        _confine(files, root, spec)
    created: list[Path] = []
    staged: list[_Staged] = []
    with _sigint_held() as interrupted:
        try:
            for path, text in files:
                created += _make_parents(path.parent)
                staged.append(_stage(path, text))
            if interrupted:  # Ctrl-C while staging: nothing has been replaced yet, so stop here
                raise KeyboardInterrupt
        except BaseException as exc:
            _discard(staged, created)
            interrupted.clear()
            if isinstance(exc, OSError):
                raise MlgenError(f"cannot write {exc.filename or 'the output'}: {exc.strerror}; nothing was changed") from None
            raise
        _commit(staged, created)


def _confine(files: list[tuple[Path, str]], root: Path, spec: Path | None) -> None:
    targets = [(str(path), os.path.relpath(path, root)) for path, _ in files]
    refusals = confine.check(str(root), str(spec or ""), targets)
    if refusals:
        raise MlgenError("refusing to write: " + "; ".join(f"{r.message} ({r.hint})" for r in refusals) + "; nothing was changed")


def _make_parents(folder: Path) -> list[Path]:
    """Create missing parent folders; return the ones created (deepest last) so a failure can remove them."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for item in reversed(missing):
        item.mkdir()
    return list(reversed(missing))


_CHUNK = 1 << 20  # characters


def _write_text(handle: TextIO, text: str) -> None:
    """Encoded a piece at a time: no second, encoded copy of a big config in memory."""
    for start in range(0, len(text), _CHUNK):
        handle.write(text[start:start + _CHUNK])


def _stage(path: Path, text: str) -> _Staged:
    previous = _previous(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    staged = _Staged(tmp, path, previous)
    try:  # signals are held by the caller, so `tmp` is always either cleaned up or returned
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            _write_text(handle, text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, previous[1] if previous else 0o644)
    except BaseException:
        os.unlink(tmp)
        raise
    return staged


def _previous(path: Path) -> tuple[bytes, int] | None:
    """The destination's content and mode, kept to restore it; anything but a regular file is refused."""
    if os.path.islink(path) or (path.exists() and not path.is_file()):
        raise MlgenError(f"cannot write {path}: it is not a regular file; nothing was changed")
    try:
        return path.read_bytes(), path.stat().st_mode & 0o777
    except FileNotFoundError:
        return None


def _commit(staged: list[_Staged], created: list[Path]) -> None:
    done: list[_Staged] = []
    try:
        for item in staged:
            os.replace(item.tmp, item.path)
            done.append(item)
    except OSError as exc:
        failed = _restore(done)
        _discard([s for s in staged if s not in done], created)
        outcome = "nothing was changed" if not failed else "could not restore " + ", ".join(failed)
        raise MlgenError(f"cannot write {exc.filename or 'the output'}: {exc.strerror}; {outcome}") from None


def _restore(done: list[_Staged]) -> list[str]:
    """Put back what the renames replaced; return the paths that could not be restored."""
    failed = []
    for item in reversed(done):
        try:
            if item.previous is None:
                item.path.unlink()
            else:
                _stage_back(item)
        except OSError:
            failed.append(str(item.path))
    return failed


def _stage_back(item: _Staged) -> None:
    assert item.previous is not None
    fd, tmp = tempfile.mkstemp(prefix=f".{item.path.name}.", suffix=TMP_SUFFIX, dir=item.path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(item.previous[0])
        os.chmod(tmp, item.previous[1])
        os.replace(tmp, item.path)
    except OSError:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _discard(staged: list[_Staged], created: list[Path]) -> None:
    for item in staged:
        if os.path.exists(item.tmp):
            os.unlink(item.tmp)
    for folder in reversed(created):  # deepest first; only folders this call made, and only if still empty
        try:
            folder.rmdir()
        except OSError:
            pass


@contextmanager
def _sigint_held() -> Iterator[list[int]]:
    """Record Ctrl-C instead of raising it mid-write; raise it once the block is done.

    The block sees the list of received signals, so it can stop early at a safe point (and
    clear the list once it has acted on it). Signals can only be handled in the main thread.
    """
    received: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous in (signal.SIG_IGN, None):
        yield received
        return
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt

"""The only place that turns exceptions and signals into messages and exit codes."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from types import FrameType

from mlgen.errors import MlgenError

# 130 and 143 are the shell's 128 + SIGINT / SIGTERM: what a CI system shows for a cancelled step.
OK, USER_ERROR, DRIFT, BUG, INTERRUPTED, TERMINATED = 0, 1, 2, 3, 130, 143


class Terminated(BaseException):
    """SIGTERM arrived (a CI cancel or timeout). A BaseException, so no `except Exception` swallows it."""


def run(func: Callable[[], int | None]) -> int:
    with _sigterm_raises():
        try:
            return func() or OK
        except MlgenError as exc:
            print(exc.render(), file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return INTERRUPTED
        except Terminated:
            print("terminated (SIGTERM): stopped", file=sys.stderr)
            return TERMINATED
        except BrokenPipeError:
            return OK  # `mlgen plan | head`: the reader left, which is not an error
        except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback for users
            print(f"internal error: {type(exc).__name__}: {exc}\n"
                  "This is a bug in mlgen. Please report it with the spec that triggered it "
                  "(set MLGEN_DEBUG=1 to see the traceback).", file=sys.stderr)
            if os.environ.get("MLGEN_DEBUG"):
                traceback.print_exc()
            return BUG


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While mlgen runs, SIGTERM unwinds the stack like Ctrl-C does (children are stopped on the way)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread; callers there get the default
        return

    def raise_terminated(signum: int, frame: FrameType | None) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

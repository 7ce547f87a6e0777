"""The only place that turns exceptions into messages and exit codes."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable

from mlgen.errors import MlgenError

OK, USER_ERROR, DRIFT, BUG, INTERRUPTED = 0, 1, 2, 3, 130


def run(func: Callable[[], int | None]) -> int:
    try:
        return func() or OK
    except MlgenError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        return OK  # `mlgen plan | head`: the reader left, which is not an error
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback for users
        print(f"internal error: {type(exc).__name__}: {exc}\n"
              "This is a bug in mlgen. Please report it with the spec that triggered it "
              "(set MLGEN_DEBUG=1 to see the traceback).", file=sys.stderr)
        if os.environ.get("MLGEN_DEBUG"):
            traceback.print_exc()
        return BUG

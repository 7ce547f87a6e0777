"""`python -m mlgen.runtime gate ...`: the runtime without the top-level `mlgen` dispatcher."""

from __future__ import annotations

import sys

from mlgen.runtime.cli import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

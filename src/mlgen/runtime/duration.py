"""Durations as people write them in specs and flags: `10m`, `30s`, `1h30m`, `200ms`, `0.2s`."""

from __future__ import annotations

import re

from mlgen.runtime.errors import UserError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text: str, *, flag: str) -> float:
    """Seconds in `text`; a bare number is not accepted, since `10` could mean seconds or minutes."""
    compact = text.strip()
    parts = _PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise UserError(f"`{text}` is not a duration", where=flag,
                        hint="write a number with a unit: 200ms, 30s, 10m, 1h or combined like 1h30m")
    return sum(float(n) * _SECONDS[u] for n, u in parts)

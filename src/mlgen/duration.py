"""Durations as people write them in specs and flags: `10m`, `30s`, `1h30m`, `200ms`, `0.2s`.

One grammar for the spec and the runtime (the compiler takes `PATTERN` from here): units in the
order h, m, s, ms, each at most once, each a number that may have a decimal part. `1h90m` is
accepted (it means 2h30m); `30s1m` and `1m1m` are not, since nobody means them on purpose.
"""

from __future__ import annotations

import re

from mlgen.errors import UserError

_NUMBER = r"\d+(?:\.\d+)?"
# No look-arounds: the spec's JSON schema and pydantic (Rust regex) use this pattern too.
PATTERN = rf"^(?:({_NUMBER})h)?(?:({_NUMBER})m)?(?:({_NUMBER})s)?(?:({_NUMBER})ms)?$"
_DURATION = re.compile(PATTERN)
_SECONDS = (3600.0, 60.0, 1.0, 0.001)
HINT = "write a number with a unit: 200ms, 30s, 10m, 1h or combined like 1h30m (units in the order h, m, s, ms)"


def seconds(text: str) -> float | None:
    """Seconds in `text`, or None when it is not a duration."""
    match = _DURATION.fullmatch(text)
    if match is None or not any(match.groups()):
        return None
    return sum(float(n) * unit for n, unit in zip(match.groups(), _SECONDS) if n is not None)


def parse_duration(text: str, *, flag: str) -> float:
    """Seconds in `text`; a bare number is not accepted, since `10` could mean seconds or minutes."""
    value = seconds(text.strip())
    if value is None:
        raise UserError(f"`{text}` is not a duration", where=flag, hint=HINT)
    return value

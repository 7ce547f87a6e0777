"""Small things every runtime command shares: errors, durations, numbers, CI context."""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from pathlib import Path
from typing import Any

from mlgen.errors import MlgenError


class RuntimeFailure(MlgenError):
    """Bad input to a runtime command: reported in one paragraph, exit code 1."""


def seconds(text: str) -> float:
    """`10m`, `1h30m`, `30s`, `0.5s`, `200ms` -> seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise RuntimeFailure(f"`{text}` is not a duration; write it like 10m, 1h30m, 30s or 200ms")
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * units[u] for n, u in parts)


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RuntimeFailure(f"{path}: {what} not found; check the path (it is relative to the repository root)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RuntimeFailure(f"{path}: cannot read the {what}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise RuntimeFailure(f"{path}:{exc.lineno}:{exc.colno}: the {what} is not valid JSON: {exc.msg}") from None


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: metrics are addressed by dotted paths."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data} if prefix else {}


def number(value: Any) -> float | None:
    """A finite float, or None for anything that is not one (bool, text, NaN, inf)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"did you mean `{close[0]}`?"
    return f"known: {', '.join(sorted(known)[:12])}" if known else "the file has no numeric values"


def ci_context() -> dict[str, str]:
    """Commit and run URL from whichever CI system runs us."""
    env = os.environ
    sha = env.get("GITHUB_SHA") or env.get("CI_COMMIT_SHA") or env.get("GIT_COMMIT") or ""
    url = ""
    if env.get("GITHUB_RUN_ID"):
        url = f"{env.get('GITHUB_SERVER_URL', 'https://github.com')}/{env.get('GITHUB_REPOSITORY', '')}/actions/runs/{env['GITHUB_RUN_ID']}"
    url = url or env.get("CI_PIPELINE_URL") or env.get("BUILD_URL") or ""
    return {"commit": sha, "run_url": url}


def fill(template: str, values: dict[str, str]) -> str:
    """Substitute {model}-style placeholders with shell-quoted values (user command templates)."""
    import shlex

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise RuntimeFailure(f"unknown placeholder {{{key}}} in command `{template}`; use one of "
                                 + ", ".join("{" + k + "}" for k in values))
        return shlex.quote(values[key])

    return re.sub(r"\{([a-z_]+)\}", replace, template)

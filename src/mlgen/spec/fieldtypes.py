"""Field types whose values every target and the runtime accept, each refused with a reason and a hint.

pydantic checks them where the spec is read, so YAML and Python specs get the same rules; the
messages travel as `mlgen_value` errors, which the spec reader shows with their hint.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from mlgen import duration
from mlgen.spec import values

BRANCH_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,199}$"
PATH_PATTERN = r"^[A-Za-z0-9_.@+-][A-Za-z0-9_.@+/-]{0,299}$"
LABEL_PATTERN = r"^[A-Za-z0-9_.-]{1,100}$"
DURATION_PATTERN = duration.PATTERN
CRON_FIELD = r"[0-9A-Za-z*/,-]+"
CRON_PATTERN = rf"^{CRON_FIELD} {CRON_FIELD} {CRON_FIELD} {CRON_FIELD} {CRON_FIELD}$"
PERCENT_PATTERN = r"^\d+(\.\d+)?%$"
# The longest job any target runs: GitHub stops jobs on self-hosted runners after 5 days (on its
# hosted runners after 6 hours); GitLab caps a job at its runner's maximum; Jenkins has no cap.
MAX_TIMEOUT_MINUTES = 5 * 24 * 60


def refuse(message: str, hint: str = "") -> PydanticCustomError:
    """A value error that keeps its hint apart, so the spec reader can show both."""
    return PydanticCustomError("mlgen_value", "{message}", {"message": message, "hint": hint})


def _checked(check: Any) -> AfterValidator:
    def validate(value: str) -> str:
        refusal = check(value)
        if refusal is not None:
            raise refuse(refusal.message, refusal.hint)
        return value
    return AfterValidator(validate)


TIMEOUT_HINT = "job timeouts are whole minutes, e.g. 30m, 2h or 1h30m"


def _seconds(value: str, hint: str = duration.HINT) -> float:
    seconds = duration.seconds(value)
    if seconds is None:
        raise refuse(f"`{value}` is not a duration", hint)
    return seconds


def _positive_duration(value: str) -> str:
    if _seconds(value) <= 0:
        raise refuse(f"`{value}` is no time at all", "give a duration longer than 0, e.g. 30s")
    return value


def _timeout(value: str) -> str:
    seconds = _seconds(value, TIMEOUT_HINT)
    if seconds < 60:
        raise refuse(f"`{value}` is shorter than a minute", "the targets count job timeouts in whole minutes: at least 1m")
    if seconds % 60:
        raise refuse(f"`{value}` is not a whole number of minutes",
                     f"the targets count job timeouts in whole minutes: write {math.ceil(seconds / 60)}m")
    if seconds / 60 > MAX_TIMEOUT_MINUTES:
        raise refuse(f"`{value}` is longer than 5 days (7200m), the longest job GitHub Actions runs",
                     "GitHub's hosted runners stop jobs after 6h, GitLab at the runner's maximum timeout")
    return value


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise refuse(f"expected a number, got {value!r}", "write a plain number such as 0.85")
    try:
        number = float(value)
    except ValueError:
        raise refuse(f"expected a number, got {value!r}", "write a plain number such as 0.85") from None
    if not math.isfinite(number):
        raise refuse(f"{value!r} is not a finite number", "NaN and infinities cannot be compared with a metric")
    return number


def _change(value: Any) -> Any:
    """An allowed change: a non-negative number, or a non-negative percentage such as "2%"."""
    if isinstance(value, str) and re.fullmatch(PERCENT_PATTERN, value):
        return value
    if isinstance(value, str) and value.endswith("%"):
        number = _number(value[:-1])
        hint = "write a percentage of the baseline without a sign, e.g. \"2%\""
        raise refuse(f"{value!r} is negative" if number < 0 else f"{value!r} is not a percentage", hint)
    number = _number(value)
    if number < 0:
        raise refuse(f"{value!r} is negative", "an allowed change is 0 or more: 0.01 (in the metric's units) or \"2%\"")
    return number


_NOT_A_REF = r"\.\.|//|/$|\.$|(^|/)\.|\.lock(/|$)|^HEAD$"  # git's rules, for editors that read the schema
_DURATION_SCHEMA = WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "minLength": 2})
Branch = Annotated[str, _checked(values.check_branch),
                   WithJsonSchema({"type": "string", "pattern": BRANCH_PATTERN, "not": {"pattern": _NOT_A_REF}})]
Duration = Annotated[str, AfterValidator(_positive_duration), _DURATION_SCHEMA]
Timeout = Annotated[str, AfterValidator(_timeout), _DURATION_SCHEMA]
Cron = Annotated[str, _checked(values.check_cron), WithJsonSchema({"type": "string", "pattern": CRON_PATTERN})]
Number = Annotated[float, BeforeValidator(_number)]
Change = Annotated[float | str, BeforeValidator(_change),
                   WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": PERCENT_PATTERN}]})]


def duration_seconds(value: str) -> float:
    """`1h30m` -> 5400.0. The field types above guarantee the shape."""
    return _seconds(value)


def duration_minutes(value: str) -> int:
    return max(1, math.ceil(duration_seconds(value) / 60))  # timeouts are whole minutes; never round down


RelPath = Annotated[str, StringConstraints(pattern=PATH_PATTERN)]
Label = Annotated[str, StringConstraints(pattern=LABEL_PATTERN)]


class Model(BaseModel):
    """The base of every spec model: unknown keys are errors, and a read spec never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


# Names that reach generated configs: stage and job ids, variables, secrets, globs, models.
NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"
SECRET_PATTERN = r"^[A-Z_][A-Z0-9_]{0,99}$"
GLOB_PATTERN = r"^[A-Za-z0-9_.@+*?\[\]-][A-Za-z0-9_.@+*?\[\]/-]{0,299}$"
MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
EnvName = Annotated[str, StringConstraints(pattern=ENV_NAME_PATTERN)]
SecretName = Annotated[str, StringConstraints(pattern=SECRET_PATTERN)]
Glob = Annotated[str, StringConstraints(pattern=GLOB_PATTERN)]
ModelName = Annotated[str, StringConstraints(pattern=MODEL_PATTERN)]
MatrixValue = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]

"""What `targets.jenkins.overrides` may change on a stage, typed like the spec.

Each job id that is a stage of the Jenkinsfile has a face: the mapping below, which the compiler
patches by dotted key path (`mlgen.compile.overrides`). Each key names one node of the stage's tree:

    agent              `agent { label '<expr>' }`; null: `agent any`
    timeout            `options { timeout(...) }` (canary steps: the `timeout() { }` around their steps); null: none
    retries            `retry(n) { }` around the set-up and the user's own `sh` steps; null: none
    environment        the stage's `environment { }`; `environment.NAME` one line of it; null: none
    post.<condition>   shell commands added to `post { <condition> { } }`, after mlgen's own steps there

A rollback is its step's `post { unsuccessful { } }` on Jenkins, not a stage of its own: override
the step. Text set here is escaped like the spec's own (`sh '''...'''`, single-quoted literals).
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from mlgen.compile.overrides import Misfit
from mlgen.spec.fieldtypes import Duration, duration_minutes
from mlgen.spec.models import EnvName

if TYPE_CHECKING:
    from mlgen.compile.plan import Job
    from mlgen.spec.models import Target as Settings

LABEL_EXPRESSION = r"^[A-Za-z0-9_.-]+( *(&&|\|\|) *[A-Za-z0-9_.-]+)*$"
# Jenkins' post conditions, in the order Jenkins runs them (and mlgen prints them).
PostCondition = Literal["always", "changed", "fixed", "regression", "aborted", "failure", "success", "unstable",
                        "unsuccessful", "cleanup"]
POST_CONDITIONS: tuple[PostCondition, ...] = typing.get_args(PostCondition)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters cannot be passed to a shell")
    return value


Script = Annotated[str, StringConstraints(min_length=1, max_length=20000), AfterValidator(_no_nul)]


class View(BaseModel):
    """A stage's face after the overrides. `null` deletes a key: no agent label (`agent any`), no
    timeout, no retry, no stage variables, no added post steps."""

    model_config = ConfigDict(extra="forbid", strict=True)

    agent: Annotated[str, StringConstraints(pattern=LABEL_EXPRESSION)] | None = Field(
        None, description="label expression, e.g. gpu && linux")
    timeout: Annotated[int, Field(ge=1, le=10080)] | Duration | None = Field(None, description="minutes, or e.g. 2h")
    retries: Annotated[int, Field(ge=0, le=2)] | None = None
    environment: dict[EnvName, str] | None = None
    post: dict[PostCondition, list[Script]] | None = None

    @field_validator("environment")
    @classmethod
    def _groovy_names(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        from mlgen.compile.names import valid_groovy_name

        bad = [k for k in value or {} if not valid_groovy_name(k)]
        if bad:
            raise ValueError(f"`{bad[0]}` is a reserved word of the Jenkinsfile's Groovy and cannot name a variable")
        return value

    @property
    def minutes(self) -> int | None:
        if self.timeout is None or isinstance(self.timeout, int):
            return self.timeout
        return duration_minutes(self.timeout)

    def post_steps(self, condition: PostCondition) -> list[str]:
        return list((self.post or {}).get(condition, []))


OVERRIDABLE = tuple(View.model_fields)
_HINTS = {
    "agent": "a label or label expression such as `gpu && linux`, or null for `agent any`",
    "timeout": "minutes as a number (90), a duration (2h, 1h30m), or null for no timeout",
    "retries": "0, 1 or 2, or null for no retry",
    "environment": "a mapping of variable names to text, e.g. {A: \"1\"}, or null for none",
    "post": f"post.<condition>: a list of shell commands, or null; conditions: {', '.join(POST_CONDITIONS)}",
}


def face(job: Job, settings: Settings) -> dict[str, Any]:
    """The stage's overridable face, before the overrides."""
    labels = [t for label in job.runner for t in settings.runners.get(label, [label])]
    return {"agent": " && ".join(labels) or None, "timeout": job.timeout_minutes, "retries": job.retries,
            "environment": dict(job.env), "post": {}}


def check(faces: dict[str, dict[str, Any]], overrides: dict[str, dict[str, Any]]) -> tuple[dict[str, View], list[Misfit]]:
    """The typed views of the patched faces, and the misfits (located at the patch that set the key)."""
    views, misfits = {}, []
    for job_id, raw in faces.items():
        try:
            views[job_id] = View.model_validate(raw)
        except ValidationError as exc:
            for error in _one_per_key(exc.errors(include_url=False)):
                key = str(error["loc"][0]) if error["loc"] else ""
                path = next((p for p in overrides.get(job_id, {}) if p == key or p.startswith(key + ".")), key)
                misfits.append(Misfit(job_id, path, _text(error),
                                      _HINTS.get(key, f"overridable keys: {', '.join(OVERRIDABLE)}")))
    return views, misfits


def _one_per_key(errors: list[Any]) -> list[Any]:
    """A union (`timeout`: number or duration) fails once per member; keep the most telling failure."""
    best: dict[Any, Any] = {}
    for error in errors:
        key = error["loc"][:1]
        if key not in best or str(best[key]["type"]).endswith("_type"):
            best[key] = error
    return list(best.values())


def _text(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return f"`{error['loc'][0]}` cannot be overridden on Jenkins"
    msg = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "value_error":
        return msg
    return f"{_show(error.get('input'))} is not allowed: {msg[0].lower() + msg[1:]}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

"""The spec: pydantic models of an ML pipeline, and the checks that need the whole pipeline.

Field values that reach generated configs are constrained here, at the boundary, so every
emitter can rely on them: names match a stated pattern, free text (commands, env values) may
contain anything except GitHub's `${{` expression opener, which would be evaluated instead of
passed on byte-exact.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from mlgen import layout
from mlgen.spec.access import CREDENTIAL_PATTERN as CREDENTIAL_PATTERN
from mlgen.spec.access import Credentials as Credentials
from mlgen.spec.access import Report as Report
from mlgen.spec.fieldtypes import ENV_NAME_PATTERN as ENV_NAME_PATTERN
from mlgen.spec.fieldtypes import GLOB_PATTERN as GLOB_PATTERN
from mlgen.spec.fieldtypes import MODEL_PATTERN as MODEL_PATTERN
from mlgen.spec.fieldtypes import NAME_PATTERN as NAME_PATTERN
from mlgen.spec.fieldtypes import SECRET_PATTERN as SECRET_PATTERN
from mlgen.spec.fieldtypes import Branch, Change, Cron, Duration, Label, Number, RelPath, Timeout, refuse
from mlgen.spec.fieldtypes import EnvName as EnvName
from mlgen.spec.fieldtypes import Glob as Glob
from mlgen.spec.fieldtypes import MatrixValue as MatrixValue
from mlgen.spec.fieldtypes import Model as Model  # re-exported: every spec model's base
from mlgen.spec.fieldtypes import ModelName as ModelName
from mlgen.spec.fieldtypes import Name as Name
from mlgen.spec.fieldtypes import SecretName as SecretName
from mlgen.spec.fieldtypes import duration_minutes as duration_minutes  # re-exported: the plan reads timeouts through it
from mlgen.spec.fieldtypes import duration_seconds as duration_seconds
from mlgen.spec.targetsettings import PinnedAction as PinnedAction  # re-exported: the public API names these here
from mlgen.spec.targetsettings import Target as Target
from mlgen.spec.targetsettings import Targets as Targets

Text = Annotated[str, StringConstraints(min_length=1, max_length=20000)]

STAGE_KINDS = ("validate", "train", "evaluate", "register", "canary")


def _portable_text(value: str) -> str:
    # `${{` starts a GitHub expression anywhere in a workflow string; it could not arrive byte-exact.
    if "${{" in value:
        raise ValueError("`${{` is GitHub expression syntax and would be evaluated, not passed on; "
                         "read values from environment variables instead (e.g. \"$GITHUB_SHA\")")
    if "\x00" in value:
        raise ValueError("NUL characters cannot be passed to a shell")
    return value


def _portable_values(values: dict[str, str]) -> dict[str, str]:
    """Every value of an `env` mapping, checked as `_portable_text`."""
    for item in values.values():
        _portable_text(item)
    return values


class Triggers(Model):
    """When the pipeline runs."""

    push: list[Branch] | None = Field(None, description="Branches whose pushes run the pipeline (default: the default branch).")
    pull_request: bool = Field(True, description="Run on pull/merge requests (validate, train and evaluate only).")
    schedule: Cron | None = Field(
        None, description="Five-field cron expression (UTC) for scheduled retraining on the default branch.")
    manual: bool = Field(True, description="Allow starting the pipeline by hand.")


class Defaults(Model):
    """Settings every stage inherits unless it sets its own."""

    runner: Label | list[Label] | None = Field(None, description="Runner label(s); see targets.*.runners to map them per target.")
    python: Annotated[str, StringConstraints(pattern=r"^3\.\d{1,2}$")] = Field("3.11", description="Python version, quoted (\"3.10\").")
    setup: Text | None = Field(None, description="Shell command that installs the project's dependencies.")
    requirements: list[RelPath] = Field(
        default_factory=list, description="Requirement files `setup` installs from: they key each target's pip download cache.")
    timeout: Timeout = Field("30m", description="Job timeout in whole minutes, 1m to 5 days, e.g. 30m, 1h30m.")
    train_timeout: Timeout = Field("2h", description="Default timeout of train stages: a cost guardrail for GPU runners.")
    retries: int = Field(0, ge=0, le=2, description="Automatic retries of a failed job (infrastructure failures).")
    branch: Branch = Field("main", description="The default branch: register and canary run only there unless told otherwise.")
    installer: Literal["pip", "uv"] = Field(
        "pip", description="What jobs install mlgen with: pip, or uv (`uv pip install` into the job's Python, with "
                           "uv's download cache kept on every target).")

    @field_validator("setup")
    @classmethod
    def _setup_text(cls, value: str | None) -> str | None:
        return None if value is None else _portable_text(value)


class StageBase(Model):
    kind: str  # narrowed to a Literal by each stage kind, the union's discriminator
    name: Name = Field(description="Stage name and job id: lowercase letters, digits, `-`, `_`; starts with a letter.")
    needs: list[Name] | None = Field(None, description="Stages this one waits for (default: the previous stage).")
    run: Text | None = Field(None, description="Shell command doing the stage's work.")
    runner: Label | list[Label] | None = None
    timeout: Timeout | None = None
    retries: int | None = Field(None, ge=0, le=2)
    env: dict[EnvName, str] = Field(default_factory=dict)
    secrets: list[SecretName] | None = Field(
        None, description="Secrets this stage may read (default: none, except register/canary, which get all; "
                          "`credentials` reach their roles on their own).")
    outputs: list[RelPath] = Field(default_factory=list, description="Files or directories later stages receive.")
    inputs: list[Name] = Field(default_factory=list, description="Ancestor stages whose outputs this stage also receives.")

    @field_validator("run")
    @classmethod
    def _run_text(cls, value: str | None) -> str | None:
        return None if value is None else _portable_text(value)

    @field_validator("env")
    @classmethod
    def _env_text(cls, value: dict[str, str]) -> dict[str, str]:
        return _portable_values(value)


class ValidateStage(StageBase):
    """Data validation: a failure stops everything downstream."""

    kind: Literal["validate"]
    contract: RelPath | None = Field(None, description="Data contract (YAML) checked by `mlgen data check`.")
    data: list[RelPath] = Field(default_factory=list, description="Datasets the contract is checked on (CSV or Parquet).")
    reference: RelPath | None = Field(None, description="Reference dataset for drift checks.")

    @model_validator(mode="after")
    def _has_work(self) -> ValidateStage:
        if self.run is None and self.contract is None:
            raise ValueError("a validate stage needs `run` or `contract` (or both)")
        if self.contract is not None and not self.data:
            raise ValueError("`contract` needs `data`: the dataset(s) to check")
        return self


class Cache(Model):
    key: list[Glob] = Field(min_length=1, description="Files whose content decides whether training can be skipped.")
    paths: list[RelPath] | None = Field(None, description="What to cache (default: the stage's outputs).")

    @field_validator("key")
    @classmethod
    def _key_rule(cls, value: list[str]) -> list[str]:
        from mlgen.runtime.cache.keyglob import problem  # the rule `mlgen cache` applies at run time

        problems = [why for why in map(problem, value) if why]
        if problems:
            raise ValueError("; ".join(problems))
        return value


class TrainStage(StageBase):
    """Training: outputs travel as artifacts; an unchanged cache key skips training."""

    kind: Literal["train"]
    run: Text
    cache: Cache | None = None
    matrix: dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,29}$")], list[MatrixValue]] | None = None

    @field_validator("matrix")
    @classmethod
    def _matrix_size(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if value is None:
            return None
        legs = 1
        for key, values in value.items():
            if not values:
                raise ValueError(f"matrix `{key}` has no values")
            if len(set(values)) != len(values):
                raise ValueError(f"matrix `{key}` lists a value twice")
            legs *= len(values)
        if legs > 256:
            raise ValueError(f"the matrix has {legs} legs; at most 256 are allowed (GitHub's limit)")
        return value

    @field_validator("matrix", mode="before")
    @classmethod
    def _matrix_scalars(cls, value: Any) -> Any:
        # YAML gives `[1, 2]` as ints; matrix values travel as text, so accept plain numbers as text.
        if isinstance(value, dict):
            return {k: [str(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in v] if isinstance(v, list) else v
                    for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _cache_has_paths(self) -> TrainStage:
        if self.cache is not None and not (self.cache.paths or self.outputs):
            raise ValueError("`cache` needs something to cache: set `outputs` or `cache.paths`")
        return self


class Gate(Model):
    min: Number | None = None
    max: Number | None = None
    max_drop: Change | None = Field(
        None, description="Largest allowed drop below the baseline: absolute (0.01) or relative (\"2%\"); 0 allows none.")
    max_rise: Change | None = Field(
        None, description="Largest allowed rise above the baseline: absolute or relative (\"5%\"); 0 allows none.")
    confidence: Annotated[float, Field(gt=0.5, lt=1)] | Literal["none"] | None = Field(
        None, description="With `predictions`: decide on one-sided bounds at this confidence (default 0.95); "
                          "`none` compares the point values.")

    @model_validator(mode="after")
    def _not_empty(self) -> Gate:
        if all(v is None for v in (self.min, self.max, self.max_drop, self.max_rise)):
            raise refuse("a gate needs at least one of `min`, `max`, `max_drop`, `max_rise`", "e.g. {min: 0.8}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise refuse(f"`min` ({self.min:g}) is above `max` ({self.max:g}): no value can pass", "swap them or drop one")
        return self


class Baseline(Model):
    file: RelPath | None = Field(None, description="JSON file with the production model's metrics.")
    registry: Annotated[str, StringConstraints(pattern=MODEL_PATTERN)] | None = Field(
        None, description="Registry alias whose metrics are the baseline, e.g. champion.")
    rescore: bool = Field(
        False, description="With `registry` and `predictions`: when the champion was scored on other examples, score it "
                           "again on this evaluation set with the stage's `run` (MLGEN_MODEL_DIR, MLGEN_PREDICTIONS and "
                           "MLGEN_METRICS point it at the champion).")

    @model_validator(mode="after")
    def _one_source(self) -> Baseline:
        if (self.file is None) == (self.registry is None):
            raise ValueError("a baseline needs exactly one of `file` or `registry`")
        if self.rescore and self.registry is None:
            raise ValueError("`rescore` re-scores a registry version: it needs `registry` (e.g. registry: champion)")
        return self


class EvaluateStage(StageBase):
    """Evaluation: gates on absolute thresholds and against the baseline fail the pipeline."""

    kind: Literal["evaluate"]
    run: Text
    metrics: RelPath = Field(description="JSON file the run command writes; nested keys are addressed as a.b.")
    gates: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,99}$")], Gate] = Field(min_length=1)
    baseline: Baseline | None = None
    on_missing_baseline: Literal["absolute", "fail", "pass"] = "absolute"
    model: ModelName | None = Field(None, description="Registered model whose alias gives the baseline (default: from the register stage).")
    predictions: RelPath | None = Field(
        None, description="Per-example predictions the run command writes (CSV or Parquet: y_true, y_score and/or y_pred, "
                          "optional id and weight): gates then decide on bootstrap confidence bounds.")
    on_different_eval_set: Literal["unpaired", "fail"] = Field(
        "unpaired", description="When the champion was scored on other examples: compare unpaired, or fail.")
    accepted: RelPath | None = Field(
        None, description="Reviewed file of accepted regressions (model, gate, reason, expiry) that may turn a failed rule into a pass.")


class RegistryCommands(Model):
    """Shell command templates for `registry: command`; placeholders like {model} are shell-quoted."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # `register` would shadow ABCMeta.register on the model class, so the attribute has another name.
    register_cmd: Text | None = Field(None, alias="register")
    promote: Text | None = None
    rollback: Text | None = None
    baseline: Text | None = None
    store_predictions: Text | None = Field(
        None, description="Stores a version's predictions: {model} {version} {predictions} {fingerprint}.")
    baseline_predictions: Text | None = Field(
        None, description="Writes the predictions of {model}@{alias} to {out} (nothing written: none stored).")
    fetch_model: Text | None = Field(
        None, description="Copies the model files of {model}@{alias} into the folder {out}, for `baseline.rescore`.")


class RegisterStage(StageBase):
    """Model registration: only on the listed branches, only after the gates passed."""

    kind: Literal["register"]
    registry: Literal["mlflow", "command"] = "mlflow"
    model: ModelName
    path: RelPath = Field(description="The model directory, as produced by an earlier stage's outputs.")
    alias: Annotated[str, StringConstraints(pattern=MODEL_PATTERN)] = "challenger"
    branches: list[Branch] | None = Field(None, description="Branches that register (default: the default branch).")
    command: RegistryCommands | None = None

    @model_validator(mode="after")
    def _commands(self) -> RegisterStage:
        if self.registry == "command" and (self.command is None or self.command.register_cmd is None):
            raise ValueError("registry `command` needs `command.register` (and usually promote/rollback/baseline)")
        return self


class Threshold(Model):
    min: Number | None = None
    max: Number | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Threshold:
        if self.min is None and self.max is None:
            raise refuse("a threshold needs `min` and/or `max`", "e.g. {max: 0.05}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise refuse(f"`min` ({self.min:g}) is above `max` ({self.max:g}): no value can pass", "swap them or drop one")
        return self


SUBMITTER_PATTERN = r"^[A-Za-z0-9_.@*/+-]+( ?, ?[A-Za-z0-9_.@*/+-]+){0,49}$"


class Approval(Model):
    """Who may start a rollout. `approval: true` is the same as `approval: {}`."""

    submitter: Annotated[str, StringConstraints(pattern=SUBMITTER_PATTERN)] | None = Field(
        None, description="Jenkins: user IDs and/or group names allowed to approve, comma-separated (\"team-a,alice\"); "
                          "GitHub and GitLab take the approvers from the environment's settings.")


class CanaryStage(StageBase):
    """Progressive delivery: one job per traffic step behind an approval; rollback on failure."""

    kind: Literal["canary"]
    environment: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$")] = "production"
    url: Annotated[str, StringConstraints(pattern=r"^https?://[A-Za-z0-9._~:/?#@!&+,;=%-]+$")] | None = None
    approval: bool | Approval = Field(True, description="Ask a person before the first step (`false`: never ask).")
    deploy: Text = Field(description="Shell command that routes $MLGEN_CANARY_WEIGHT percent of traffic to the new model.")
    steps: list[Annotated[int, Field(ge=1, le=100)]] = Field([10, 50, 100], min_length=1, max_length=20)
    bake: Duration = "10m"
    interval: Duration = "30s"
    check: Text | None = Field(None, description="Shell command run repeatedly during the bake; non-zero means unhealthy.")
    check_url: Annotated[str, StringConstraints(pattern=r"^https?://[A-Za-z0-9._~:/?#@!&+,;=%-]+$")] | None = None
    thresholds: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_:][A-Za-z0-9_:]{0,99}$")], Threshold] = Field(default_factory=dict)
    failure_limit: int = Field(1, ge=1, le=100, description="Failed health checks (in total, within one step) "
                                                             "that fail the step; 1 fails it at the first.")
    rollback: Text
    model: ModelName | None = Field(None, description="Registered model to promote (default: from the register stage).")
    registry: Literal["mlflow", "command"] | None = None
    branches: list[Branch] | None = None

    @field_validator("deploy", "check", "rollback")
    @classmethod
    def _command_text(cls, value: str | None) -> str | None:
        return None if value is None else _portable_text(value)

    @model_validator(mode="after")
    def _steps(self) -> CanaryStage:
        if any(b <= a for a, b in zip(self.steps, self.steps[1:])):
            raise ValueError(f"canary `steps` must increase strictly, got {self.steps}")
        if self.steps[-1] != 100:
            raise ValueError(f"the last canary step must be 100 (full traffic), got {self.steps[-1]}")
        if self.check is None and self.check_url is None:
            raise ValueError("a canary needs a health signal: `check` (command) and/or `check_url`")
        if self.thresholds and self.check_url is None:
            raise ValueError("`thresholds` are read from `check_url`; set it")
        return self


Stage = Annotated[
    ValidateStage | TrainStage | EvaluateStage | RegisterStage | CanaryStage,
    Field(discriminator="kind"),
]


DEFAULT_PATHS = layout.DEFAULT_PATHS


class Pipeline(Model):
    """An ML pipeline: validate, train, evaluate, register and canary stages."""

    version: Literal[1] = 1
    name: Name
    triggers: Triggers = Field(default_factory=Triggers)
    defaults: Defaults = Field(default_factory=Defaults)
    env: dict[EnvName, str] = Field(default_factory=dict)
    secrets: list[SecretName] = Field(default_factory=list)
    credentials: Credentials | None = Field(
        None, description="Registry credentials by role (read for the gate, write for register/promote/rollback).")
    stages: list[Stage] = Field(min_length=1, max_length=5000)
    targets: Targets = Field(default_factory=lambda: Targets(**{k: Target(path=v) for k, v in DEFAULT_PATHS.items()}))
    report: Report = Field(default_factory=Report)

    @field_validator("env")
    @classmethod
    def _env_text(cls, value: dict[str, str]) -> dict[str, str]:
        return _portable_values(value)

    def stage(self, name: str) -> StageBase:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    def declared_secrets(self) -> tuple[str, ...]:
        """`secrets:` and the credentials: every secret a stage may name in its own `secrets:`."""
        roles = [self.credentials.read, self.credentials.write] if self.credentials else []
        return tuple(dict.fromkeys([*self.secrets, *filter(None, roles)]))

    def enabled_targets(self) -> dict[str, Target]:
        return {name: t for name in DEFAULT_PATHS if (t := getattr(self.targets, name)) is not None}


AnyStage = Union[ValidateStage, TrainStage, EvaluateStage, RegisterStage, CanaryStage]

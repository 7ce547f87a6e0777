"""Pipeline-wide settings of who may do what: registry credentials by role, the review report's tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from mlgen.spec.fieldtypes import EnvName, Model, SecretName, refuse

if TYPE_CHECKING:
    from mlgen.spec.models import Pipeline


class Credentials(Model):
    """Registry credentials by role: PR/MR code may read the champion, only the rollout may write."""

    read: SecretName | None = Field(
        None, description="Secret holding a read-only registry token: the evaluate gate reads the champion's metrics with it, "
                          "on pull/merge requests too.")
    write: SecretName | None = Field(
        None, description="Secret holding the registry write token: only register, promote and rollback receive it, on "
                          "default-branch jobs in `environment`.")
    variable: EnvName = Field(
        "MLFLOW_TRACKING_TOKEN", description="The variable the registry client reads the token from.")
    environment: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$")] | None = Field(
        None, description="Deployment environment that holds the write secret (default: the canary's environment, "
                          "else production).")

    @model_validator(mode="after")
    def _roles(self) -> Credentials:
        if self.read is None and self.write is None:
            raise refuse("`credentials` needs `read` and/or `write`", "e.g. {read: MLFLOW_READ_TOKEN, write: MLFLOW_WRITE_TOKEN}")
        if self.read is not None and self.read == self.write:
            raise refuse(f"`read` and `write` are the same secret `{self.read}`: code on pull/merge requests would get the "
                         "write credential", "give the read-only token a secret of its own")
        return self


CREDENTIAL_PATTERN = r"^[A-Za-z0-9_.-]{1,100}$"


class Report(Model):
    """The review report: a job after each evaluate stage that comments on the pull/merge request."""

    enabled: bool = Field(True, description="Generate a report job after each evaluate stage (also when the gate failed).")
    gitlab_token: SecretName = Field(
        "MLGEN_REPORT_TOKEN", description="GitLab: the masked CI/CD variable holding a token that may write merge request "
                                          "notes (the job token may not). GitHub uses the run's GITHUB_TOKEN.")
    jenkins_credential: Annotated[str, StringConstraints(pattern=CREDENTIAL_PATTERN)] | None = Field(
        None, description="Jenkins: the ID of a Secret text credential used to comment on change requests "
                          "(default: none; the report is archived and set as the build description).")


def stage_secrets(stage: Any, pipeline: Pipeline, default_all: bool) -> tuple[str, ...]:
    """The declared secrets a stage's mlgen commands receive: its own `secrets:` list, else all of
    them for the stages that write (register, canary) and none for the others."""
    if stage.secrets is not None:
        return tuple(stage.secrets)
    return tuple(pipeline.secrets) if default_all else ()

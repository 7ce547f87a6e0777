"""What `targets:` accepts: where each config goes, its overrides and runner labels, and the
settings that belong to one target only (action pins, the actionlint config, the Jenkins agent,
the image).

One `Target` model serves every target (Python specs build each with `Target(...)`); `Targets`
refuses a setting given to a target it does not belong to.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from mlgen.spec.fieldtypes import Label, Model, RelPath, refuse

ActionPin = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$")]
Image = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$")]


class PinnedAction(Model):
    """A newer commit of an action mlgen emits (e.g. the one Dependabot proposes)."""

    sha: ActionPin = Field(description="The full 40-hex commit SHA the workflow runs.")
    version: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,40}$")] | None = Field(
        None, description="The release tag of that commit, written as a comment after `uses:` (e.g. v7.0.2).")


class Target(Model):
    path: RelPath
    overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-job patches: {job id: {dotted.key.path: value}}; null deletes a key.")
    runners: dict[Label, list[Label]] = Field(default_factory=dict, description="Map spec runner labels to this target's labels.")
    # One model for all targets (Python specs build each with `Target(...)`); `Targets` checks the owner.
    actions: dict[Annotated[str, StringConstraints(pattern=r"^actions/[a-z-]+$")], ActionPin | PinnedAction] = Field(
        default_factory=dict, description="github: bump an emitted action, e.g. {actions/checkout: {sha: <40 hex>, version: v7.0.2}}.")
    actionlint: bool = Field(True, description="github: write .github/actionlint.yaml with the self-hosted labels used.")
    agent: Literal["venv", "docker"] = Field("venv", description="jenkins: a venv of the agent's python3.X, or a docker image.")
    image: Image | None = Field(None, description="gitlab, jenkins: the image (default: python:<python>-slim-bookworm).")


TARGET_ONLY = {"actions": ("github",), "actionlint": ("github",), "agent": ("jenkins",), "image": ("gitlab", "jenkins")}


class Targets(Model):
    github: Target | None = None
    gitlab: Target | None = None
    jenkins: Target | None = None

    @model_validator(mode="after")
    def _settings_of_their_target(self) -> Targets:
        for name, target in (("github", self.github), ("gitlab", self.gitlab), ("jenkins", self.jenkins)):
            for field in sorted(target.model_fields_set if target is not None else ()):
                if name not in TARGET_ONLY.get(field, (name,)):
                    raise refuse(f"targets.{name}.{field}: `{field}` is a setting of {' and '.join(TARGET_ONLY[field])} only",
                                 f"move it under targets.{TARGET_ONLY[field][0]}")
        return self

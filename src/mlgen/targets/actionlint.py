"""`.github/actionlint.yaml`: the self-hosted runner labels the workflow uses, where actionlint reads them.

actionlint reports every `runs-on` label it does not know as a hosted image (`label "gpu" is
unknown`) unless the repository's `.github/actionlint.yaml` declares it under
`self-hosted-runner.labels`. mlgen knows the labels, so it writes that file beside the workflow,
headed and sealed like every generated file (YAML comments do not disturb actionlint's reading
of it) and checked by `mlgen check` like them. A workflow on hosted runners only needs none, so
none is written. `targets.github.actionlint: false` leaves a hand-written one alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlgen.targets import github, yamlout

if TYPE_CHECKING:
    from mlgen.spec.models import Target as Settings

NAME = "actionlint"
# Where actionlint looks for its configuration: `.github/actionlint.yaml` in the repository root.
PATH = ".github/actionlint.yaml"
COMMENT = "# The labels of the self-hosted runners the workflow uses, for actionlint.\n"


def wanted(settings: Settings, jobs: dict[str, dict[str, Any]]) -> bool:
    """Written when the workflow's jobs (after overrides) run on self-hosted labels, unless the spec turned it off."""
    return settings.actionlint and bool(self_hosted_labels(jobs))


def emit(jobs: dict[str, dict[str, Any]]) -> str:
    """The config body (no header) for the workflow's jobs by id, after overrides."""
    return COMMENT + yamlout.dump({"self-hosted-runner": {"labels": self_hosted_labels(jobs)}})


def self_hosted_labels(jobs: dict[str, dict[str, Any]]) -> list[str]:
    """Every `runs-on` label that only a self-hosted runner can have."""
    labels: set[str] = set()
    for job in jobs.values():
        runs_on = job.get("runs-on")
        for label in [runs_on] if isinstance(runs_on, str) else list(runs_on or []):
            if isinstance(label, str) and "${{" not in label and label != "self-hosted" and not github.HOSTED.match(label):
                labels.add(label)
    return sorted(labels)

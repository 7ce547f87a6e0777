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

from mlgen import yamlout
from mlgen.targets import github

if TYPE_CHECKING:
    from mlgen.plan import Plan
    from mlgen.source import Source
    from mlgen.spec import Target as Settings

NAME = "actionlint"
# Where actionlint looks for its configuration: `.github/actionlint.yaml` in the repository root.
PATH = ".github/actionlint.yaml"
COMMENT = "# The labels of the self-hosted runners the workflow uses, for actionlint.\n"


def wanted(plan: Plan, settings: Settings, source: Source | None = None) -> bool:
    """Written when the workflow runs on self-hosted labels (and the spec did not turn it off)."""
    return bool(getattr(settings, "actionlint", True)) and bool(self_hosted_labels(github.document(plan, settings, source)))


def emit(plan: Plan, settings: Settings, source: Source | None = None) -> str:
    workflow = github.document(plan, settings, source)
    return COMMENT + yamlout.dump({"self-hosted-runner": {"labels": self_hosted_labels(workflow)}})


def self_hosted_labels(workflow: dict[str, Any]) -> list[str]:
    """Every `runs-on` label (after overrides) that only a self-hosted runner can have."""
    labels: set[str] = set()
    for job in workflow.get("jobs", {}).values():
        runs_on = job.get("runs-on")
        for label in [runs_on] if isinstance(runs_on, str) else list(runs_on or []):
            if isinstance(label, str) and "${{" not in label and label != "self-hosted" and not github.HOSTED.match(label):
                labels.add(label)
    return sorted(labels)

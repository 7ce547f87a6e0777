"""GitLab accepts the generated pipeline on merge-request, feature-branch and default-branch pipelines.

GitLab refuses a whole pipeline when a job needs a job that the rules leave out. gitlab-ci-local's
--validate-dependency-chain applies the rules for one event and checks exactly that. The specs are
generated: stages of every kind, branch-restricted stages anywhere in the graph.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from mlgen.targets import yamlout
from tests.engines.gitlab import runner
from tests.support import init_and_commit, run_mlgen
from tests.test_graph_semantics import graphs

pytestmark = pytest.mark.engine

EVENTS = [dict(merge_request=True, branch="feature"), dict(branch="feature"), dict(branch="main"), dict(branch="release")]


def _dependency_chain(repo: Path, event: dict[str, Any]) -> str:
    """'' when every job the rules keep only needs jobs the rules keep too, else what is wrong.

    gitlab-ci-local applies the rules (its --list-json gives each job's `when`, `never` included);
    the check is GitLab's own: a pipeline whose kept job needs a left-out job is refused. (Its
    --validate-dependency-chain stops at needs on manual jobs, which GitLab accepts: they wait.)
    """
    source = "merge_request_event" if event.get("merge_request") else "push"
    with runner._engine(repo, event["branch"], source, bool(event.get("merge_request")), "main", {}) as base:
        if not runner._pipeline_created(base, repo, 120):
            return ""
        listed = runner._list_jobs(base, repo, 120)
    when = {job["name"]: job["when"] for job in listed}
    wrong = [f"{need['job']} is when:never, but its needed by {job['name']}"
             for job in listed if job["when"] != "never"
             for need in job.get("needs") or [] if when.get(need["job"], "never") == "never"]
    return "\n".join(wrong)


def test_the_check_catches_a_need_the_rules_leave_out(tmp_path: Path) -> None:
    """The check itself can fail: a hand-written job that needs a default-branch-only job."""
    (tmp_path / ".gitlab-ci.yml").write_text(yamlout.dump({
        "a": {"script": ["true"], "rules": [{"if": '$CI_COMMIT_BRANCH == "main"'}]},
        "b": {"script": ["true"], "needs": ["a"]}}))
    init_and_commit(tmp_path)
    assert "a is when:never, but its needed by b" in _dependency_chain(tmp_path, dict(branch="feature"))


@settings(max_examples=8, deadline=None, phases=[Phase.explicit, Phase.generate],  # shrinking costs minutes here
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(graphs())
def test_generated_pipelines_are_accepted_on_every_event(spec: dict[str, Any]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="mlgen-chain-"))
    try:
        (folder / "mlgen.yaml").write_text(yamlout.dump(spec), encoding="utf-8")
        compiled = run_mlgen("compile", "--target", "gitlab", cwd=folder)
        if compiled.code != 0:
            assert "can never run" in compiled.err, compiled.err
            return
        init_and_commit(folder)
        for event in EVENTS:
            assert _dependency_chain(folder, event) == "", (event, (folder / ".gitlab-ci.yml").read_text())
    finally:
        shutil.rmtree(folder, ignore_errors=True)

"""What the CI system tells a job about itself: commit, run URL, run identity.

GitHub Actions, GitLab CI and Jenkins each set their own variables; a local run has none.
"""

from __future__ import annotations

from collections.abc import Mapping


def commit_sha(env: Mapping[str, str]) -> str | None:
    for name in ("GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT"):
        if env.get(name):
            return env[name]
    return None


def run_url(env: Mapping[str, str]) -> str | None:
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL") or "https://github.com"
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return env.get("CI_PIPELINE_URL") or env.get("BUILD_URL") or None


def run_id(env: Mapping[str, str]) -> str | None:
    """Identifies one pipeline run across its jobs (and GitHub re-run attempts), or None locally.

    The canary rollback uses it to tell "this run promoted the champion" from "someone else did".
    """
    if env.get("GITHUB_RUN_ID"):
        return f"github:{env.get('GITHUB_REPOSITORY', '')}:{env['GITHUB_RUN_ID']}"
    if env.get("CI_PIPELINE_ID"):
        return f"gitlab:{env.get('CI_PROJECT_PATH', '')}:{env['CI_PIPELINE_ID']}"
    if env.get("BUILD_TAG"):
        return f"jenkins:{env['BUILD_TAG']}"
    return env.get("MLGEN_RUN_ID") or None


def artifacts_url(env: Mapping[str, str]) -> str | None:
    """Where people find this run's (or job's) artifacts, or None locally."""
    if env.get("GITHUB_RUN_ID") and (url := run_url(env)):
        return f"{url}#artifacts"
    if env.get("CI_JOB_URL"):
        return f"{env['CI_JOB_URL'].rstrip('/')}/artifacts/browse"
    if env.get("BUILD_URL"):
        return f"{env['BUILD_URL'].rstrip('/')}/artifact/"
    return None

"""Every path mlgen agrees on between the compiler and the runtime, in one place. Stdlib only.

Generated jobs and the runtime commands they call meet in the workspace's `.mlgen/` folder: the
gate writes its result where `register` reads it, `register` writes the version the canary steps
act on, the cache guard keeps its stamps beside the outputs. A path spelled twice drifts, so the
compiler, the runtime and the tests all take it from here.
"""

from __future__ import annotations

ROOT = ".mlgen"
# Where each target's config lives unless the spec says otherwise.
DEFAULT_PATHS = {"github": ".github/workflows/mlgen.yml", "gitlab": ".gitlab-ci.yml", "jenkins": "Jenkinsfile"}
# Written beside a GitHub workflow when it runs on self-hosted labels: where actionlint reads its config.
ACTIONLINT_PATH = ".github/actionlint.yaml"
REPORTS_DIR = f"{ROOT}/reports"
REPORT_DIR = f"{ROOT}/report"  # `mlgen report`: report.md, report.json, description.txt
# `mlgen report --registered` in the register job: the version it registered (Markdown, JSON, one line)
REGISTERED_REPORT = tuple(f"{REPORT_DIR}/registry.{ext}" for ext in ("md", "json", "txt"))
CACHE_STAMPS = f"{ROOT}/cache"
TRAINING_RECORDS = f"{ROOT}/train"  # `mlgen cache hit` leaves hit/miss per stage and leg for `mlgen report`
DATA_RESULTS = f"{ROOT}/data-*.json"  # every `data_result(stage)`
CANARY_STATE = f"{ROOT}/canary-state.json"
REGISTERED = f"{ROOT}/registered.json"
BASELINE_PREDICTIONS = f"{ROOT}/baseline-predictions"
SPEC_SCHEMA = f"{ROOT}/mlgen.schema.json"
# Folders the generated jobs themselves create inside the workspace: Jenkins' venv, GitLab's pip and
# uv caches (GitLab caches only paths inside the project), and mlgen's own state. They change from
# run to run without any input of the model changing, so a training-cache key never covers them
# (a `**` key would otherwise never hit again).
JOB_FOLDERS = (".venv", ".cache/pip", ".cache/uv", ROOT)


def gate_result(stage: str) -> str:
    """The machine-readable verdict of `mlgen gate` for an evaluate stage; `register` reads it."""
    return f"{ROOT}/gate-{stage}.json"


def data_result(stage: str) -> str:
    """The machine-readable result of `mlgen data check` for a validate stage."""
    return f"{ROOT}/data-{stage}.json"


def junit(stage: str, what: str) -> str:
    """The JUnit report of a stage's check (`what` is `gate` or `data`)."""
    return f"{REPORTS_DIR}/{stage}-{what}.xml"


def registered(model: str) -> str:
    """The version `mlgen registry register` created for a model, for the steps that act on it."""
    return f"{ROOT}/registered-{model}.json"

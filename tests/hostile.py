"""The corpus of hostile strings, and a spec in which each field that reaches an output can take one."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

CORPUS = [
    "${{ github.event.issue.title }}",
    "$(rm -rf ~)",
    "`id`",
    "'''",
    '"""',
    "${env.X}",
    "\\",
    "a\\nb",
    "line1\nline2",
    "# not a comment",
    "on", "no", "0755", "3.10", "1:30", "*alias", "&anchor", "!tag", "- item", "key: value", "{a: b}", "[x]",
    "$CI_JOB_TOKEN",
    "${params.X}",
    "$$double",
    "it's",
    "trailing'",
    "'quoted'",
    "tab\there",
    "percent %d %s",
    "x" * 3000,
    "ünïcödé ✓ 日本語 🚀",
    "\\u0041",
    "a\\\nb",
    "@@ seal=",
    "*/",
    "echo done; exit 0",
]

BASE: dict[str, Any] = {
    "version": 1,
    "name": "hostile",
    "defaults": {"setup": "true"},
    "env": {"PLAIN": "1", "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"},
    "secrets": ["TOKEN"],
    "stages": [
        {"name": "validate", "kind": "validate", "run": "true"},
        {"name": "train", "kind": "train", "run": "true", "outputs": ["model/"], "env": {"STAGE_VAR": "x"}},
        {"name": "evaluate", "kind": "evaluate", "run": "true", "metrics": "metrics.json", "gates": {"auc": {"min": 0.5}}},
        {"name": "register", "kind": "register", "model": "m", "path": "model/", "branches": ["main"]},
        {"name": "canary", "kind": "canary", "deploy": "true", "check": "true", "rollback": "true", "steps": [50, 100]},
    ],
}


def _set(path: tuple[Any, ...]) -> Callable[[dict[str, Any], str], None]:
    def apply(spec: dict[str, Any], value: str) -> None:
        node = spec
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return apply


def _set_key(path: tuple[Any, ...], old: str) -> Callable[[dict[str, Any], str], None]:
    def apply(spec: dict[str, Any], value: str) -> None:
        node = spec
        for key in path:
            node = node[key]
        node[value] = node.pop(old)
    return apply


def _set_list(path: tuple[Any, ...]) -> Callable[[dict[str, Any], str], None]:
    def apply(spec: dict[str, Any], value: str) -> None:
        node = spec
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = [value]
    return apply


def _both(*setters: Callable[[dict[str, Any], str], None]) -> Callable[[dict[str, Any], str], None]:
    def apply(spec: dict[str, Any], value: str) -> None:
        for setter in setters:
            setter(spec, value)
    return apply


# field name -> how to put a value there
FIELDS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "stage name": _set(("stages", 1, "name")),
    "command (train.run)": _set(("stages", 1, "run")),
    "setup": _set(("defaults", "setup")),
    "env value": _set(("env", "PLAIN")),
    "stage env value": _set(("stages", 1, "env", "STAGE_VAR")),
    "env name": _set_key(("env",), "PLAIN"),
    "secret name": _set_list(("secrets",)),
    # register and the canary after it: a canary cannot wait for a stage that never runs on its branch
    "branch name": _both(_set_list(("stages", 3, "branches")), _set_list(("stages", 4, "branches"))),
    # the value joins the model directory that register takes from this stage
    "output path": lambda spec, value: spec["stages"][1].__setitem__("outputs", list(dict.fromkeys([value, "model/"]))),
    "metrics path": _set(("stages", 2, "metrics")),
    "gate metric name": _set_key(("stages", 2, "gates"), "auc"),
    "model name": _set(("stages", 3, "model")),
    "canary deploy": _set(("stages", 4, "deploy")),
    "canary check": _set(("stages", 4, "check")),
    "canary rollback": _set(("stages", 4, "rollback")),
    "environment": _set(("stages", 4, "environment")),
}


def spec_with(field: str, value: str) -> dict[str, Any]:
    spec = copy.deepcopy(BASE)
    FIELDS[field](spec, value)
    return spec

"""The compiled schema validator and `jsonschema` agree on valid and broken CI documents."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlgen.compile.plan import build
from mlgen.spec.load import load
from mlgen.targets import github, gitlab, schemas
from tests.support import EXAMPLES

SCHEMA = {"github": "github-workflows", "gitlab": "gitlab-ci"}
DOCUMENT = {"github": github.document, "gitlab": gitlab.document}


def _documents() -> dict[str, Any]:
    source, pipeline = load(EXAMPLES / "churn" / "mlgen.yaml")
    plan = build(pipeline, "0.1.0")
    return {name: DOCUMENT[name](plan, pipeline.enabled_targets()[name]) for name in SCHEMA}


DOCS = _documents()


def _verdicts(target: str, document: Any) -> tuple[bool, list[str]]:
    fast = schemas._fast_validator(SCHEMA[target])
    assert fast is not None, "jsonschema-rs is a dependency of mlgen"
    return fast.is_valid(document), schemas.reference_validate(SCHEMA[target], document)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


REPLACEMENTS = st.one_of(st.none(), st.booleans(), st.integers(-3, 100), st.floats(allow_nan=False), st.text(max_size=5),
                         st.sampled_from(["", "always", "on_success", "${{ x }}", "3 minutes", "ubuntu-latest", "push"]),
                         st.lists(st.text(max_size=3), max_size=2), st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2))


@pytest.mark.parametrize("target", SCHEMA)
def test_valid_documents(target: str) -> None:
    assert _verdicts(target, DOCS[target]) == (True, [])


@pytest.mark.parametrize("target", SCHEMA)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_broken_documents(target: str, data: st.DataObject) -> None:
    """Replace, delete or add one value anywhere: both validators reach the same verdict."""
    document = copy.deepcopy(DOCS[target])
    path = data.draw(st.sampled_from(_paths(document)[1:]))
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "delete":
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent[data.draw(st.text(min_size=1, max_size=6))] = data.draw(REPLACEMENTS)
    else:
        parent[path[-1]] = data.draw(REPLACEMENTS)
    fast_valid, errors = _verdicts(target, document)
    assert fast_valid == (not errors), errors


def test_validators_are_built_once() -> None:
    assert schemas._validator("gitlab-ci") is schemas._validator("gitlab-ci")
    assert schemas._fast_validator("gitlab-ci") is schemas._fast_validator("gitlab-ci")


def test_broken_output_is_reported_with_jsonschema_messages() -> None:
    document = copy.deepcopy(DOCS["github"])
    document["jobs"]["validate"]["timeout-minutes"] = "soon"
    problems = schemas.validate("github-workflows", document)
    assert problems and all(p.startswith("$.jobs.validate") for p in problems), problems
    assert any("timeout-minutes" in p for p in problems)

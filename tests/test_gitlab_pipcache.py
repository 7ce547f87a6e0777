"""GitLab: pip's cache is uploaded only where a job adds downloads no other job keeps; the rest restore it.

Read from the generated YAML alone (not the plan): a job's downloads are the requirements of its
install lines and, when it runs `defaults.setup`, the project's requirements. For every spec:
- every job restores pip's cache;
- a job that only restores it has its downloads uploaded by a job that runs in every pipeline;
- a job uploads only when no other job that runs in every pipeline downloads all it does (the
  first of several with the same downloads uploads for them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlgen.errors import SpecError
from tests.support import CASES, EXAMPLES, compile_model, compile_spec, example_specs, gitlab_doc
from tests.test_fuzz import valid_specs

SETUP = "python -m pip install -r requirements.txt"
# also inside a retry's `bash -c '...'`, where the requirement's quotes are written '"'"'
INSTALLED = re.compile(r"mlgen\.runtime\.current[\s'\"]+([A-Za-z0-9_.-]+(?:\[[^\]]*\])?==[^'\"\s]+)")
EXTRAS = re.compile(r"^([^\[]+)\[([^\]]*)\](.*)$")


def _downloads(job: dict[str, Any]) -> frozenset[str]:
    text = "\n".join([*job.get("before_script", []), *job["script"]])  # after_script runs only on cancel
    items: set[str] = set()
    for requirement in INSTALLED.findall(text):
        match = EXTRAS.match(requirement)
        if match is None:
            items.add(requirement)
            continue
        items.add(match[1] + match[3])
        items.update(f"{match[1]}[{e}]" for e in match[2].split(",") if e)
    if SETUP in text:
        items.add("setup")
    return frozenset(items)


def _every_pipeline(job: dict[str, Any]) -> bool:
    """No condition: no rules, or only `when: always` (the report, also after a failure)."""
    return all(rule == {"when": "always"} for rule in job.get("rules", []))


def _pip(job: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    default = doc["default"]["cache"]
    caches = job.get("cache", default)
    found = [c for c in (caches if isinstance(caches, list) else [caches]) if c["paths"] == default["paths"]]
    assert len(found) == 1, f"pip's cache must be restored once: {caches}"
    assert found[0]["key"] == default["key"]
    return found[0]


def check_uploads(doc: dict[str, Any]) -> None:
    """`doc`: the pipeline as it runs, the parent with its child configs' jobs (`gitlab_doc`)."""
    jobs = {k: v for k, v in doc.items() if isinstance(v, dict) and "script" in v}
    uploads = {k: _pip(job, doc).get("policy", "pull-push") == "pull-push" for k, job in jobs.items()}
    assert all(_pip(job, doc).get("policy", "pull-push") in ("pull", "pull-push") for job in jobs.values())
    sets = {k: _downloads(job) for k, job in jobs.items()}
    always = [k for k, job in jobs.items() if _every_pipeline(job)]
    order = list(jobs)
    for name in jobs:
        others = [o for o in always if o != name and sets[name] <= sets[o]]
        if not uploads[name]:
            # someone keeps what this job downloads, in every pipeline
            assert not sets[name] or _kept(name, sets, uploads, always), name
        else:
            earlier_twins = [o for o in others if sets[o] == sets[name] and order.index(o) < order.index(name)]
            wider = [o for o in others if sets[o] != sets[name]]
            assert not wider and not earlier_twins and (not others or name in always), \
                f"{name} uploads pip's cache though {wider or earlier_twins or others} download all it does"


def _kept(name: str, sets: dict[str, frozenset[str]], uploads: dict[str, bool], always: list[str]) -> bool:
    return any(uploads[o] and sets[name] <= sets[o] for o in always)


CHURN_EXPECTED = {"validate": True, "train": False, "evaluate": True, "evaluate-report": False, "register": False}


def test_churn_uploads_from_validate_and_evaluate_only() -> None:
    doc = gitlab_doc(compile_spec(EXAMPLES / "churn" / "mlgen.yaml"))
    for name, uploads in CHURN_EXPECTED.items():
        assert (_pip(doc[name], doc).get("policy", "pull-push") == "pull-push") is uploads, name
    assert all(_pip(doc[n], doc)["policy"] == "pull" for n in doc if n.startswith("canary-"))


SPECS = [*example_specs(), *sorted(CASES.glob("positive/*/mlgen.yaml"))]


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.parent.name)
def test_examples_and_cases(spec: Path) -> None:
    texts = compile_spec(spec)
    if "gitlab" in texts:
        check_uploads(gitlab_doc(texts))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs(), st.sampled_from(["pip", "uv"]), st.booleans(), st.lists(st.sampled_from(["requirements.txt", "dev.txt"]),
                                                                              unique=True, max_size=2))
def test_generated_specs(spec: dict[str, Any], installer: str, setup: bool, requirements: list[str]) -> None:
    spec["defaults"] = {"installer": installer, "requirements": requirements, **({"setup": SETUP} if setup else {})}
    try:
        texts = compile_model(spec)
    except SpecError:
        assume(False)
    check_uploads(gitlab_doc(texts))

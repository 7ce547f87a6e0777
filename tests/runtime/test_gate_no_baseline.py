"""Without a baseline, every rule kind under every on_missing_baseline policy (issue: `pass` used to
skip the absolute rules too, so a first model below `min` passed)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from mlgen.runtime.gate import rules as gate

# Each rule kind with a value that satisfies it and one that does not (no baseline involved).
RULES: dict[str, tuple[dict[str, Any], float, float]] = {"min": ({"min": 0.8}, 0.9, 0.7), "max": ({"max": 50}, 20.0, 80.0),
         "max_drop": ({"max_drop": 0.01}, 0.9, 0.1), "max_rise": ({"max_rise": "5%"}, 20.0, 90.0)}
RELATIVE_WITHOUT_BASELINE = {"absolute": "skipped", "fail": "failed", "pass": "passed"}
NO_BASELINES = {"no baseline configured": gate.NO_BASELINE,
                "baseline file missing": gate.Baseline("file", "b.json", None, "b.json does not exist"),
                "metric missing from the baseline": gate.Baseline("file", "b.json", {"other": 1.0})}


def _expected(rule: str, mode: str, satisfied: bool) -> str:
    if rule in ("min", "max"):  # absolute: the baseline and the policy do not matter
        return "passed" if satisfied else "failed"
    return RELATIVE_WITHOUT_BASELINE[mode]


CASES = [pytest.param(rule, mode, satisfied, baseline, id=f"{rule}-{mode}-{'ok' if satisfied else 'bad'}-{baseline}")
         for rule, mode, satisfied, baseline in itertools.product(RULES, gate.ON_MISSING, (True, False), NO_BASELINES)]


@pytest.mark.parametrize(("rule", "mode", "satisfied", "baseline"), CASES)
def test_rule_kind_by_policy(rule: str, mode: gate.OnMissing, satisfied: bool, baseline: str) -> None:
    values, good, bad = RULES[rule]
    rules = [gate.gate_from_values("m", values, where="test")]
    report = gate.evaluate("evaluate", "m.json", {"m": good if satisfied else bad}, rules, NO_BASELINES[baseline], mode)
    outcome = report.outcomes[0].rules[0]
    assert outcome.status == _expected(rule, mode, satisfied), outcome.detail
    assert report.passed is (outcome.status != "failed")
    if outcome.status != "failed" and rule not in ("min", "max"):
        assert f"on_missing_baseline is `{mode}`" in outcome.detail or mode == "absolute"


@pytest.mark.parametrize("mode", gate.ON_MISSING)
def test_a_gate_mixing_both_kinds_fails_on_its_absolute_rule(mode: gate.OnMissing) -> None:
    rules = [gate.gate_from_values("auc", {"min": 0.8, "max_drop": 0.01}, where="test")]
    report = gate.evaluate("evaluate", "m.json", {"auc": 0.7}, rules, gate.NO_BASELINE, mode)
    assert not report.passed
    assert [(r.rule, r.status) for r in report.outcomes[0].rules] == [("min", "failed"), ("max_drop", RELATIVE_WITHOUT_BASELINE[mode])]

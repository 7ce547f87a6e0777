"""Property tests draw the same examples whatever else was imported first.

The same property (the fuzz test's spec strategy) runs in two fresh interpreters: one imports only
what it needs, the other first imports many modules full of string constants (as a full test run
does). Both must draw identical examples, and as many as the "ci" profile promises.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT

PROBE = """
import json, sys
import tests.conftest  # the profile and set-up, as pytest loads them
for name in sys.argv[1:]:
    __import__(name)
from hypothesis import given
from tests.test_fuzz import valid_specs
seen = []

@given(valid_specs())
def probe(spec):
    seen.append(spec)

probe()
print(json.dumps(seen, sort_keys=True))
"""
NOISY = ["tests.test_hostile", "tests.hostile", "tests.test_semantics", "tests.engines.test_hostile_echo",
         "tests.e2e.test_scenarios", "mlgen.runtime.cli", "mlgen.targets.jenkins"]


def draw(*imports: str) -> list[object]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *imports], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    examples: list[object] = json.loads(proc.stdout)
    return examples


def test_examples_do_not_depend_on_what_was_imported() -> None:
    alone, crowded = draw(), draw(*NOISY)
    assert len(alone) >= 100, "the ci profile runs 100 examples"
    assert alone == crowded

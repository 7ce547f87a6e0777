"""Mutation testing for mlgen: break one line at a time and check that a test notices.

    python scripts/mutation.py                      # the listed mutants (every break of issue 18 included)
    python scripts/mutation.py --auto plan,targets  # also operator flips in the named modules
    python scripts/mutation.py --only retry-noop    # one mutant (names: --list)

Each mutant is applied to a private copy of src/ (plus templates/ and schemas/, which the
package finds beside it), then the tests that cover the module run against that copy with
PYTHONPATH pointing at it; subprocesses the tests start inherit it. A mutant is *killed* when
those tests fail, *survives* when they pass. The working tree is never modified.

The golden-file tests (tests/test_examples.py) are left out on purpose: any change to the output
breaks a snapshot, and a snapshot gets regenerated. A mutant counts as killed only when a test
that states what the output *means* fails.

Exit status: 0 when every survivor is listed in KNOWN_SURVIVORS (with its reason), 1 otherwise,
2 when a mutant no longer applies (the code it targets changed: update the mutant).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "mlgen"

# Tests that state what the compiler's output means (no snapshots), fastest first (pytest -x stops
# at the first failure, so a killed mutant costs little).
COMPILER_TESTS = ("tests/test_emitter_guards.py", "tests/test_semantics.py", "tests/test_wiring.py", "tests/test_retry.py", "tests/test_conditions.py",
                  "tests/test_cache_guard.py", "tests/test_negative.py", "tests/test_determinism.py")
# The hostile corpus compiles ~600 specs (minutes): only for the modules that validate and escape text.
TEXT_TESTS = (*COMPILER_TESTS, "tests/test_hostile.py")
COVERING: dict[str, tuple[str, ...]] = {
    "compile/plan.py": ("tests/test_plan.py", *COMPILER_TESTS),  # the plan's decisions, asserted on the IR
    "spec/graph.py": COMPILER_TESTS,
    "targets/retry.py": ("tests/test_retry.py",),
    "targets/github.py": COMPILER_TESTS,
    "targets/github_rollout.py": COMPILER_TESTS,
    "targets/gitlab.py": COMPILER_TESTS,
    "targets/jenkins.py": COMPILER_TESTS,
    "targets/jenkins_overrides.py": COMPILER_TESTS,
    "spec/models.py": TEXT_TESTS,
    "spec/fieldtypes.py": TEXT_TESTS,
    "targets/escape.py": TEXT_TESTS,
    "runtime/cache/command.py": ("tests/test_cache_guard.py",),
    "targets/cacheguard.py": ("tests/test_cache_guard.py",),
    "drift/compare.py": ("tests/test_check.py",),
    "drift/fast.py": ("tests/test_check.py",),
    "runtime/gate/rules.py": ("tests/runtime/test_gate.py",),
    "runtime/data/contract.py": ("tests/runtime/test_psi_default.py", "tests/runtime/test_data_check.py"),
    "runtime/state.py": ("tests/runtime/test_canary.py",),
    "runtime/canary/command.py": ("tests/runtime/test_canary.py",),
    "runtime/registry/command.py": ("tests/runtime/test_registry_command.py",),
    "runtime/cache/keyglob.py": ("tests/runtime/test_cache_key.py", "tests/test_cache_guard.py"),
    "runtime/registry/mlflow_transitions.py": ("tests/runtime/test_registry_transitions.py",),
    "runtime/gate/stats.py": ("tests/runtime/test_stats.py", "tests/runtime/test_gate_bounds.py"),
}


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    module: str  # path under src/mlgen
    old: str  # must occur exactly once in the module
    new: str
    tests: tuple[str, ...] = ()  # default: COVERING[module]

    def covering(self) -> tuple[str, ...]:
        return self.tests or COVERING[self.module]


# The one-line breaks that once passed the suite (issue 18), and more in the same places.
MUTANTS = [
    Mutant("cache-key-ignores-contents", "runtime/cache/command.py",
           "        digest.update(hashlib.sha256((root / name).read_bytes()).digest())\n", ""),
    Mutant("retry-noop", "targets/retry.py", "-> str:\n    if retries <= 0:\n        return script\n",
           "-> str:\n    if True:\n        return script\n"),
    Mutant("gitlab-branches-and", "targets/gitlab.py", 'joined = " || ".join(refs)', 'joined = " && ".join(refs)'),
    Mutant("github-branches-and", "targets/github.py", 'refs = " || ".join(', 'refs = " && ".join('),
    Mutant("jenkins-branches-allof", "targets/jenkins.py", 'Groovy("anyOf { "', 'Groovy("allOf { "'),
    Mutant("inputs-ignored", "compile/plan.py", "sources = list(self.needs[stage.name]) + list(stage.inputs)",
           "sources = list(self.needs[stage.name])"),
    Mutant("github-runners-ignored", "targets/github.py", "mapped.extend(settings.runners.get(label, [label]))",
           "mapped.extend([label])"),
    Mutant("gitlab-runners-ignored", "targets/gitlab.py", "for t in settings.runners.get(label, [label])]",
           "for t in [label]]"),
    Mutant("jenkins-runners-ignored", "targets/jenkins_overrides.py", "for t in settings.runners.get(label, [label])]",
           "for t in [label]]"),
    Mutant("gitlab-stages-from-a-set", "targets/gitlab.py", 'doc["stages"] = list(dict.fromkeys(_stage_of(job) for job in plan.jobs))',
           'doc["stages"] = list({_stage_of(job) for job in plan.jobs})'),
    Mutant("deploy-cancel-in-progress", "targets/github_rollout.py", '"cancel-in-progress": False, "queue": "max"}',
           '"cancel-in-progress": True, "queue": "max"}'),
    Mutant("psi-default-1.5", "runtime/data/contract.py", "max: float = Field(0.2, gt=0,", "max: float = Field(1.5, gt=0,"),
    Mutant("free-text-refuses-dollar", "spec/models.py", '    if "${{" in value:\n', '    if "$" in value:\n'),
    Mutant("free-text-refuses-quotes", "spec/models.py", '    if "${{" in value:\n', '    if "${{" in value or "\'" in value:\n'),
    Mutant("free-text-refuses-newline", "spec/models.py", '    if "${{" in value:\n', '    if "${{" in value or "\\n" in value:\n'),
    Mutant("secret-names-loosened", "spec/fieldtypes.py", 'SECRET_PATTERN = r"^[A-Z_][A-Z0-9_]{0,99}$"',
           'SECRET_PATTERN = r"^[A-Z0-9_:]{1,100}$"'),
    Mutant("gitlab-dollar-not-doubled", "targets/escape.py", 'return text.replace("$", "$$")', "return text"),
]

# Survivors we keep, with the reason a test cannot (or should not) kill them. An entry names the
# module, a piece of the mutated line's text and the flip, not a line number, so it stays true while
# the code around it moves.
NOTES_ONLY = "notes() only: advice printed by `mlgen plan`, not part of any generated file"
KNOWN_SURVIVORS: dict[tuple[str, str, str], str] = {
    ("compile/ir.py", "all(c.skip_on_cache_hit for c in self.commands)", "and->or"):
        "equivalent for every plan built today: only cached jobs have commands skipped on a hit",
    ("compile/ir.py", "all(c.skip_on_cache_hit for c in self.commands)", "all(->any("):
        "equivalent for every plan built today: a cached job has exactly one command",
    ("targets/github.py", '+ ("\\n" if len(paths) > 1 else "")', ">->>="):
        "equivalent: upload-artifact reads `path` line by line, so a trailing newline after a single path changes nothing",
    ("targets/github.py", "assert job.approval and job.environment", "and->or"):
        "an internal assertion that no plan can trip (approval jobs always have both)",
    ("targets/github.py", "if publishes(plan) and any(j.cache for j in plan.jobs)", "and->or"): NOTES_ONLY,
    ("targets/github.py", "if publishes(plan) and any(j.cache for j in plan.jobs)", "any(->all("): NOTES_ONLY,
    ("targets/github.py", "if any(j.retries for j in plan.jobs)", "any(->all("): NOTES_ONLY,
    ("targets/github.py", "if any(j.approval for j in plan.jobs)", "any(->all("): NOTES_ONLY,
    ("targets/gitlab.py", "if any(j.cache for j in plan.jobs)", "any(->all("): NOTES_ONLY,
    ("targets/jenkins_tree.py", "trim_blocks=True", "True->False"):
        "Jinja trim_blocks: blank lines in the Jenkinsfile only; the golden snapshots pin them",
}


def known_reason(mutant: Mutant) -> str | None:
    """Why a surviving mutant is kept, when KNOWN_SURVIVORS explains it."""
    flip = mutant.name.rsplit(":", 1)[-1]
    for (module, snippet, known_flip), reason in KNOWN_SURVIVORS.items():
        if module == mutant.module and known_flip == flip and snippet in mutant.old:
            return reason
    return None


# --auto: operator flips, one per match, line by line.
FLIPS = [(r" == ", " != "), (r" != ", " == "), (r" and ", " or "), (r" or ", " and "), (r"\bTrue\b", "False"),
         (r"\bFalse\b", "True"), (r" <= ", " < "), (r" >= ", " > "), (r" < ", " <= "), (r" > ", " >= "),
         (r"\bnot ", ""), (r"\bany\(", "all("), (r"\ball\(", "any("), (r'" \|\| "', '" && "'), (r"\+ 1\b", "+ 0")]


def auto_mutants(module: str) -> list[Mutant]:
    text = (SRC / module).read_text(encoding="utf-8")
    protected = _strings_and_comments(text)
    mutants = []
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("from ", "import ")) or "-> " in line:
            continue
        for pattern, replacement in FLIPS:
            for match in re.finditer(pattern, line):
                if any(start <= match.start() < end for start, end in protected.get(number, [])):
                    continue  # text inside a string or comment: a message, not a decision
                new = line[:match.start()] + replacement + line[match.end():]
                mutants.append(Mutant(f"{module}:{number}:{match.start()}:{match.group().strip()}->{replacement.strip() or 'del'}",
                                      module, line, new))
    return [m for m in mutants if text.count(m.old) == 1]


def _strings_and_comments(text: str) -> dict[int, list[tuple[int, int]]]:
    """line number -> column spans of string literals and comments (docstrings included)."""
    spans: dict[int, list[tuple[int, int]]] = {}
    lines = text.splitlines(keepends=True)
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type not in (tokenize.STRING, tokenize.COMMENT, getattr(tokenize, "FSTRING_START", -1)):
            continue
        (row, col), (end_row, end_col) = token.start, token.end
        for line in range(row, end_row + 1):
            first = col if line == row else 0
            last = end_col if line == end_row else len(lines[line - 1])
            spans.setdefault(line, []).append((first, last))
    return spans


def run(mutant: Mutant, workdir: Path, timeout: float, extra: list[str]) -> str:
    """'killed', 'survived', 'timeout' or 'stale' (the snippet is not in the module any more)."""
    original = (SRC / mutant.module).read_text(encoding="utf-8")
    if original.count(mutant.old) != 1:
        return "stale"
    target = workdir / "src" / "mlgen" / mutant.module
    target.write_text(original.replace(mutant.old, mutant.new), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(workdir / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not e2e", *extra, *mutant.covering()]
    try:
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout"
    finally:
        target.write_text(original, encoding="utf-8")
    if proc.returncode in (0, 5):  # 5: no tests collected counts as not killed
        return "survived"
    if proc.returncode == 1:
        return "killed"
    return f"error (pytest exit {proc.returncode}): {proc.stdout[-300:]}"


def _copy_package(workdir: Path) -> None:
    shutil.copytree(ROOT / "src", workdir / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("templates", "schemas"):
        shutil.copytree(ROOT / folder, workdir / folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--auto", default="", help="comma-separated modules under src/mlgen (e.g. plan,targets) for operator flips")
    parser.add_argument("--only", action="append", default=[], help="run only these mutants (repeatable)")
    parser.add_argument("--no-listed", action="store_true", help="skip the hand-written mutants")
    parser.add_argument("--sample", type=int, default=0, help="run only N of the --auto mutants, evenly spread (0: all)")
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per mutant (a timeout is reported, not killed)")
    parser.add_argument("--pytest-arg", action="append", default=[], help="extra argument for pytest (repeatable)")
    args = parser.parse_args(argv)

    mutants = [] if args.no_listed else list(MUTANTS)
    generated: list[Mutant] = []
    for name in filter(None, args.auto.split(",")):
        paths = sorted((SRC / name).glob("*.py")) if (SRC / name).is_dir() else [SRC / (name.removesuffix(".py") + ".py")]
        for path in paths:
            module = path.relative_to(SRC).as_posix()
            if module in COVERING:
                generated += auto_mutants(module)
    if args.sample and len(generated) > args.sample:
        step = len(generated) / args.sample
        generated = [generated[int(i * step)] for i in range(args.sample)]
    mutants += generated
    if args.only:
        mutants = [m for m in mutants if m.name in args.only]
    if args.list:
        print("\n".join(f"{m.name}  ({m.module})" for m in mutants))
        return 0

    results: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="mlgen-mutation-") as tmp:
        _copy_package(Path(tmp))
        for i, mutant in enumerate(mutants, 1):
            started = time.monotonic()
            results[mutant.name] = run(mutant, Path(tmp), args.timeout, args.pytest_arg)
            print(f"[{i}/{len(mutants)}] {results[mutant.name]:<8} {mutant.name} ({time.monotonic() - started:.0f}s)", flush=True)

    by_name = {m.name: m for m in mutants}
    survivors = [name for name, outcome in results.items() if outcome != "killed"]
    print(f"\n{len(results) - len(survivors)} of {len(results)} mutants killed")
    for name in survivors:
        reason = known_reason(by_name[name]) or "NOT EXPLAINED"
        print(f"  {results[name]}: {name}: {reason}")
    if any(outcome == "stale" for outcome in results.values()):
        return 2
    return 1 if any(known_reason(by_name[name]) is None for name in survivors) else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Dispatch `mlgen gate|data|registry|canary ...` to the runtime commands (argparse: quick to start)."""

from __future__ import annotations

import sys

USAGE = """usage: mlgen {gate,data check,registry,canary} ...

  gate        check metrics against gates and the baseline
  data check  validate datasets against a data contract
  registry    register / promote / rollback / baseline in the model registry
  canary      step / promote / rollback of a canary rollout
"""


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    if command == "gate":
        from mlgen.runtime import gate

        return gate.main(rest)
    if command == "data" and rest[:1] == ["check"]:
        from mlgen.runtime import data

        return data.main(rest[1:])
    if command == "registry":
        from mlgen.runtime import registry

        return registry.main(rest)
    if command == "canary":
        from mlgen.runtime import canary

        return canary.main(rest)
    sys.stderr.write(USAGE)
    return 1

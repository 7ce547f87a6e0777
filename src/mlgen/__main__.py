"""Entry point. `mlgen check` on up-to-date files is answered before anything heavy is imported."""

from __future__ import annotations

import sys

RUNTIME_COMMANDS = ("gate", "data", "registry", "canary", "cache", "report")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["check"] and _fast_check(args[1:]):
        return 0
    from mlgen import errhandler

    if args[:1] and args[0] in RUNTIME_COMMANDS:
        from mlgen.runtime.cli import main as runtime_main

        return errhandler.run(lambda: runtime_main(args))
    from mlgen.cli import run

    return run(args)


def _fast_check(rest: list[str]) -> bool:
    if len(rest) > 1 or (rest and rest[0].startswith("-")):
        return False  # options: let the full command handle them
    from mlgen.fastcheck import up_to_date  # os and the header module only: see fastcheck's docstring

    return up_to_date(rest[0] if rest else "mlgen.yaml") is True


def entry() -> None:
    raise SystemExit(main())


if __name__ == "__main__":
    entry()

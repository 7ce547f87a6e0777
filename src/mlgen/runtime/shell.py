"""Running the user's shell commands: deploy, check, rollback and registry command templates."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from mlgen.errors import UserError, did_you_mean

# `{name}` is a placeholder; `${name}` is the shell's own variable syntax and must pass through.
_PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Finished:
    code: int  # -1 when the command timed out
    output: str  # stdout and stderr together; empty when the output was streamed
    timed_out: bool = False


def fill_template(template: str, values: Mapping[str, str], *, where: str) -> str:
    """Substitute `{name}` placeholders with shell-quoted values; unknown names are an error."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            known = ", ".join("{" + k + "}" for k in sorted(values))
            raise UserError(f"unknown placeholder {{{name}}}{did_you_mean(name, values)}", where=where,
                            hint=f"this template knows {known}; write ${{{name}}} for a shell variable")
        return shlex.quote(values[name])

    return _PLACEHOLDER.sub(replace, template)


def _shell() -> list[str]:
    # CI steps run user commands with bash; match that so `[[ ]]`, arrays and pipefail behave the same.
    bash = shutil.which("bash")
    return [bash, "-c"] if bash else ["/bin/sh", "-c"]


def run(command: str, *, env: Mapping[str, str] | None = None, timeout: float | None = None,
        capture: bool = False) -> Finished:
    """Run `command` in a shell with extra `env`; streamed to our stdout unless `capture`."""
    full_env = {**os.environ, **(env or {})}
    sys.stdout.flush()  # keep our lines and the command's lines in order in CI logs
    out = subprocess.PIPE if capture else None
    # A new session gives the command its own process group, so a timeout can stop its children too.
    with subprocess.Popen([*_shell(), command], env=full_env, stdout=out, stderr=subprocess.STDOUT if capture else None,
                          stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True) as proc:
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            output, _ = proc.communicate()
            return Finished(-1, output or "", timed_out=True)
        except BaseException:
            # Ctrl-C or SIGTERM (a cancelled CI job) reached mlgen only: the command runs in its own
            # session, so pass the stop on, or it would outlive the job (and `with` would wait for it).
            _stop_group(proc)
            raise
    return Finished(proc.returncode, output or "")


def _stop_group(proc: subprocess.Popen[str], grace: float = 5.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it already ended
        os.killpg(proc.pid, signal.SIGKILL)  # the group we created for this command, nothing else


def tail(text: str, lines: int = 15) -> str:
    """The end of a command's output: enough to see why it failed without flooding the log."""
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join("    " + line for line in kept)

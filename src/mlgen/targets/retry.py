"""Retries where a target has no native job retry: re-run the script in a fresh shell."""

from __future__ import annotations

from mlgen.targets.escape import sh_quote


def wrap(script: str, retries: int) -> str:
    if retries <= 0:
        return script
    # `bash -c` keeps `set -e` in force inside the script; a subshell in `until` would disable it.
    return (
        f"for mlgen_attempt in $(seq 1 {retries + 1}); do\n"
        f"  if bash -eo pipefail -c {sh_quote(script)}; then exit 0; fi\n"
        f"  echo \"mlgen: attempt $mlgen_attempt of {retries + 1} failed\" >&2\n"
        "done\n"
        "exit 1\n"
    )


def wrap_inline(script: str, retries: int) -> str:
    """`wrap` for a script that later lines of the same shell follow (GitLab joins a job's
    `script:` entries into one shell): it ends with the last attempt's verdict, never `exit 0`."""
    if retries <= 0:
        return script
    return (
        "mlgen_ok=\n"
        f"for mlgen_attempt in $(seq 1 {retries + 1}); do\n"
        f"  if bash -eo pipefail -c {sh_quote(script)}; then mlgen_ok=1; break; fi\n"
        f"  echo \"mlgen: attempt $mlgen_attempt of {retries + 1} failed\" >&2\n"
        "done\n"
        '[ -n "$mlgen_ok" ]\n'
    )

"""The one line each target's jobs install a Python requirement with: pip, or uv where the spec opts in.

`defaults.installer: uv` installs with `uv pip install` into the job's own interpreter (the one
`python -m uv` runs from, passed by path to `--python`), never into a virtual environment of uv's making,
so every later command in the job sees the packages exactly as with pip. uv comes from its PyPI
wheel; a runner that already has it (a warm self-hosted agent) skips that install.
"""

from __future__ import annotations

import re

# Known to install mlgen's own requirements; any uv already on the runner is used as it is.
UV_REQUIREMENT = "uv==0.13.9"
INSTALLERS = ("pip", "uv")
# uv's download cache: the directory each target keeps between jobs (GitLab caches only inside the project).
UV_CACHE_GITLAB = ".cache/uv"
UV_CACHE_JENKINS = "$HOME/.cache/mlgen-uv"  # per agent, outside the workspaces; uv does not expand `~`


def install_line(requirement: str, installer: str, python: str = "python") -> str:
    """Shell lines installing one pip requirement (quoted here) with `python`, unless it is installed
    already (a warm runner): `mlgen.runtime.current` answers that in milliseconds, the installer in seconds."""
    current = f"{python} -m mlgen.runtime.current '{requirement}' 2>/dev/null"
    if installer == "uv":
        # The exact interpreter: a bare name would make uv look for a virtual environment (or, with
        # --system, skip one), where pip installs into whatever `python` is.
        here = f"\"$({python} -c 'import sys; print(sys.executable)')\""
        return (f"if ! {current}; then\n  {_uv_bootstrap(python)}\n"
                f"  {python} -m uv pip install --python {here} '{requirement}'\nfi")
    return f"{current} || {python} -m pip install '{requirement}'"


def project_setup(setup: str | None, installer: str, python: str = "python") -> str | None:
    """`defaults.setup` as a job runs it: with uv opted in, uv is there first (the set-up may call it).

    A set-up that is exactly `python -m pip install -r FILE...` is skipped where every requirement
    is installed already (a warm runner), as the mlgen install is: pip would spend a second or more
    to say "Requirement already satisfied". Any other set-up runs as written.
    """
    if setup is None:
        return None
    if installer != "uv":
        files = requirement_files(setup, python)
        if files is None:
            return setup
        flags = " ".join(f"-r {f}" for f in files)
        return f"{python} -m mlgen.runtime.current {flags} 2>/dev/null || {setup}"
    return f"{_uv_bootstrap(python)}\n{setup}"


_PLAIN_PATH = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_./-]*")


def requirement_files(setup: str, python: str = "python") -> list[str] | None:
    """The files of a set-up that is `python -m pip install -r F1 [-r F2 ...]` and nothing else, or None."""
    if any(c in setup for c in "\n\r\t\v\f"):
        return None  # a line break separates shell commands: more than the one install
    words = setup.split(" ")
    words = [w for w in words if w]
    head, rest = words[:4], words[4:]
    if head != [python, "-m", "pip", "install"] or not rest or len(rest) % 2:
        return None
    flags, files = rest[0::2], rest[1::2]
    if any(f != "-r" for f in flags) or not all(_PLAIN_PATH.fullmatch(f) for f in files):
        return None
    return files


def _uv_bootstrap(python: str) -> str:
    return f"{python} -m uv --version >/dev/null 2>&1 || {python} -m pip install '{UV_REQUIREMENT}'"

"""The one line each target's jobs install a Python requirement with: pip, or uv where the spec opts in.

`defaults.installer: uv` installs with `uv pip install` into the job's own interpreter (the one
`python -m uv` runs from, passed by path to `--python`), never into a virtual environment of uv's making,
so every later command in the job sees the packages exactly as with pip. uv comes from its PyPI
wheel; a runner that already has it (a warm self-hosted agent) skips that install.
"""

from __future__ import annotations

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
    """`defaults.setup` as a job runs it: with uv opted in, uv is there first (the set-up may call it)."""
    if setup is None or installer != "uv":
        return setup
    return f"{_uv_bootstrap(python)}\n{setup}"


def _uv_bootstrap(python: str) -> str:
    return f"{python} -m uv --version >/dev/null 2>&1 || {python} -m pip install '{UV_REQUIREMENT}'"

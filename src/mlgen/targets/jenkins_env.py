"""Where a Jenkins stage's Python comes from: a venv of its own in the workspace, or a docker image.

Stock Debian and Ubuntu agents refuse `pip install` into the system Python (PEP 668) and have no
`python`, and a shared interpreter would carry one build's packages into the next. So each stage
makes a venv in its workspace (`venv`), and every `sh` puts it first on PATH (`VENV_ENV`): `python`,
`pip` and `mlgen` in the user's commands are the venv's. `targets.jenkins.agent: docker` runs every
stage in an image instead (by default the same pinned official Python image as on GitLab), with
the venv made inside it the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlgen.targets.gitlab import default_image

if TYPE_CHECKING:
    from mlgen.compile.plan import Plan
    from mlgen.spec.models import Target as Settings

VENV = ".venv"
VENV_ENV = f'export VIRTUAL_ENV="$WORKSPACE/{VENV}" PATH="$WORKSPACE/{VENV}/bin:$PATH"\n'


def venv(python: str) -> list[str]:
    """Create the workspace's venv with the spec's Python, once: a later build of the same workspace
    reuses it (pip then only adds what changed), and one made by another Python is made anew.

    No core Jenkins construct installs Python, so the agent (or the docker image) must have
    `python3.X`; a missing one fails the stage with a message that names it.
    """
    exe = f"python{python}"
    version = "import sys; print('%d.%d' % sys.version_info[:2])"
    return [
        f"command -v {exe} >/dev/null || {{ echo 'mlgen: this stage needs Python {python} ({exe}) on the agent' >&2; exit 1; }}",
        f'[ "$("$VIRTUAL_ENV/bin/python" -c "{version}" 2>/dev/null)" = {python} ] || {exe} -m venv --clear "$VIRTUAL_ENV"',
    ]


def docker_image(plan: Plan, settings: Settings) -> str | None:
    """`agent: docker`: the image every stage runs in, on an agent with the stage's labels;
    None for `venv`, which uses the agent's own Python."""
    if settings.agent != "docker":
        return None
    return settings.image or default_image(plan.python)

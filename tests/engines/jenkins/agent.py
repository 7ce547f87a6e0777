"""A stock Debian agent for the harness's `sh` steps, as a real Jenkins agent would have it.

The agent's environment is the operating system's, not the test process's: PATH is Debian's
`/usr/bin:/bin`, so `python3` is Debian's own interpreter (with its PEP 668 `EXTERNALLY-MANAGED`
marker: `pip install` into it is refused) and there is no `python` at all. Nothing of the test
process (PYTHONPATH, a virtualenv, pyenv, pip settings) leaks in, so a generated Jenkinsfile
passes only if it brings its own environment, as it must on a real agent.

There is no network in the tests, so pip inside the Jenkinsfile's venvs finds the mlgen under
test and its dependencies in a local wheelhouse (PIP_FIND_LINKS), built once per source tree.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

STOCK_PATH = "/usr/bin:/bin"
SYSTEM_PYTHON = Path("/usr/bin/python3")
# What an agent process has from its own login; everything else of the test process stays out.
KEPT = ("HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TMPDIR", "TZ")
ROOT = Path(__file__).resolve().parents[3]
EXTRAS = "data,mlflow"  # every extra a generated job installs
# What the projects the tests run install in their set-up (the example's own dependencies).
PROJECT_REQUIREMENTS = (ROOT / "examples" / "churn" / "requirements.txt",)


class AgentUnavailable(AssertionError):
    """The machine has no Debian Python to model the stock agent with (the tests fail, never skip)."""


def stock_env() -> dict[str, str]:
    """The environment `sh` steps start from: a stock Debian agent, plus the offline wheelhouse."""
    marker = externally_managed_marker()
    if marker is None:
        raise AgentUnavailable(f"{SYSTEM_PYTHON} with an EXTERNALLY-MANAGED marker is needed to model a stock "
                               "Debian agent (apt-get install -y python3 python3-venv)")
    env = {k: os.environ[k] for k in KEPT if k in os.environ}
    env["PATH"] = STOCK_PATH
    env["PIP_FIND_LINKS"] = str(wheelhouse())
    # pip byte-compiles every module it installs (all of pandas, scipy, pyarrow, mlflow-skinny),
    # about three quarters of the CPU time of a stage venv's install; a stage imports a small part
    # of them, which Python compiles on first import. Measured: 23 s of CPU per venv, 6.5 without.
    env["PIP_COMPILE"] = "false"
    return env


def externally_managed_marker() -> Path | None:
    if not SYSTEM_PYTHON.is_file():
        return None
    proc = subprocess.run([str(SYSTEM_PYTHON), "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
                          capture_output=True, text=True, env={"PATH": STOCK_PATH}, check=False)
    marker = Path(proc.stdout.strip()) / "EXTERNALLY-MANAGED"
    return marker if proc.returncode == 0 and marker.is_file() else None


def _source_digest() -> str:
    """What the wheel of the mlgen under test is built from: a change rebuilds it."""
    digest = hashlib.sha256()
    files = [ROOT / "pyproject.toml", *PROJECT_REQUIREMENTS, *(p for d in ("src", "templates", "schemas") for p in sorted((ROOT / d).rglob("*"))
                                        if p.is_file() and "__pycache__" not in p.parts)]
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@functools.cache
def wheelhouse() -> Path:
    """Wheels of the mlgen under test, of everything it installs and of the test projects' own
    dependencies, built once per source tree."""
    final = Path(tempfile.gettempdir()) / f"mlgen-agent-wheels-{_source_digest()}"
    if final.is_dir():
        return final
    # One build at a time, machine-wide: the engine tests ask for it from several xdist workers and
    # threads at once, and each build takes minutes; the others wait for it, then use it.
    with (final.parent / f"{final.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not final.is_dir():
            _build_wheelhouse(final)
    return final


def _build_wheelhouse(final: Path) -> None:
    """`pip wheel` into a staging folder, renamed to `final` when complete."""
    staging = Path(tempfile.mkdtemp(prefix="mlgen-agent-wheels-", suffix=".tmp"))
    env = {k: v for k, v in os.environ.items() if k not in ("PIP_NO_INDEX", "PYTHONPATH")}
    requirements = [arg for path in PROJECT_REQUIREMENTS for arg in ("-r", str(path))]
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(staging), f"{ROOT}[{EXTRAS}]",
                           *requirements],
                          capture_output=True, text=True, env=env, timeout=900, check=False)
    if proc.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise AgentUnavailable(f"cannot build the wheelhouse for the stock agent:\n{proc.stdout}\n{proc.stderr}")
    try:
        staging.rename(final)
    except OSError:  # another run built it meanwhile
        shutil.rmtree(staging, ignore_errors=True)


def warm_venv(workspace: Path, python: str, requirement: str) -> None:
    """What an earlier build leaves in a workspace: the stage venv with `requirement` installed.

    For tests whose timeouts are seconds (minutes read as seconds): a first build's venv creation
    and install would not fit in them, a later build's check that everything is there does.
    """
    venv = workspace / ".venv"
    env = {**stock_env(), "PIP_NO_INDEX": "1"}
    subprocess.run([f"python{python}", "-m", "venv", str(venv)], env=env, check=True, capture_output=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", requirement], env=env, check=True,
                   capture_output=True)

"""actions/setup-python v5, offline: select an installed interpreter of the requested version.

The real action downloads the version into the tool cache; here only what is installed can be
used. A request is met by the first interpreter found (this script's own, then `pythonX.Y`,
`python3`, `python` on PATH) whose version matches; a shim folder then goes first on PATH so
`python`, `python3`, `pythonX.Y` and `pip` all mean that interpreter for the rest of the job.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

TRUE, FALSE = ("true", "True", "TRUE"), ("false", "False", "FALSE")


def fail(message: str) -> None:
    print(f"::error::{message}", flush=True)
    sys.exit(1)


def get_input(name: str) -> str:
    return os.environ.get(f"INPUT_{name}", "").strip()


def append(env_file: str, line: str) -> None:
    with open(os.environ[env_file], "a", encoding="utf-8") as out:
        out.write(line + "\n")


def set_output(name: str, value: str) -> None:
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    append("GITHUB_OUTPUT", f"{name}<<{delimiter}\n{value}\n{delimiter}")


def requested_version() -> str:
    version = get_input("PYTHON_VERSION")
    version_file = get_input("PYTHON_VERSION_FILE")
    if not version and version_file:
        path = Path(os.environ["GITHUB_WORKSPACE"]) / version_file
        if not path.is_file():
            fail(f"The specified python version file at: {path} doesn't exist.")
        version = path.read_text(encoding="utf-8").splitlines()[0].strip()
    if not version:
        fail("python-version is empty; the stand-in does not guess a default version")
    return version


def matches(wanted: str, actual: tuple[int, ...]) -> bool:
    """'3.11' and '3.11.x' match any 3.11.*; '3.11.7' only itself. Ranges are not emulated."""
    parts = wanted.removesuffix(".x").split(".")
    if not all(p.isdigit() for p in parts) or not 1 <= len(parts) <= 3:
        fail(f"python-version '{wanted}' is not emulated offline: use MAJOR.MINOR, MAJOR.MINOR.x or MAJOR.MINOR.PATCH")
    return tuple(int(p) for p in parts) == actual[: len(parts)]


def version_of(executable: str) -> tuple[int, ...] | None:
    proc = subprocess.run([executable, "-c", "import sys; print(*sys.version_info[:3])"],
                          capture_output=True, text=True)
    return tuple(int(x) for x in proc.stdout.split()) if proc.returncode == 0 else None


def candidates(wanted: str) -> list[str]:
    minor = ".".join(wanted.split(".")[:2])
    names = [shutil.which(n) for n in (f"python{minor}", "python3", "python")]
    return list(dict.fromkeys([sys.executable, *(n for n in names if n)]))


def find_interpreter(wanted: str) -> tuple[str, tuple[int, ...]]:
    seen = []
    for executable in candidates(wanted):
        actual = version_of(executable)
        if actual is None:
            continue
        if matches(wanted, actual):
            return executable, actual
        seen.append(f"{executable} ({'.'.join(map(str, actual))})")
    fail(f"Python {wanted} is not installed on this machine and cannot be downloaded offline; found: "
         f"{', '.join(seen) or 'no interpreter'}")
    raise AssertionError  # unreachable: fail() exits


def write_shims(executable: str, version: tuple[int, ...]) -> Path:
    """A folder of scripts that makes every usual name run the chosen interpreter.

    Scripts, not symlinks: a virtualenv's interpreter finds its pyvenv.cfg from the path it is
    started by, so it must be exec'd by its own path.
    """
    minor = f"{version[0]}.{version[1]}"
    shims = Path(os.environ["RUNNER_TEMP"]) / "mlgen-setup-python" / ".".join(map(str, version)) / "bin"
    shims.mkdir(parents=True, exist_ok=True)
    commands = {name: f'"{executable}"' for name in ("python", "python3", f"python{minor}")}
    commands.update({name: f'"{executable}" -m pip' for name in ("pip", "pip3", f"pip{minor}")})
    for name, command in commands.items():
        script = shims / name
        script.write_text(f'#!/bin/sh\nexec {command} "$@"\n', encoding="utf-8")
        script.chmod(0o755)
    return shims


def check_cache() -> None:
    """`cache: pip` as the real action checks it; offline there is no cache service to restore from."""
    cache = get_input("CACHE")
    if not cache:
        return
    if cache != "pip":
        fail(f"the offline stand-in emulates `cache: pip` only, not `{cache}`")
    workspace = Path(os.environ["GITHUB_WORKSPACE"])
    patterns = [p.strip() for p in get_input("CACHE_DEPENDENCY_PATH").splitlines() if p.strip()]
    patterns = patterns or ["**/requirements.txt", "**/pyproject.toml"]
    if not any(path.is_file() for pattern in patterns for path in workspace.glob(pattern)):
        fail(f"No file in {workspace} matched to [{', '.join(patterns)}], make sure you have checked out the target repository")
    print("pip cache: dependency files found; nothing to restore offline")
    set_output("cache-hit", "false")


def main() -> None:
    check_cache()
    if get_input("ARCHITECTURE") not in ("", "x64"):
        fail(f"architecture '{get_input('ARCHITECTURE')}' is not available here (only x64)")
    wanted = requested_version()
    executable, version = find_interpreter(wanted)
    full = ".".join(map(str, version))
    print(f"Successfully set up Python {full} from {executable} (offline stand-in: no download)")
    update = get_input("UPDATE_ENVIRONMENT") or "true"
    if update not in TRUE + FALSE:
        fail("update-environment must be true or false")
    if update in TRUE:
        prefix = subprocess.run([executable, "-c", "import sys; print(sys.prefix)"],
                                capture_output=True, text=True, check=True).stdout.strip()
        append("GITHUB_PATH", str(write_shims(executable, version)))
        for name in ("pythonLocation", "Python_ROOT_DIR", "Python3_ROOT_DIR"):
            append("GITHUB_ENV", f"{name}={prefix}")
    set_output("python-version", full)
    set_output("python-path", executable)


if __name__ == "__main__":
    main()

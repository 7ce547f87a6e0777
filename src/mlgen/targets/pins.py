"""Every GitHub action mlgen emits, pinned to a full commit SHA. The only source of `uses:`."""

from __future__ import annotations

from typing import NamedTuple


class Pin(NamedTuple):
    repo: str
    sha: str
    version: str

    @property
    def uses(self) -> str:
        return f"{self.repo}@{self.sha}"


ACTIONS: dict[str, Pin] = {
    "checkout": Pin("actions/checkout", "11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "setup-python": Pin("actions/setup-python", "0b93645e9fea7318ecaed2b359559ac225c90a2b", "v5.3.0"),
    "cache": Pin("actions/cache", "1bd1e32a3bdc45362d1e726936510720a7c30a57", "v4.2.0"),
    "upload-artifact": Pin("actions/upload-artifact", "b4b15b8c7c6ac21ea08fcf65892d2ee8f75cf882", "v4.4.3"),
    "download-artifact": Pin("actions/download-artifact", "fa0a91b85d4f404e444e00e005971372dc801d16", "v4.1.8"),
}

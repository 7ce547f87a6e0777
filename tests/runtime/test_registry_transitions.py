"""The alias transitions on an in-memory registry that can fail any call: every crash point, every start.

The server test (test_registry_faults.py) proves the same on a real MLflow for a few states; this
one generates the starting states and checks the properties for all of them, in milliseconds:
a crash anywhere, then a retry, ends as an uninterrupted run; a crash anywhere, then the rollback
job, ends as a whole promotion then the rollback job; and the serving version never loses its alias.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from mlgen.errors import UserError
from mlgen.runtime.registry.mlflow_transitions import TAG_PROMOTION, Intent, Transitions

RUN, MODEL = "run-7", "churn"


class Crash(Exception):
    pass


@dataclass
class MemoryStore:
    aliases_: dict[str, str] = field(default_factory=dict)
    tags_: dict[str, dict[str, str]] = field(default_factory=dict)
    fail_at: int | None = None
    after: bool = False  # the failing call takes effect, but its caller sees an error
    calls: int = 0

    def _call(self, effect: Callable[[], None] | None = None) -> None:
        failing = self.calls == self.fail_at
        self.calls += 1
        if failing and not self.after:
            raise Crash
        if effect is not None:
            effect()
        if failing:
            raise Crash

    def aliases(self, model: str) -> dict[str, str] | None:
        self._call()
        return dict(self.aliases_)

    def tags(self, model: str, version: str) -> dict[str, str]:
        self._call()
        return dict(self.tags_[version])

    def set_alias(self, model: str, alias: str, version: str | None) -> None:
        def effect() -> None:
            if version is None:
                self.aliases_.pop(alias)  # MLflow refuses to delete an alias that is not there
            else:
                self.aliases_[alias] = version
        self._call(effect)

    def set_tag(self, model: str, version: str, key: str, value: str) -> None:
        self._call(lambda: self.tags_[version].__setitem__(key, value))

    def state(self) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
        """Aliases and tags, without the time stamps."""
        return dict(self.aliases_), {v: {k: t for k, t in tags.items() if not k.endswith("_at")}
                                     for v, tags in self.tags_.items()}


def intent(run: str, replaces: str | None, previous: str | None) -> str:
    return Intent(run, replaces, previous).dump()


def starts() -> list[MemoryStore]:
    """Registries holding this run's candidate v4 as challenger, in every shape the aliases can take."""
    found = []
    for champion, previous, stale in itertools.product([None, "1", "2"], [None, "1", "3"], [False, True]):
        if previous is not None and previous == champion:
            continue
        tags = {"1": {TAG_PROMOTION: intent("old", None, None)}, "2": {TAG_PROMOTION: intent("old", "1", None)},
                "3": {}, "4": {"mlgen.run_id": RUN}}
        if stale:  # an earlier attempt of another run that died before moving anything
            tags["4"][TAG_PROMOTION] = intent("other", champion, previous)
        aliases = {"challenger": "4"} | ({"champion": champion} if champion else {}) | \
            ({"previous-champion": previous} if previous else {})
        found.append(MemoryStore(aliases, tags))
    return found


def promote(store: MemoryStore) -> None:
    Transitions(store, "memory").promote(MODEL, "challenger", RUN)


def undo(store: MemoryStore) -> None:
    Transitions(store, "memory").undo(MODEL, RUN, "challenger", None)


def rollback(store: MemoryStore) -> None:
    Transitions(store, "memory").rollback(MODEL, RUN)


def calls_of(command: Callable[[MemoryStore], None], start: MemoryStore) -> int:
    probe = copy.deepcopy(start)
    probe.calls = 0
    command(probe)
    return probe.calls


def crashed(command: Callable[[MemoryStore], None], start: MemoryStore, k: int, after: bool) -> MemoryStore:
    store = copy.deepcopy(start)
    store.fail_at, store.after, store.calls = k, after, 0
    with pytest.raises(Crash):
        command(store)
    store.fail_at, store.calls = None, 0
    return store


def done(*commands: Callable[[MemoryStore], None], start: MemoryStore) -> MemoryStore:
    store = copy.deepcopy(start)
    for command in commands:
        command(store)
    return store


CASES = [(i, k, after) for i, start in enumerate(starts()) for k in range(calls_of(promote, start))
         for after in (False, True)]


@pytest.mark.parametrize(("start", "k", "after"), CASES)
def test_promote_crash_then_retry_or_rollback_job(start: int, k: int, after: bool) -> None:
    begin = starts()[start]
    store = crashed(promote, begin, k, after)
    serving = begin.aliases_.get("champion")
    if serving is not None:  # the serving version keeps an alias at every crash point
        assert serving in (store.aliases_.get("champion"), store.aliases_.get("previous-champion")), store.aliases_

    retried = copy.deepcopy(store)
    promote(retried)
    assert retried.state() == done(promote, start=begin).state()

    rolled_back = copy.deepcopy(store)
    undo(rolled_back)
    expected = done(promote, undo, start=begin)
    assert rolled_back.aliases_ == expected.aliases_
    assert rolled_back.tags_["4"]["mlgen.canary"] == "failed"
    with pytest.raises(UserError, match="failed its canary"):
        rolled_back.aliases_["challenger"] = "4"
        promote(rolled_back)


def test_a_whole_promotion_then_the_rollback_job_puts_everything_back() -> None:
    for begin in starts():
        after = done(promote, undo, start=begin)
        expected = {k: v for k, v in begin.aliases_.items() if k != "challenger"} | {"canary-failed": "4"}
        assert after.aliases_ == expected, begin.aliases_


UNDO_CASES = [(i, k, after) for i, start in enumerate(starts())
              for k in range(calls_of(undo, done(promote, start=start))) for after in (False, True)]


@pytest.mark.parametrize(("start", "k", "after"), UNDO_CASES)
def test_rollback_job_crash_then_retry(start: int, k: int, after: bool) -> None:
    promoted = done(promote, start=starts()[start])
    store = crashed(undo, promoted, k, after)
    undo(store)
    assert store.state() == done(undo, start=promoted).state()


def rollback_starts() -> list[MemoryStore]:
    tags = {"1": {TAG_PROMOTION: intent("old", None, None)}, "2": {TAG_PROMOTION: intent("old", "1", None)},
            "3": {TAG_PROMOTION: intent("old", "2", "1")}}
    return [MemoryStore({"champion": "3", "previous-champion": "2"}, copy.deepcopy(tags)),
            MemoryStore({"champion": "2", "previous-champion": "1"}, copy.deepcopy(tags))]


ROLLBACK_CASES = [(i, k, after) for i, start in enumerate(rollback_starts()) for k in range(calls_of(rollback, start))
                  for after in (False, True)]


@pytest.mark.parametrize(("start", "k", "after"), ROLLBACK_CASES)
def test_rollback_by_hand_crash_then_retry_or_another_command(start: int, k: int, after: bool) -> None:
    begin = rollback_starts()[start]
    store = crashed(rollback, begin, k, after)
    retried = copy.deepcopy(store)
    rollback(retried)
    assert retried.state() == done(rollback, start=begin).state()
    # Any later command first finishes a rollback that died half-way (champion == previous-champion).
    other = copy.deepcopy(store)
    undo(other)
    assert other.aliases_ in (begin.aliases_, done(rollback, start=begin).aliases_)
    assert other.aliases_.get("champion") != other.aliases_.get("previous-champion")

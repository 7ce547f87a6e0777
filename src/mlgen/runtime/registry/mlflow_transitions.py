"""Alias transitions of the MLflow registry, ordered so that a crash at any point is repairable.

Each transition first records its intent as ONE tag (one call, so it is all or nothing) on the
version it is about, then moves aliases in an order that always leaves the serving version an
alias, and skips every step whose result is already there. So a retry after a crash at any point
ends where an uninterrupted run would, and the rollback job can read from the intent what to put
back:

- promote v:  tag v `mlgen.promotion` {run, replaces: old champion, previous: old previous-champion};
  previous-champion <- old champion; champion <- v; drop the candidate alias; stamp `mlgen.promoted_at`.
- undo (the canary rollback job) for the candidate v of this run: tag v failed; alias `canary-failed`
  <- v (so a retry still finds it); champion <- the recorded old champion; previous-champion <- the
  recorded old previous; drop the candidate alias.
- rollback (by hand) from champion c to previous-champion p: tag p `mlgen.restore` {run, from: c,
  previous: what p had replaced}; champion <- p; previous-champion <- that; stamp c `mlgen.rolled_back_at`;
  mark the restore done. Until then champion == previous-champion, which every command repairs first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from mlgen.errors import UserError
from mlgen.runtime.registry import CHAMPION, FAILED, PREVIOUS, Outcome, Promotion

TAG_PROMOTION = "mlgen.promotion"
TAG_RESTORE = "mlgen.restore"
TAG_CANARY = "mlgen.canary"
TAG_FAILED_BY = "mlgen.canary_failed_run"
TAG_REGISTERED_BY = "mlgen.run_id"  # written by register (the CI run that registered the version)
TAG_PROMOTED_AT = "mlgen.promoted_at"
TAG_ROLLED_BACK_AT = "mlgen.rolled_back_at"
# Written by mlgen before intents existed; still read so that older promotions can be undone.
LEGACY_PROMOTED_BY = "mlgen.promoted_by_run"
LEGACY_REPLACED = "mlgen.replaced_version"


class Store(Protocol):
    """What the transitions need from a registry; every call is one request to the server."""

    def aliases(self, model: str) -> dict[str, str] | None: ...  # alias -> version; None: not registered
    def tags(self, model: str, version: str) -> dict[str, str]: ...
    def set_alias(self, model: str, alias: str, version: str | None) -> None: ...  # None deletes it
    def set_tag(self, model: str, version: str, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class Intent:
    """What a transition is about to do, recorded on the version before any alias moves."""

    run: str
    replaces: str | None  # the champion it replaces (promotion) or leaves (restore)
    previous: str | None  # what previous-champion pointed to before (promotion) or points to after (restore)
    done: bool = False  # a restore marks itself done, so that an old record is never replayed

    def dump(self) -> str:
        return json.dumps({"run": self.run, "replaces": self.replaces, "previous": self.previous, "done": self.done},
                          sort_keys=True)

    @classmethod
    def read(cls, tags: dict[str, str], key: str) -> Intent | None:
        try:
            data = json.loads(tags.get(key) or "null")
        except ValueError:
            return None
        if not isinstance(data, dict):
            if key == TAG_PROMOTION and LEGACY_PROMOTED_BY in tags:  # promoted by an older mlgen
                return cls(tags[LEGACY_PROMOTED_BY], tags.get(LEGACY_REPLACED) or None, None)
            return None
        return cls(str(data.get("run") or ""), _version(data.get("replaces")), _version(data.get("previous")),
                   data.get("done") is True)


def _version(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_failed(tags: dict[str, str]) -> bool:
    return tags.get(TAG_CANARY) == "failed"


class Transitions:
    def __init__(self, store: Store, where: str) -> None:
        self.store, self.where = store, where

    def _move(self, model: str, aliases: dict[str, str], alias: str, version: str | None) -> None:
        """Set (or delete) an alias unless it is already so; `aliases` is kept in step."""
        if aliases.get(alias) == version:
            return
        self.store.set_alias(model, alias, version)
        if version is None:
            aliases.pop(alias, None)
        else:
            aliases[alias] = version

    def _tag_once(self, model: str, version: str, tags: dict[str, str], key: str, value: str) -> None:
        if tags.get(key) != value:
            self.store.set_tag(model, version, key, value)
            tags[key] = value

    def _registered(self, model: str) -> dict[str, str]:
        aliases = self.store.aliases(model)
        if aliases is None:
            raise UserError(f"model `{model}` is not registered", where=self.where,
                            hint="run `mlgen registry register` first (the register stage)")
        return aliases

    # --- promote --------------------------------------------------------------------------------

    def promote(self, model: str, from_alias: str, run_id: str | None, pinned: str | None = None) -> Promotion:
        aliases = self._registered(model)
        self._finish_restore(model, aliases)
        candidate = aliases.get(from_alias)
        if candidate is None:
            return self._already_promoted(model, aliases, from_alias, run_id, pinned)
        if pinned is not None and candidate != pinned:
            raise UserError(f"`{from_alias}` of `{model}` is on version {candidate}, not on version {pinned}: another "
                            f"run registered a newer model; version {candidate} was not rolled out here, so nothing "
                            "is promoted", where=self.where,
                            hint=f"see `mlgen registry show --model {model}`; run the pipeline again to roll out the "
                                 "newer model")
        tags = self.store.tags(model, candidate)
        if is_failed(tags):
            raise UserError(f"version {candidate} of `{model}` failed its canary and is not promoted", where=self.where,
                            hint=f"register a new model (the register stage); `mlgen registry show --model {model}` "
                                 f"lists the versions")
        champion = aliases.get(CHAMPION)
        intent = Intent.read(tags, TAG_PROMOTION)
        if intent is None or champion not in (intent.replaces, candidate):
            if champion == candidate:  # made champion some other way: only the candidate alias is left over
                self._move(model, aliases, from_alias, None)
                return Promotion(model, candidate, aliases.get(PREVIOUS), run_id, "mlflow", changed=False)
            intent = Intent(run_id or "", champion, aliases.get(PREVIOUS))
        elif intent.run != (run_id or ""):
            intent = Intent(run_id or "", intent.replaces, intent.previous)  # an abandoned attempt: take it over
        self._tag_once(model, candidate, tags, TAG_PROMOTION, intent.dump())
        self._advance(model, aliases, candidate, intent, from_alias, tags)
        return Promotion(model, candidate, intent.replaces, run_id, "mlflow")

    def _advance(self, model: str, aliases: dict[str, str], candidate: str, intent: Intent, from_alias: str,
                 tags: dict[str, str]) -> None:
        # previous-champion first: until champion moves, the serving version holds both aliases,
        # and it is never left without one.
        if intent.replaces is not None:
            self._move(model, aliases, PREVIOUS, intent.replaces)
        self._move(model, aliases, CHAMPION, candidate)
        if aliases.get(from_alias) == candidate:
            self._move(model, aliases, from_alias, None)
        if TAG_PROMOTED_AT not in tags:
            self._tag_once(model, candidate, tags, TAG_PROMOTED_AT, _now())

    def _already_promoted(self, model: str, aliases: dict[str, str], from_alias: str, run_id: str | None,
                          pinned: str | None) -> Promotion:
        # A retried promote finds the candidate alias gone; that is success if this run moved it.
        champion = aliases.get(CHAMPION)
        if champion is not None and run_id and pinned in (None, champion):
            tags = self.store.tags(model, champion)
            intent = Intent.read(tags, TAG_PROMOTION)
            if intent is not None and intent.run == run_id and not is_failed(tags):
                self._advance(model, aliases, champion, intent, from_alias, tags)
                return Promotion(model, champion, intent.replaces, run_id, "mlflow", changed=False)
        raise UserError(f"no version of `{model}` holds the alias `{from_alias}`", where=self.where,
                        hint=f"the register stage sets it; run `mlgen registry show --model {model}` to see the aliases")

    # --- the canary rollback job ------------------------------------------------------------------

    def undo(self, model: str, run_id: str | None, from_alias: str, mine: str | None,
             pinned: str | None = None) -> Outcome:
        """Reject this run's candidate (`mine` names it when there is no run id) and undo its promotion.

        `pinned` names the version for sure (the one this run registered), whatever aliases it holds.
        """
        aliases = self.store.aliases(model)
        if aliases is None:
            return Outcome(f"registry: `{model}` is not registered; nothing to undo")
        self._finish_restore(model, aliases)
        if pinned is not None:
            found: tuple[str, dict[str, str]] | None = (pinned, self.store.tags(model, pinned))
        else:
            found = self._find_mine(model, aliases, run_id, from_alias, mine)
        if found is None:
            return self._not_mine(model, aliases)
        version, tags = found
        was_champion = aliases.get(CHAMPION) == version
        self._tag_once(model, version, tags, TAG_CANARY, "failed")
        if run_id:
            self._tag_once(model, version, tags, TAG_FAILED_BY, run_id)
        self._move(model, aliases, FAILED, version)  # from here on a retry finds it by this alias
        intent = Intent.read(tags, TAG_PROMOTION)
        if intent is not None:
            if aliases.get(CHAMPION) == version:
                self._move(model, aliases, CHAMPION, intent.replaces)
            # The previous-champion alias is ours to restore only while the champion is the one we put back.
            if intent.replaces is not None and aliases.get(CHAMPION) == intent.replaces \
                    and aliases.get(PREVIOUS) == intent.replaces:
                self._move(model, aliases, PREVIOUS, intent.previous)
        if aliases.get(from_alias) == version:
            self._move(model, aliases, from_alias, None)
        if TAG_ROLLED_BACK_AT not in tags:
            self._tag_once(model, version, tags, TAG_ROLLED_BACK_AT, _now())
        return self._undone(model, version, aliases, was_champion or intent is not None)

    def _find_mine(self, model: str, aliases: dict[str, str], run_id: str | None, from_alias: str,
                   mine: str | None) -> tuple[str, dict[str, str]] | None:
        for alias in (from_alias, CHAMPION, FAILED):
            version = aliases.get(alias)
            if version is None:
                continue
            tags = self.store.tags(model, version)
            if run_id:
                intent = Intent.read(tags, TAG_PROMOTION)
                owners = {tags.get(TAG_REGISTERED_BY) if alias == from_alias else None,
                          intent.run if intent is not None and alias != FAILED else None,
                          tags.get(TAG_FAILED_BY) if alias == FAILED else None}
                if run_id in owners:
                    return version, tags
            elif mine == version:
                return version, tags
        return None

    def _not_mine(self, model: str, aliases: dict[str, str]) -> Outcome:
        champion = aliases.get(CHAMPION)
        if champion is None:
            return Outcome(f"registry: `{model}` has no version of this run and no champion; nothing to undo")
        intent = Intent.read(self.store.tags(model, champion), TAG_PROMOTION)
        who = f"run {intent.run}" if intent is not None and intent.run else "another run"
        return Outcome(f"registry: champion v{champion} unchanged (promoted by {who}, not this run)", champion)

    def _undone(self, model: str, version: str, aliases: dict[str, str], promoted: bool) -> Outcome:
        champion = aliases.get(CHAMPION)
        if champion == version:  # champion with no record of what it replaced: a person must choose
            return Outcome(f"registry: marked v{version} of {model} as failed (alias `{FAILED}`), but it is still the "
                           "champion: nothing records which version it replaced; run `mlgen registry rollback "
                           f"--model {model} --version {version}` to go back to `{PREVIOUS}`", champion)
        if not promoted:
            return Outcome(f"registry: marked v{version} of {model} as failed (alias `{FAILED}`); "
                           f"champion {f'v{champion}' if champion else 'none'} unchanged", champion)
        target = f"v{champion}" if champion else "no champion (this was the first)"
        return Outcome(f"registry: undid this run's promotion of v{version}; champion is now {target}; "
                       f"v{version} is marked failed (alias `{FAILED}`)", champion)

    # --- rollback by hand ---------------------------------------------------------------------

    def rollback(self, model: str, run_id: str | None, pinned: str | None = None) -> Outcome:
        aliases = self.store.aliases(model) or {}
        champion, previous = aliases.get(CHAMPION), aliases.get(PREVIOUS)
        if champion is not None and run_id:  # a retry: this run already put the champion back
            tags = self.store.tags(model, champion)
            restore = Intent.read(tags, TAG_RESTORE)
            if restore is not None and restore.run == run_id and pinned in (None, restore.replaces):
                self._complete_restore(model, aliases, champion, restore, tags)
                return Outcome(f"rolled back {model}: champion v{restore.replaces} -> v{champion} (already done)",
                               champion)
        if pinned is not None and champion != pinned:
            raise UserError(f"the champion of `{model}` is version {champion or 'none'}, not version {pinned}; "
                            "nothing is rolled back", where=self.where,
                            hint=f"see `mlgen registry show --model {model}`")
        if previous is None or previous == champion:
            raise UserError(f"`{model}` has no `{PREVIOUS}` version to roll back to", where=self.where,
                            hint="a previous champion exists only after a promotion replaced one; "
                                 f"see `mlgen registry show --model {model}`")
        tags = self.store.tags(model, previous)
        promoted = Intent.read(tags, TAG_PROMOTION)
        restore = Intent(run_id or "", champion, promoted.replaces if promoted is not None else None)
        self._tag_once(model, previous, tags, TAG_RESTORE, restore.dump())
        self._move(model, aliases, CHAMPION, previous)
        self._complete_restore(model, aliases, previous, restore, tags)
        return Outcome(f"rolled back {model}: champion v{champion} -> v{previous}", previous)

    def _complete_restore(self, model: str, aliases: dict[str, str], champion: str, restore: Intent,
                          tags: dict[str, str]) -> None:
        if restore.done:
            return
        self._move(model, aliases, PREVIOUS, restore.previous if restore.previous != champion else None)
        if restore.replaces is not None:
            left = self.store.tags(model, restore.replaces)
            if TAG_ROLLED_BACK_AT not in left:
                self._tag_once(model, restore.replaces, left, TAG_ROLLED_BACK_AT, _now())
        self._tag_once(model, champion, tags, TAG_RESTORE,
                       Intent(restore.run, restore.replaces, restore.previous, done=True).dump())

    def _finish_restore(self, model: str, aliases: dict[str, str]) -> None:
        """champion == previous-champion only when a rollback died half-way: finish it first."""
        champion = aliases.get(CHAMPION)
        if champion is None or aliases.get(PREVIOUS) != champion:
            return
        tags = self.store.tags(model, champion)
        restore = Intent.read(tags, TAG_RESTORE)
        if restore is not None:
            self._complete_restore(model, aliases, champion, restore, tags)

"""The MLflow model registry: versions, aliases (`challenger`, `champion`, `previous-champion`).

Aliases replaced MLflow's deprecated stages (2.9). A version's metrics live on the run that
registered it, so a later gate can use the champion's metrics as its baseline. The model
directory is logged as plain artifacts: no MLflow flavor is needed.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from datetime import datetime, UTC
from typing import Any

from mlgen.runtime._specconfig import RegistrySettings
from mlgen.runtime.errors import UserError
from mlgen.runtime.gate import Baseline
from mlgen.runtime.registry import CHAMPION, PREVIOUS, Outcome, Promotion, RegisterRequest
from mlgen.runtime.reports import text_table

TAG_PROMOTED_BY = "mlgen.promoted_by_run"
TAG_REPLACED = "mlgen.replaced_version"
ARTIFACT_DIR = "model"


class MlflowRegistry:
    name = "mlflow"

    def __init__(self, settings: RegistrySettings, tracking_uri: str | None) -> None:
        self.uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
        if not self.uri:
            # MLflow would quietly fall back to a local database inside the CI runner and lose the model.
            raise UserError("MLFLOW_TRACKING_URI is not set",
                            hint="set it to your tracking server (e.g. https://mlflow.example.com, or sqlite:///mlflow.db "
                                 "locally) in the spec's `env`, or pass --tracking-uri")
        with self._errors():
            from mlflow import MlflowClient

            registry_uri = os.environ.get("MLFLOW_REGISTRY_URI") or self.uri
            self.client: Any = MlflowClient(tracking_uri=self.uri, registry_uri=registry_uri)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """MLflow and network failures as one-paragraph user errors naming the registry."""
        from mlflow.exceptions import MlflowException

        try:
            yield
        except MlflowException as exc:
            message = str(exc.message if hasattr(exc, "message") else exc).strip().splitlines()[0][:500]
            raise UserError(f"the MLflow registry said: {message}", where=self.uri,
                            hint="check MLFLOW_TRACKING_URI, the server's availability and your credentials "
                                 "(MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD)") from None
        except OSError as exc:
            raise UserError(f"cannot reach the MLflow registry: {exc}", where=self.uri,
                            hint="check MLFLOW_TRACKING_URI and that the server is running") from None

    # --- aliases ------------------------------------------------------------------------------

    def _aliases(self, model: str) -> dict[str, str] | None:
        """alias -> version, or None when the model was never registered."""
        from mlflow.exceptions import MlflowException

        try:
            registered = self.client.get_registered_model(model)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return {alias: str(version) for alias, version in (registered.aliases or {}).items()}

    def _set(self, model: str, alias: str, version: str | None) -> None:
        from mlflow.exceptions import MlflowException

        if version is None:
            with contextlib.suppress(MlflowException):  # already absent is the state we want
                self.client.delete_registered_model_alias(model, alias)
        else:
            self.client.set_registered_model_alias(model, alias, version)

    def _tags(self, model: str, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(model, version).tags or {})

    # --- operations ---------------------------------------------------------------------------

    def register(self, request: RegisterRequest) -> Outcome:
        with self._errors():
            run_id, artifact_uri = self._log_run(request)
            self._ensure_model(request.model)
            version = self.client.create_model_version(request.model, source=f"{artifact_uri}/{ARTIFACT_DIR}",
                                                       run_id=run_id, tags=dict(request.tags))
            number = str(version.version)
            self.client.set_registered_model_alias(request.model, request.alias, number)
        return Outcome(f"registered {request.model} version {number} with alias `{request.alias}` (run {run_id})",
                       number, {"run_id": run_id, "source": f"{artifact_uri}/{ARTIFACT_DIR}"})

    def _log_run(self, request: RegisterRequest) -> tuple[str, str]:
        experiment = self._experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME") or f"mlgen-{request.model}")
        tags = {"mlflow.runName": f"register-{request.model}", **request.tags}
        if "mlgen.commit" in request.tags:
            tags["mlflow.source.git.commit"] = request.tags["mlgen.commit"]
        run = self.client.create_run(experiment, tags=tags)
        run_id = run.info.run_id
        try:
            self.client.log_artifacts(run_id, str(request.path), ARTIFACT_DIR)
            if request.metrics:
                from mlflow.entities import Metric

                stamp = int(time.time() * 1000)
                batch = [Metric(k, v, stamp, 0) for k, v in sorted(request.metrics.items())]
                self.client.log_batch(run_id, metrics=batch)
        except BaseException:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        self.client.set_terminated(run_id)
        return run_id, str(run.info.artifact_uri)

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        return str(found.experiment_id) if found is not None else str(self.client.create_experiment(name))

    def _ensure_model(self, model: str) -> None:
        if self._aliases(model) is None:
            self.client.create_registered_model(model, description="Registered by mlgen.")

    def promote(self, model: str, from_alias: str, run_id: str | None) -> Promotion:
        with self._errors():
            aliases = self._aliases(model)
            if aliases is None:
                raise UserError(f"model `{model}` is not registered", where=self.uri,
                                hint="run `mlgen registry register` first (the register stage)")
            candidate, champion = aliases.get(from_alias), aliases.get(CHAMPION)
            if candidate is None:
                return self._already_promoted(model, from_alias, champion, run_id)
            if candidate == champion:
                self._set(model, from_alias, None)
                return Promotion(model, candidate, aliases.get(PREVIOUS), run_id, self.name, changed=False)
            self._set(model, CHAMPION, candidate)
            self._set(model, PREVIOUS, champion)
            self._set(model, from_alias, None)  # the challenger has become the champion
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            for key, value in {TAG_PROMOTED_BY: run_id or "", TAG_REPLACED: champion or "", "mlgen.promoted_at": stamp}.items():
                self.client.set_model_version_tag(model, candidate, key, value)
        return Promotion(model, candidate, champion, run_id, self.name)

    def _already_promoted(self, model: str, from_alias: str, champion: str | None, run_id: str | None) -> Promotion:
        # A retried promote job finds the challenger alias gone; that is success if this run moved it.
        if champion is not None and run_id and self._tags(model, champion).get(TAG_PROMOTED_BY) == run_id:
            tags = self._tags(model, champion)
            return Promotion(model, champion, tags.get(TAG_REPLACED) or None, run_id, self.name, changed=False)
        raise UserError(f"no version of `{model}` holds the alias `{from_alias}`", where=self.uri,
                        hint="the register stage sets it; run `mlgen registry show --model "
                             f"{model}` to see the aliases")

    def rollback(self, model: str) -> Outcome:
        with self._errors():
            aliases = self._aliases(model) or {}
            champion, previous = aliases.get(CHAMPION), aliases.get(PREVIOUS)
            if previous is None:
                raise UserError(f"`{model}` has no `{PREVIOUS}` version to roll back to", where=self.uri,
                                hint="a previous champion exists only after a promotion replaced one; "
                                     f"see `mlgen registry show --model {model}`")
            self._restore(model, champion, previous)
        return Outcome(f"rolled back {model}: champion v{champion} -> v{previous}", previous)

    def undo_promotion(self, model: str, run_id: str | None, record: Promotion | None) -> Outcome:
        with self._errors():
            aliases = self._aliases(model) or {}
            champion = aliases.get(CHAMPION)
            if champion is None:
                return Outcome(f"registry: `{model}` has no champion; nothing to undo")
            tags = self._tags(model, champion)
            promoted_by = tags.get(TAG_PROMOTED_BY) or ""
            ours = bool(run_id) and promoted_by == run_id
            if record is not None and not run_id:  # a local run: only the state file knows
                ours = record.model == model and record.version == champion and record.changed
            if not ours:
                who = f"run {promoted_by}" if promoted_by else "another run"
                return Outcome(f"registry: champion v{champion} unchanged (promoted by {who}, not this run)", champion)
            restored = tags.get(TAG_REPLACED) or None
            self._restore(model, champion, restored)
        target = f"v{restored}" if restored else "no champion (this was the first)"
        return Outcome(f"registry: undid this run's promotion of v{champion}; champion is now {target}", restored)

    def _restore(self, model: str, bad: str | None, good: str | None) -> None:
        """champion <- good (None removes it); previous-champion <- whatever `good` had replaced."""
        self._set(model, CHAMPION, good)
        before_good = (self._tags(model, good).get(TAG_REPLACED) or None) if good is not None else None
        self._set(model, PREVIOUS, before_good)
        if bad is not None:
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.client.set_model_version_tag(model, bad, "mlgen.rolled_back_at", stamp)

    def baseline(self, model: str, alias: str) -> Baseline:
        ref = f"{model}@{alias}"
        with self._errors():
            aliases = self._aliases(model)
            if aliases is None:
                return Baseline("registry", ref, None, f"model `{model}` is not registered yet")
            version = aliases.get(alias)
            if version is None:
                return Baseline("registry", ref, None, f"no version of `{model}` holds the alias `{alias}` yet")
            run_id = self.client.get_model_version(model, version).run_id
            metrics = dict(self.client.get_run(run_id).data.metrics) if run_id else {}
        return Baseline("registry", f"{ref} (version {version})", metrics)

    def show(self, model: str) -> Outcome:
        with self._errors():
            aliases = self._aliases(model)
            if aliases is None:
                raise UserError(f"model `{model}` is not registered", where=self.uri)
            versions = self.client.search_model_versions(f"name = '{model}'")
        by_version: dict[str, list[str]] = {}
        for alias, version in aliases.items():
            by_version.setdefault(version, []).append(alias)
        rows = [[str(v.version), ", ".join(sorted(by_version.get(str(v.version), []))) or "-",
                 (v.tags or {}).get("mlgen.commit", "-")[:12], (v.tags or {}).get("mlgen.gates", "-"),
                 (v.tags or {}).get("mlgen.promoted_at", "-")]
                for v in sorted(versions, key=lambda v: int(v.version), reverse=True)]
        table = text_table(["version", "aliases", "commit", "gates", "promoted"], rows)
        alias_text = ", ".join(f"{a} -> v{v}" for a, v in sorted(aliases.items())) or "none"
        return Outcome(f"model {model} at {self.uri}\naliases: {alias_text}\n\n{table}", aliases.get(CHAMPION),
                       {f"alias.{a}": v for a, v in aliases.items()})

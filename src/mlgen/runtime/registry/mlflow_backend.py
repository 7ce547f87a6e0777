"""The MLflow model registry: versions, aliases (`challenger`, `champion`, `previous-champion`).

Aliases replaced MLflow's deprecated stages (2.9). A version's metrics live on the run that
registered it, so a later gate can use the champion's metrics as its baseline. A model directory
holding an `MLmodel` file is an MLflow model, loadable as `models:/<name>@champion`; any other
directory is stored as plain files. Alias transitions live in `mlflow_transitions`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlgen.errors import UserError
from mlgen.runtime import cienv
from mlgen.runtime.gate.rules import Baseline
from mlgen.runtime.registry import CHALLENGER, CHAMPION, Outcome, Promotion, RegisterRequest
from mlgen.runtime.registry.mlflow_transitions import TAG_CANARY, TAG_REGISTERED_BY, Transitions, is_failed
from mlgen.runtime.reports import text_table
from mlgen.runtime.settings import RegistrySettings
from mlgen.runtime.state import registered_version

ARTIFACT_DIR = "model"
TAG_CONTENT = "mlgen.content_sha256"
TAG_FORMAT = "mlgen.format"
TAG_PREDICTIONS = "mlgen.predictions"  # artifact path, in the registering run, of the predictions the gate used
TAG_FINGERPRINT = "mlgen.eval_fingerprint"  # of the evaluation set those predictions were made on
PREDICTIONS_DIR = "mlgen"
MLFLOW_MODEL, PLAIN_FILES = "mlflow-model", "files"  # with the run id, tells a retried register from a new model
# MLflow's own defaults retry for minutes (7 retries, backoff factor 2, 120 s per request) with no
# output; a CI job should fail within a minute and say why. Values the user set are kept.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "10", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
                 "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}


class MlflowRegistry:
    name = "mlflow"

    def __init__(self, settings: RegistrySettings, tracking_uri: str | None) -> None:
        self.uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
        if not self.uri:
            # MLflow would quietly fall back to a local database inside the CI runner and lose the model.
            raise UserError("MLFLOW_TRACKING_URI is not set",
                            hint="set it to your tracking server (e.g. https://mlflow.example.com, or sqlite:///mlflow.db "
                                 "locally) in the spec's `env`, or pass --tracking-uri")
        registry_uri = os.environ.get("MLFLOW_REGISTRY_URI") or self.uri
        if registry_uri.startswith(("http://", "https://")):
            for name, value in HTTP_DEFAULTS.items():
                os.environ.setdefault(name, value)
            print(f"registry: MLflow at {registry_uri} (each request waits up to "
                  f"{os.environ['MLFLOW_HTTP_REQUEST_TIMEOUT']}s, {os.environ['MLFLOW_HTTP_REQUEST_MAX_RETRIES']} "
                  "retries; MLFLOW_HTTP_REQUEST_TIMEOUT and MLFLOW_HTTP_REQUEST_MAX_RETRIES change that)",
                  file=sys.stderr, flush=True)  # stderr: stdout may be data (`show --json`)
        with self._errors():
            from mlflow import MlflowClient

            self.client: Any = MlflowClient(tracking_uri=self.uri, registry_uri=registry_uri)
        self._transitions = Transitions(self, self.uri)

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
                                 "(MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD); every mlgen registry "
                                 "command can be run again: it finishes what a failed one began") from None
        except OSError as exc:
            raise UserError(f"cannot reach the MLflow registry: {exc}", where=self.uri,
                            hint="check MLFLOW_TRACKING_URI and that the server is running") from None

    # --- the store the transitions work on: one request each -------------------------------------

    def aliases(self, model: str) -> dict[str, str] | None:
        """alias -> version, or None when the model was never registered."""
        from mlflow.exceptions import MlflowException

        try:
            registered = self.client.get_registered_model(model)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return {alias: str(version) for alias, version in (registered.aliases or {}).items()}

    def set_alias(self, model: str, alias: str, version: str | None) -> None:
        if version is None:
            self.client.delete_registered_model_alias(model, alias)
        else:
            self.client.set_registered_model_alias(model, alias, version)

    def tags(self, model: str, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(model, version).tags or {})

    def set_tag(self, model: str, version: str, key: str, value: str) -> None:
        self.client.set_model_version_tag(model, version, key, value)

    # --- operations ---------------------------------------------------------------------------

    def register(self, request: RegisterRequest) -> Outcome:
        kind = model_format(request.path)
        with self._errors():
            tags = {**request.tags, TAG_CONTENT: content_digest(request.path), TAG_FORMAT: kind}
            if request.predictions is not None:
                tags[TAG_PREDICTIONS] = f"{PREDICTIONS_DIR}/{request.predictions.name}"
                tags[TAG_FINGERPRINT] = request.fingerprint
            existing = self._same_registration(request.model, tags)
            if existing is not None:  # a retried register job: reuse the version, never make a second one
                number, run_id, source = str(existing.version), str(existing.run_id), str(existing.source)
            else:
                run_id, artifact_uri = self._log_run(request)
                self._ensure_model(request.model)
                source = f"{artifact_uri}/{ARTIFACT_DIR}"
                version = self.client.create_model_version(request.model, source=source, run_id=run_id, tags=tags)
                number = str(version.version)
            self.client.set_registered_model_alias(request.model, request.alias, number)
        again = " (already registered by this run)" if existing is not None else ""
        summary = (f"registered {request.model} version {number} with alias `{request.alias}` (run {run_id}, "
                   f"{'an MLflow model' if kind == MLFLOW_MODEL else 'plain files'}){again}")
        if kind != MLFLOW_MODEL:
            summary += (f"\nnote: {request.path} has no MLmodel file, so mlflow.pyfunc.load_model('models:/"
                        f"{request.model}@{CHAMPION}') cannot load it; save the model with mlflow.<flavor>.save_model "
                        "(e.g. mlflow.sklearn.save_model) to make it an MLflow model")
        return Outcome(summary, number, {"run_id": run_id, "source": source})

    def _same_registration(self, model: str, tags: dict[str, str]) -> Any | None:
        """The version this CI run already registered from the same files, if a crash cut it short."""
        run = tags.get(TAG_REGISTERED_BY)
        if not run or "'" in run or self.aliases(model) is None:
            return None
        query = f"name = '{model}' and tags.`{TAG_REGISTERED_BY}` = '{run}' and tags.`{TAG_CONTENT}` = '{tags[TAG_CONTENT]}'"
        found = [v for v in self.client.search_model_versions(query) if not is_failed(dict(v.tags or {}))]
        return max(found, key=lambda v: int(v.version)) if found else None

    def _log_run(self, request: RegisterRequest) -> tuple[str, str]:
        experiment = self._experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME") or f"mlgen-{request.model}")
        tags = {"mlflow.runName": f"register-{request.model}", **request.tags}
        if "mlgen.commit" in request.tags:
            tags["mlflow.source.git.commit"] = request.tags["mlgen.commit"]
        run = self.client.create_run(experiment, tags=tags)
        run_id = run.info.run_id
        try:
            self.client.log_artifacts(run_id, str(request.path), ARTIFACT_DIR)
            if request.predictions is not None:
                self.client.log_artifact(run_id, str(request.predictions), PREDICTIONS_DIR)
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
        if self.aliases(model) is None:
            self.client.create_registered_model(model, description="Registered by mlgen.")

    def promote(self, model: str, from_alias: str, run_id: str | None, version: str | None = None) -> Promotion:
        with self._errors():
            return self._transitions.promote(model, from_alias, run_id, version)

    def rollback(self, model: str, version: str | None = None) -> Outcome:
        with self._errors():
            return self._transitions.rollback(model, cienv.run_id(os.environ), version)

    def undo_promotion(self, model: str, run_id: str | None, record: Promotion | None,
                       from_alias: str = CHALLENGER, version: str | None = None) -> Outcome:
        # Without a CI run id only this workspace's records can say which version is ours; the
        # version registered last is newer than an earlier promotion's record.
        recorded = record.version if record is not None and record.model == model else None
        with self._errors():
            return self._transitions.undo(model, run_id, from_alias, registered_version(model) or recorded, version)

    def baseline(self, model: str, alias: str) -> Baseline:
        ref = f"{model}@{alias}"
        with self._errors():
            aliases = self.aliases(model)
            if aliases is None:
                return Baseline("registry", ref, None, f"model `{model}` is not registered yet")
            version = aliases.get(alias)
            if version is None:
                return Baseline("registry", ref, None, f"no version of `{model}` holds the alias `{alias}` yet")
            run_id = self.client.get_model_version(model, version).run_id
            metrics = dict(self.client.get_run(run_id).data.metrics) if run_id else {}
        return Baseline("registry", f"{ref} (version {version})", metrics)

    def baseline_predictions(self, model: str, alias: str, folder: Path) -> tuple[Path | None, str]:
        with self._errors():
            version = (self.aliases(model) or {}).get(alias)
            if version is None:
                return None, f"no version of `{model}` holds the alias `{alias}`"
            found = self.client.get_model_version(model, version)
            stored = dict(found.tags or {}).get(TAG_PREDICTIONS)
            if not stored or not found.run_id:
                return None, f"{model} version {version} ({alias}) was registered without predictions"
            import mlflow.artifacts

            folder.mkdir(parents=True, exist_ok=True)
            local = mlflow.artifacts.download_artifacts(run_id=found.run_id, artifact_path=stored, dst_path=str(folder),
                                                        tracking_uri=self.uri)
        return Path(local), ""

    def fetch_model(self, model: str, alias: str, folder: Path) -> tuple[Path | None, str]:
        with self._errors():
            version = (self.aliases(model) or {}).get(alias)
            if version is None:
                return None, f"no version of `{model}` holds the alias `{alias}`"
            source = str(self.client.get_model_version(model, version).source)
            import mlflow.artifacts

            folder.mkdir(parents=True, exist_ok=True)
            local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(folder), tracking_uri=self.uri)
        return Path(local), ""

    def show(self, model: str) -> Outcome:
        with self._errors():
            aliases = self.aliases(model)
            if aliases is None:
                raise UserError(f"model `{model}` is not registered", where=self.uri)
            versions = self.client.search_model_versions(f"name = '{model}'")
        by_version: dict[str, list[str]] = {}
        for alias, version in aliases.items():
            by_version.setdefault(version, []).append(alias)
        rows = [[str(v.version), ", ".join(sorted(by_version.get(str(v.version), []))) or "-",
                 (v.tags or {}).get("mlgen.commit", "-")[:12], (v.tags or {}).get("mlgen.gates", "-"),
                 (v.tags or {}).get("mlgen.promoted_at", "-"), (v.tags or {}).get(TAG_CANARY, "-")]
                for v in sorted(versions, key=lambda v: int(v.version), reverse=True)]
        table = text_table(["version", "aliases", "commit", "gates", "promoted", "canary"], rows)
        alias_text = ", ".join(f"{a} -> v{v}" for a, v in sorted(aliases.items())) or "none"
        return Outcome(f"model {model} at {self.uri}\naliases: {alias_text}\n\n{table}", aliases.get(CHAMPION),
                       {f"alias.{a}": v for a, v in aliases.items()})


def content_digest(path: Path) -> str:
    """sha256 over the directory's relative file names and bytes: the same files give the same digest."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        # name and size first, so that no two different directories hash the same byte stream
        digest.update(f"{file.relative_to(path).as_posix()}\0{file.stat().st_size}\0".encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def model_format(path: Path) -> str:
    """`mlflow-model` for a directory MLflow can load (it has a valid MLmodel file), else `files`."""
    if not (path / "MLmodel").is_file():
        return PLAIN_FILES
    from mlflow.models import Model

    try:
        flavors = Model.load(str(path / "MLmodel")).flavors
    except Exception as exc:  # noqa: BLE001 - YAML, MLflow or type errors: whatever the reason, the file is unusable
        raise UserError(f"this MLmodel file cannot be read: {str(exc).splitlines()[0][:300]}", where=str(path / "MLmodel"),
                        hint="write the model with mlflow.<flavor>.save_model, or remove MLmodel to store plain files") from None
    if not flavors:
        raise UserError("this MLmodel file names no flavor, so MLflow cannot load the model", where=str(path / "MLmodel"),
                        hint="write the model with mlflow.<flavor>.save_model (e.g. mlflow.sklearn.save_model)")
    return MLFLOW_MODEL

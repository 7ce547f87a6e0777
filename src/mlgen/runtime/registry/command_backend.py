"""A registry driven by the user's own shell templates, for registries mlgen does not know.

Placeholders such as `{model}` are substituted shell-quoted; the same values are exported as
MLGEN_* variables for scripts. Conventions: `register` and `promote` may print the version on
their last line; `baseline` prints the metrics as a JSON object, or nothing when no version
holds the alias yet. `{version}` is the version this workspace registered (promote) or
promoted (rollback), as far as mlgen recorded it, and empty otherwise.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

from mlgen.errors import UserError
from mlgen.runtime import shell
from mlgen.runtime.gate.metrics import flatten
from mlgen.runtime.gate.rules import Baseline
from mlgen.runtime.registry import CHALLENGER, CHAMPION, Outcome, Promotion, RegisterRequest
from mlgen.runtime.settings import REGISTRY_OPERATIONS, RegistrySettings, command_flag
from mlgen.runtime.state import registered_version

FLAG = {op: command_flag(op) for op in REGISTRY_OPERATIONS}


class CommandRegistry:
    name = "command"

    def __init__(self, settings: RegistrySettings, tracking_uri: str | None) -> None:
        self.commands = settings.commands

    def _run(self, operation: str, values: Mapping[str, str], *, capture: bool) -> str:
        """Run one template; its output is echoed unless `capture` (the baseline's JSON is data, not log)."""
        template = getattr(self.commands, operation)
        if not template:
            raise UserError(f"the command registry has no `{operation}` command",
                            hint=f"set `command.{operation}` in the register stage, or pass {FLAG[operation]}")
        command = shell.fill_template(template, values, where=f"registry {operation} command")
        env = {f"MLGEN_{k.upper()}": v for k, v in values.items()}
        print(f"registry: running the {operation} command", flush=True)
        done = shell.run(command, env=env, capture=True)
        if not capture and done.output:
            print(done.output.rstrip("\n"), flush=True)
        if done.code != 0:
            raise UserError(f"the registry {operation} command failed with exit code {done.code}",
                            where=template, hint="its output:\n" + shell.tail(done.output))
        return done.output

    def register(self, request: RegisterRequest) -> Outcome:
        values = {"model": request.model, "path": str(request.path), "alias": request.alias,
                  "commit": request.tags.get("mlgen.commit", ""), "run_url": request.tags.get("mlgen.run_url", ""),
                  "gate_results": str(request.gate_results or "")}
        version = _last_line(self._run("register", values, capture=False))
        shown = f" version {version}" if version else ""
        stored = self.store_predictions(request.model, version, request)
        return Outcome(f"registered {request.model}{shown} with alias `{request.alias}` (command registry)"
                       + (f"\n{stored}" if stored else ""), version)

    def promote(self, model: str, from_alias: str, run_id: str | None, version: str | None = None) -> Promotion:
        values = {"model": model, "from_alias": from_alias, "alias": CHAMPION, "run_id": run_id or "",
                  "version": version or registered_version(model)}
        printed = _last_line(self._run("promote", values, capture=False))
        return Promotion(model, printed or values["version"] or None, None, run_id, self.name)

    def rollback(self, model: str, version: str | None = None) -> Outcome:
        self._run("rollback", {"model": model, "alias": CHAMPION, "version": version or ""}, capture=False)
        return Outcome(f"rolled back {model} (command registry)")

    def undo_promotion(self, model: str, run_id: str | None, record: Promotion | None,
                       from_alias: str = CHALLENGER, version: str | None = None) -> Outcome:
        # A command registry cannot be asked who promoted the champion; only our own record can tell.
        # A promotion that began but did not finish is undone too (the record is written before the
        # promote command runs): the rollback command gets {version} and must not mind a no-op.
        begun = record is not None and (record.changed or not record.complete)
        if record is None or record.model != model or record.registry != self.name or not begun:
            return Outcome("registry: left unchanged (no record that this run promoted a model)")
        self.rollback(model, version or record.version)
        return Outcome(f"registry: undid this run's promotion of {model}")

    def baseline(self, model: str, alias: str) -> Baseline:
        ref = f"{model}@{alias}"
        output = self._run("baseline", {"model": model, "alias": alias}, capture=True).strip()
        if not output:
            return Baseline("registry", ref, None, f"the baseline command printed nothing: no version holds `{alias}`")
        try:
            data = json.loads(output)
        except json.JSONDecodeError as exc:
            raise UserError(f"the baseline command printed something that is not JSON ({exc.msg})",
                            where=self.commands.baseline or "", hint="print one JSON object of metrics, or nothing") from None
        if not isinstance(data, dict):
            raise UserError("the baseline command must print a JSON object of metrics", where=self.commands.baseline or "")
        return Baseline("registry", ref, flatten(data))

    def baseline_predictions(self, model: str, alias: str, folder: Path) -> tuple[Path | None, str]:
        if not self.commands.baseline_predictions:
            return None, "the command registry has no `baseline_predictions` command"
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / "predictions"
        out.unlink(missing_ok=True)
        self._run("baseline_predictions", {"model": model, "alias": alias, "out": str(out)}, capture=False)
        if not out.is_file():
            return None, f"the baseline_predictions command wrote nothing: {model}@{alias} has no stored predictions"
        return out, ""

    def fetch_model(self, model: str, alias: str, folder: Path) -> tuple[Path | None, str]:
        if not self.commands.fetch_model:
            return None, "the command registry has no `fetch_model` command"
        out = folder / "model"
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        self._run("fetch_model", {"model": model, "alias": alias, "out": str(out)}, capture=False)
        if not out.is_dir() or not any(out.iterdir()):
            return None, f"the fetch_model command wrote no files to {out}: no version holds `{alias}`"
        return out, ""

    def store_predictions(self, model: str, version: str | None, request: RegisterRequest) -> str:
        if request.predictions is None:
            return ""
        if not self.commands.store_predictions:
            return "note: predictions not stored (the command registry has no `store_predictions` command)"
        self._run("store_predictions", {"model": model, "version": version or "", "predictions": str(request.predictions),
                                        "fingerprint": request.fingerprint}, capture=False)
        return f"stored the predictions of version {version or '?'} (evaluation set {request.fingerprint[:12]})"

    def show(self, model: str) -> Outcome:
        raise UserError("the command registry cannot list versions", hint="use your registry's own tools")


def _last_line(output: str) -> str | None:
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    return lines[-1] if lines and len(lines[-1]) <= 100 and " " not in lines[-1] else None


"""`mlgen report --registered`: the register job links the version it registered.

A record present gives a link (MLflow over http(s)) or the name and version as text (any other
tracking URI, a command registry); a record absent gives neither, and never fails the job.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgen.layout import REGISTERED_REPORT
from mlgen.runtime import reports
from mlgen.runtime.report import registered
from tests.support import Result

Run = Callable[..., Result]
RECORD = ".mlgen/registered-churn.json"


def _record(version: str | None = "7", registry: str = "mlflow", model: str = "churn") -> None:
    reports.write_json(Path(RECORD), {"model": model, "version": version, "alias": "challenger", "registry": registry})


def _registered(runtime: Run, monkeypatch: pytest.MonkeyPatch, uri: str | None) -> tuple[Result, dict[str, str]]:
    if uri is not None:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    done = runtime("report", "--stage", "evaluate", "--pipeline", "churn", "--registered", RECORD)
    files = {Path(p).suffix: Path(p).read_text(encoding="utf-8") for p in REGISTERED_REPORT}
    return done, files


# tracking URI -> the page a reviewer opens (None: there is none, so no link at all)
URIS: dict[str, str | None] = {
    "https://mlflow.example.com": "https://mlflow.example.com/#/models/churn/versions/7",
    "https://mlflow.example.com/": "https://mlflow.example.com/#/models/churn/versions/7",
    "http://127.0.0.1:5000/mlflow/": "http://127.0.0.1:5000/mlflow/#/models/churn/versions/7",
    # credentials in the URI never reach a comment; the client's query neither
    "https://bot:s3cret@mlflow.example.com:8443/?x=1": "https://mlflow.example.com:8443/#/models/churn/versions/7",
    "http://[::1]:5000": "http://[::1]:5000/#/models/churn/versions/7",
    "sqlite:///mlflow.db": None,
    "file:///tmp/mlruns": None,
    "databricks": None,
    "./mlruns": None,
    "https://": None,
    "http://host:notaport": None,
    "": None,
}


@pytest.mark.parametrize("uri", list(URIS))
def test_a_record_gives_a_link_only_where_mlflow_has_a_page(runtime: Run, monkeypatch: pytest.MonkeyPatch, uri: str) -> None:
    _record()
    done, files = _registered(runtime, monkeypatch, uri)
    assert done.code == 0, done
    url = URIS[uri]
    data = json.loads(files[".json"])
    assert data["url"] == url and data["version"] == "7" and data["model"] == "churn"
    if url is None:
        assert "](" not in files[".md"] and "`churn version 7`" in files[".md"]  # text, never a broken link
        assert "no page to link" in done.out
    else:
        assert f"[churn version 7]({url})" in files[".md"]
        assert "s3cret" not in files[".md"] + files[".json"] + done.out
    assert files[".txt"] == "registered churn version 7\n"


def test_a_command_registry_is_named_as_text_even_beside_an_mlflow_server(runtime: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    _record(registry="command")
    done, files = _registered(runtime, monkeypatch, "https://mlflow.example.com")
    assert done.code == 0
    assert "](" not in files[".md"] and "`churn version 7`" in files[".md"]
    assert json.loads(files[".json"])["url"] is None


@pytest.mark.parametrize("state", ["absent", "no version", "damaged"])
def test_no_record_no_link_and_the_job_still_passes(runtime: Run, monkeypatch: pytest.MonkeyPatch, state: str) -> None:
    if state == "no version":
        _record(version=None, registry="command")
    elif state == "damaged":
        Path(RECORD).parent.mkdir(parents=True)
        Path(RECORD).write_text("{not json", encoding="utf-8")
    done, files = _registered(runtime, monkeypatch, "https://mlflow.example.com")
    assert done.code == 0, done
    assert "http" not in files[".md"] and "No registered version to link" in files[".md"]
    assert "missing" in json.loads(files[".json"])
    assert files[".txt"] == "\n"  # an empty line: Jenkins adds nothing to the description


def test_the_github_summary_gets_the_section(runtime: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    _record()
    done, files = _registered(runtime, monkeypatch, "https://mlflow.example.com")
    assert done.code == 0 and summary.read_text(encoding="utf-8").strip() == files[".md"].strip()
    assert not Path(".mlgen/report/report.md").exists()  # the register job adds to the report; it does not rewrite it


@pytest.mark.parametrize("case", ["link", "text", "absent"])
def test_snapshot(runtime: Run, monkeypatch: pytest.MonkeyPatch, snapshot: Any, case: str) -> None:
    if case != "absent":
        _record()
    _, files = _registered(runtime, monkeypatch, "https://mlflow.example.com" if case == "link" else "sqlite:///m.db")
    assert files[".md"] == snapshot


@given(model=st.text(min_size=1, max_size=30), version=st.text(min_size=1, max_size=8))
def test_any_name_stays_inside_its_link(model: str, version: str) -> None:
    url = registered.model_version_url("https://mlflow.example.com", model, version)
    assert url is not None
    prefix = "https://mlflow.example.com/#/models/"
    assert url.startswith(prefix)
    name, _, rest = url[len(prefix):].partition("/versions/")
    assert "/" not in name and "/" not in rest  # the name and version each stay one path segment
    assert not any(c in url for c in " ()<>[]\n")  # nothing that ends a Markdown link or a line

"""What keeps a large compile fast without changing its output: the collector paused, no runtime
imports, report graphs drawn once and escaped in one pass.

The speed itself is measured by benchmarks/run.py (a ratio, never a timed test); these tests hold
the mechanisms and their edges: the collector comes back after a compile that fails, and the
shortcuts give what the code they replace gives.
"""

from __future__ import annotations

import gc
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen.compile import calls, compiler, graphviews
from mlgen.runtime.state import registered_path
from tests.support import EXAMPLES


def test_the_compile_runs_with_the_collector_paused_and_restores_it(tmp_path: Path, cli,  # type: ignore[no-untyped-def]
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(EXAMPLES / "quickstart" / "mlgen.yaml", tmp_path / "mlgen.yaml")
    monkeypatch.chdir(tmp_path)
    seen: list[bool] = []
    real = compiler.compile_pipeline

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(compiler, "compile_pipeline", spy)
    assert gc.isenabled()
    assert cli("compile").code == 0
    assert seen == [False] and gc.isenabled()


def test_a_failing_compile_restores_the_collector(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "mlgen.yaml").write_text(
        "version: 1\nname: x\nstages:\n  - {name: train, kind: train, run: 'true'}\n"
        "targets:\n  jenkins: {path: Jenkinsfile, overrides: {train: {steps: []}}}\n")
    monkeypatch.chdir(tmp_path)
    assert cli("compile").code == 1 and gc.isenabled()
    assert cli("check").code == 1 and gc.isenabled()


def test_a_collector_the_caller_disabled_stays_disabled(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    shutil.copy(EXAMPLES / "quickstart" / "mlgen.yaml", tmp_path / "mlgen.yaml")
    monkeypatch.chdir(tmp_path)
    gc.disable()
    try:
        assert cli("compile", "--stdout").code == 0
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_compile_imports_none_of_the_registry_and_gate_runtime(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "churn", tmp_path / "churn")
    probe = ("import sys; from mlgen.__main__ import main; code = main(['compile', '--stdout']); "
             "print(code, sorted(m for m in sys.modules if m.startswith(('mlgen.runtime.state', "
             "'mlgen.runtime.registry', 'mlgen.runtime.gate', 'mlgen.runtime.reports'))))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path / "churn", capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines()[-1] == "0 []", done.stderr


class _Registry:
    kind = "mlflow"
    register = object()

    def __init__(self, model: str) -> None:
        self.model = model


@pytest.mark.parametrize("model", ["m", "churn-model", "org/model", "a//b", "m/", "./m", "m.v2", "é"])
def test_the_registered_record_is_the_path_the_runtime_writes(model: str) -> None:
    assert calls.registered_record(_Registry(model)) == registered_path(model).as_posix()  # type: ignore[arg-type]


_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 _./=,()+@~*-")


def _mermaid_text_by_definition(text: str) -> str:
    return "".join(ch if ch in _SAFE else f"#{ord(ch)};" for ch in text)


@settings(max_examples=500, deadline=None)
@given(st.text() | st.text(alphabet=st.sampled_from(sorted(_SAFE) + ['"', "#", ";", "\n", "\\", "<", ">", "|", "é", "\U0001f600"])))
def test_mermaid_labels_escape_exactly_the_characters_outside_the_safe_set(text: str) -> None:
    assert graphviews.mermaid_text(text) == _mermaid_text_by_definition(text)


def test_a_report_graph_is_drawn_once_per_plan_and_job_and_reads_the_same(tmp_path: Path) -> None:
    from benchmarks.genspec import spec
    from mlgen import __version__
    from mlgen.compile import plan as plans
    from mlgen.spec.load import load

    path = tmp_path / "mlgen.yaml"
    path.write_text(spec(90), encoding="utf-8")
    the_plan = plans.build(load(path)[1], __version__, None)
    reports = [job.id for job in the_plan.jobs if job.report is not None]
    first = [graphviews.mermaid(the_plan, around=j) for j in reports]
    assert [graphviews.mermaid(the_plan, around=j) for j in reports] == first
    assert all(f"n{the_plan.jobs.index(the_plan.job(j))}[" in g for j, g in zip(reports, first, strict=True))
    assert len(graphviews._indexed(the_plan).drawn) == len(reports)
    assert graphviews.mermaid(the_plan, around=reports[0], limit=1000) == graphviews.mermaid(the_plan)


def test_reading_a_spec_leaves_none_of_its_nodes_to_the_cycle_collector() -> None:
    from ruamel.yaml.nodes import Node

    from benchmarks.genspec import spec
    from mlgen.spec import source

    text = spec(30)
    gc.collect()
    gc.disable()
    try:
        data, _ = source.parse_yaml(text.encode(), "mlgen.yaml")
        left = [o for o in gc.get_objects() if isinstance(o, Node)]
    finally:
        gc.enable()
    assert data["stages"][2]["run"] == "python train.py s2"
    assert left == []


def _plain_by_walk(data: Any) -> bool:
    """The definition: every node a dict with string keys, a list, a str, an int or a bool."""
    todo = [data]
    while todo:
        node = todo.pop()
        if type(node) is dict:
            if any(type(k) is not str for k in node):
                return False
            todo.extend(node.values())
        elif type(node) is list:
            todo.extend(node)
        elif type(node) not in (str, int, bool):
            return False
    return True


_LEAF = st.one_of(st.text(max_size=3), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False), st.tuples(st.integers()))
_DOCS = st.recursive(_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=3), st.integers(), st.booleans()), inner, max_size=3),
), max_leaves=15)


@settings(max_examples=600, deadline=None)
@given(_DOCS)
def test_a_document_is_read_back_as_itself_exactly_when_it_is_plain(data: Any) -> None:
    from mlgen.targets import yamlout

    parsed: list[str] = []
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(yamlout, "load", lambda text: parsed.append(text) or "parsed")
    try:
        got = yamlout.as_read_back(data, "text")
    finally:
        monkeypatch.undo()
    assert (got is data) == _plain_by_walk(data)
    assert parsed == ([] if got is data else ["text"])


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 5 * (1 << 20) // 2])
def test_a_big_config_is_written_byte_exact_in_pieces(tmp_path: Path, size: int) -> None:
    from mlgen.writer import write_all

    pattern = "é\n€ x\U0001f600\r\n"
    text = (pattern * (size // len(pattern) + 1))[:size]
    write_all([(tmp_path / "out.yml", text)])
    assert (tmp_path / "out.yml").read_bytes() == text.encode("utf-8")


@pytest.mark.parametrize("text", ["", "a", "é\n" * 1000, "x" * (1 << 20)])
def test_the_seal_is_the_same_with_or_without_hashlib_loaded(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from mlgen.drift import header

    with_openssl = header._digest(text)
    monkeypatch.delitem(sys.modules, "hashlib")
    assert header._digest(text) == with_openssl == hashlib.sha256(text.encode()).hexdigest()

"""JUnit XML stays well-formed whatever text reaches it (names, messages, details, suite names)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from xml.dom import minidom
from xml.etree import ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from mlgen.runtime.data.command import main
from mlgen.runtime.reports import Case, junit_xml, xml_safe

# Any code point, lone surrogates and C0/C1 controls included: what undecodable bytes or a hostile
# CSV header can put into a Python string.
ANY_TEXT = st.text(st.characters(codec=None, categories=None), max_size=40)
XML_CHAR = re.compile(r"[\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def parse_strictly(xml: str) -> ET.Element:
    data = xml.encode("utf-8")  # what the writer puts on disk; a lone surrogate would raise here
    minidom.parseString(data)  # a second, independent parser
    return ET.fromstring(data)


def as_text_node(text: str) -> str:
    """XML parsers normalise line ends in text content (attributes keep CR as &#13;)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


@given(st.lists(st.tuples(ANY_TEXT, ANY_TEXT, st.sampled_from(["passed", "failed", "skipped"]), ANY_TEXT, ANY_TEXT),
                max_size=4), ANY_TEXT)
def test_any_text_gives_xml_a_strict_parser_accepts(raw: list[tuple[str, str, Any, str, str]], suite: str) -> None:
    cases = [Case(*fields) for fields in raw]
    root = parse_strictly(junit_xml(suite, cases))
    node = root.find("testsuite")
    assert node is not None and node.get("name") == xml_safe(suite)
    for case, element in zip(cases, node.iter("testcase"), strict=True):
        assert element.get("name") == xml_safe(case.name)
        assert element.get("classname") == xml_safe(case.classname)
        if case.status == "failed":
            failure = element.find("failure")
            assert failure is not None and failure.get("message") == xml_safe(case.message)
            assert (failure.text or "") == as_text_node(xml_safe(case.details or case.message))
        elif case.status == "skipped":
            skipped = element.find("skipped")
            assert skipped is not None and skipped.get("message") == xml_safe(case.message)


@given(ANY_TEXT)
def test_text_xml_can_hold_is_kept_and_the_rest_is_visible(text: str) -> None:
    safe = xml_safe(text)
    assert all(XML_CHAR.fullmatch(c) for c in safe)
    if all(XML_CHAR.fullmatch(c) for c in text):
        assert safe == text  # nothing XML allows is touched
    else:
        assert "\\x" in safe or "\\u" in safe  # the reader sees that something was there


def test_control_character_in_a_csv_header_keeps_the_report_valid(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text('strict: true\ncolumns:\n  "a\\x01b": {dtype: int}\n')
    (tmp_path / "d.csv").write_text("a\x01b,x\x1bz\n1,2\n")
    assert main(["--contract", "c.yaml", "--junit", "r.xml", "d.csv"]) == 1  # x<ESC>z is not in the contract
    root = parse_strictly((tmp_path / "r.xml").read_text(encoding="utf-8"))
    names = {c.get("name") for c in root.iter("testcase")}
    assert {"a\\x01b: dtype", "x\\x1bz: strict"} <= names


def test_control_character_in_a_metric_name_keeps_the_gate_report_valid(tmp_path: Path) -> None:
    from mlgen.runtime.cli import main as runtime

    (tmp_path / "m.json").write_text('{"au\\u0001c": 0.9}')
    code = runtime(["gate", "--metrics", "m.json", "--gate", "auc:min=0.5", "--junit", "g.xml", "--json", "g.json"])
    assert code == 1  # `auc` is missing; the message names the close match, control character and all
    root = parse_strictly((tmp_path / "g.xml").read_text(encoding="utf-8"))
    failure = root.find(".//failure")
    assert failure is not None and "au\\x01c" in (failure.get("message") or "")

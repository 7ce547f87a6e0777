"""The header module is import-light (it is on `mlgen check`'s fast path) yet writes what urllib and hashlib would."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from urllib.parse import quote, unquote

from hypothesis import given
from hypothesis import strategies as st

from mlgen.drift import header
from tests.support import EXAMPLES, ROOT


@given(st.text())
def test_quote_matches_urllib(text: str) -> None:
    assert header.quote(text) == quote(text)
    assert header.unquote(header.quote(text)) == text == unquote(quote(text))


@given(st.binary())
def test_digest_matches_hashlib_after_crlf_normalisation(data: bytes) -> None:
    assert header.spec_digest(data) == hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200), st.sampled_from(["github", "gitlab", "jenkins"]))
def test_render_parse_round_trip(body: str, target: str) -> None:
    outputs = (("github", "a b/ü.yml"), ("gitlab", ".gitlab-ci.yml"))
    text = header.render(target, body, version="1.0+x", spec="my spec.yaml", spec_bytes=b"x", outputs=outputs, command="mlgen compile")
    parsed = header.parse(text)
    assert parsed is not None and parsed.outputs == outputs and parsed.spec == "my spec.yaml" and parsed.target == target
    assert header.sealed(text) and header.body(text) == body
    assert not header.sealed(text.replace("mlgen compile", "mlgen  compile", 1))


PROBE = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {src!r})
    os.chdir({churn!r})
    before = set(sys.modules)
    from mlgen.__main__ import main
    assert main(["check"]) == 0
    print(" ".join(sorted(set(sys.modules) - before)))
""")


def test_the_fast_path_imports_almost_nothing() -> None:
    # -S: no site, so nothing a .pth file pulls in hides what mlgen itself imports
    probe = PROBE.format(src=str(ROOT / "src"), churn=str(EXAMPLES / "churn"))
    out = subprocess.run([sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    interpreter = {"os", "stat", "_stat", "posixpath", "genericpath", "_collections_abc"}  # loaded by `site` anyway
    assert set(out) - interpreter <= {"__future__", "_sha2", "_sha256", "mlgen", "mlgen.__main__", "mlgen.drift.fast",
                                      "mlgen.drift.header", "mlgen.drift", "mlgen.layout"}, out

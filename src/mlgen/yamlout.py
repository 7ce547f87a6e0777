"""The one YAML factory. Output is deterministic and safe for YAML 1.1 readers."""

from __future__ import annotations

import io
from typing import Any

from mlgen.escape import yaml_needs_quotes


def dump(data: Any) -> str:
    from ruamel.yaml import YAML
    from ruamel.yaml.representer import RoundTripRepresenter
    from ruamel.yaml.scalarstring import LiteralScalarString, SingleQuotedScalarString

    class _Representer(RoundTripRepresenter):
        pass

    def represent_str(rep: Any, value: str) -> Any:
        if "\n" in value and _literal_safe(value):
            return rep.represent_scalar("tag:yaml.org,2002:str", value, style="|")
        if value == "" or yaml_needs_quotes(value):
            return rep.represent_scalar("tag:yaml.org,2002:str", value, style="'")
        return rep.represent_str(value)

    _Representer.add_representer(str, represent_str)
    _Representer.add_representer(dict, RoundTripRepresenter.represent_dict)
    yaml = YAML(typ="rt")
    yaml.Representer = _Representer
    yaml.width = 4096  # never fold long commands: folding changes nothing semantically but hurts diffs
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.default_flow_style = False
    yaml.allow_unicode = True  # keep non-ASCII readable instead of \u escapes; the file is UTF-8
    del LiteralScalarString, SingleQuotedScalarString
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _literal_safe(value: str) -> bool:
    """Block literals cannot carry trailing spaces on lines, tabs after breaks or some controls.

    When they cannot represent the text exactly, the emitter falls back to a quoted scalar.
    """
    if any(line != line.rstrip(" \t") for line in value.split("\n")):
        return False
    if value.startswith((" ", "\n")) or "\r" in value or "\t" in value:
        return False
    return all(ch == "\n" or ch.isprintable() for ch in value)


def load(text: str) -> Any:
    """Parse generated YAML back (validation and tests): plain, safe, YAML 1.2.

    The C parser (ruamel.yaml.clib) is used when present: it is several times faster on the
    large configs of big pipelines, and the resolution rules are ruamel's either way.
    """
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(text)

"""The spec's JSON Schema, generated from the pydantic models (editors use it via the modeline)."""

from __future__ import annotations

import json

from mlgen import layout

LOCAL_PATH = layout.SPEC_SCHEMA


def render() -> str:
    from mlgen.spec.models import Pipeline

    schema = Pipeline.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlgen pipeline spec"
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

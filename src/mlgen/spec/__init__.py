"""The spec: pydantic models, the YAML and Python sources, loading with located problems, the stage graph."""

"""A model directory that is an MLflow model is served by `models:/<name>@champion` after promote."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.runtime.conftest import Result, subprocess_env

Run = Callable[..., Result]

LOAD = textwrap.dedent("""\
    import sys
    import mlflow.pyfunc
    import numpy as np
    model = mlflow.pyfunc.load_model(sys.argv[1])
    print(list(model.predict(np.array([[0.0], [3.0]]))))
""")


def load_and_predict(uri: str, server: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """As a serving process would: a fresh interpreter that knows only the tracking server."""
    env = subprocess_env({"MLFLOW_TRACKING_URI": server, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    return subprocess.run([sys.executable, "-c", LOAD, uri], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


# mlflow.pyfunc warns about its own type hints when first imported; not ours to fix.
@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
def test_an_mlflow_model_is_loadable_from_the_champion_alias(runtime: Run, tmp_path: Path, mlflow_server: str) -> None:
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    fitted = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1]))
    mlflow.sklearn.save_model(fitted, str(tmp_path / "model"))
    name = f"tiny-{uuid.uuid4().hex[:8]}"
    server = ("--model", name, "--tracking-uri", mlflow_server)
    registered = runtime("registry", "register", "--path", "model", *server)
    assert registered.code == 0, registered.err
    assert "(run " in registered.out and "an MLflow model)" in registered.out and "note:" not in registered.out
    assert runtime("registry", "promote", *server).code == 0

    loaded = load_and_predict(f"models:/{name}@champion", mlflow_server, tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip().replace("np.int64(", "").replace(")", "") == "[0, 1]"


def test_plain_files_still_register_and_say_how_to_make_an_mlflow_model(runtime: Run, tmp_path: Path,
                                                                        mlflow_uri: str) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"\x00\x01")
    result = runtime("registry", "register", "--model", "churn", "--path", "model")
    assert result.code == 0
    assert "plain files)" in result.out
    assert "has no MLmodel file, so mlflow.pyfunc.load_model('models:/churn@champion') cannot load it" in result.out
    assert "mlflow.sklearn.save_model" in result.out


@pytest.mark.parametrize(("content", "message"), [
    ("flavors: [\n", "model/MLmodel: this MLmodel file cannot be read"),
    ("artifact_path: model\n", "model/MLmodel: this MLmodel file names no flavor, so MLflow cannot load the model"),
    ("- just\n- a list\n", "model/MLmodel: this MLmodel file cannot be read"),
])
def test_a_broken_mlmodel_file_is_a_user_error(runtime: Run, tmp_path: Path, mlflow_uri: str, content: str,
                                               message: str) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "MLmodel").write_text(content)
    result = runtime("registry", "register", "--model", "churn", "--path", "model")
    assert result.code == 1, result.err
    assert message in result.err and "hint:" in result.err

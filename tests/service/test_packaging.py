"""The README installs the service with `pip install -e ".[server]"`; everything a documented route
needs must come with that extra (GET /v1/model-versions/{id}/download?format=onnx imports onnx)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_server_extra_brings_what_the_documented_routes_import():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    server = _names(extras["server"])
    assert "onnx" in server, "ONNX download (format=onnx) imports onnx; add it to the [server] extra"
    assert {"fastapi", "uvicorn", "python-multipart", "sqlalchemy", "alembic", "cryptography"} <= server

"""One exception type for every expected failure, turned into `{"detail": ...}` JSON by app.py."""

from __future__ import annotations

from typing import Any

BRIEF_CHARS = 100


class ApiError(Exception):
    """An error the client caused (or may retry), with its HTTP status and a message for the client."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


def brief(value: Any, limit: int = BRIEF_CHARS) -> str:
    """repr(value) for an error message, cut short: a client's 100,000-item list is not echoed back whole."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def clip(text: str, limit: int = 4 * BRIEF_CHARS) -> str:
    """A message that may quote client input (a loader's or validator's), cut short for the answer."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def not_found(kind: str, object_id: str) -> ApiError:
    # Same answer whether the object does not exist or belongs to another tenant: no existence leak.
    return ApiError(404, f"{kind} {brief(object_id)} not found")


def failure_reason(exc: BaseException, data_dir) -> str:
    """A job's stored error for `exc`: its type and message, with the server's data folder (and
    the temp folder) replaced by placeholders: the tenant sees why, not where files live."""
    import tempfile

    text = f"{type(exc).__name__}: {exc}"
    for folder, placeholder in ((str(data_dir), "<data>"), (tempfile.gettempdir(), "<tmp>")):
        if len(folder) > 1:
            text = text.replace(folder, placeholder)
    return text if len(text) <= 2000 else text[:2000] + "..."


"""Multipart uploads streamed straight to private temp files, with a byte limit (413) enforced while reading.

Authentication comes first (auth_gate.AuthGate, before any route runs) and the whole body's bytes are
counted against the upload limit as they stream (app._BodyLimit), so an anonymous client never gets its
body read and no form, epilogue included, is read past the limit.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from .errors import ApiError

MAX_FIELD_BYTES = 10_000  # plain text form fields (name, label_column, ...)
MAX_PARTS = 16  # a dataset form has 8 known parts; thousands of parts would be thousands of temp files
# What a whole form body may hold beyond its parts' data (field values, part headers, boundaries): the
# body limit (app._BodyLimit) is the upload limit plus this.
FORM_OVERHEAD = MAX_PARTS * (MAX_FIELD_BYTES + 1024)
UPLOAD_TMP = "tmp"  # under the data dir: one private work dir per upload in flight


@dataclass
class UploadedFile:
    path: Path  # server-chosen temp path; the client's filename is kept only as text
    filename: str
    size: int


@dataclass
class Form:
    workdir: Path
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def remove_stale_uploads(tmp_root: Path) -> int:
    """At start: delete the upload work dirs a killed process left behind (they hold the client's data in
    plaintext). One API process owns a data dir, so at start none of them is in use. Returns how many."""
    if not tmp_root.is_dir():
        return 0
    stale = list(tmp_root.iterdir())
    for entry in stale:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return len(stale)


def check_content_length(request: Request, limit: int) -> None:
    raw = request.headers.get("content-length")
    if raw is not None and raw.isdigit() and int(raw) > limit:
        raise ApiError(413, f"upload of {int(raw)} bytes exceeds the limit of {limit} bytes")


async def read_multipart(request: Request, tmp_root: Path, limit: int) -> Form:
    """Parse a multipart/form-data body chunk by chunk; file parts go to disk, never into memory."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise ApiError(415, "expected a multipart/form-data body (fields: file, name, label_column, ...)")
    check_content_length(request, limit)
    tmp_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    form = Form(workdir=Path(tempfile.mkdtemp(dir=tmp_root)))
    total = 0
    cur: dict = {}
    parts = {"count": 0}
    header_name = bytearray()
    header_value = bytearray()

    def on_part_begin() -> None:
        cur.clear()
        cur["headers"] = {}
        parts["count"] += 1
        if parts["count"] > MAX_PARTS:
            raise ApiError(413, f"the form has more than {MAX_PARTS} parts; a dataset upload needs at most 8")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        cur["headers"][bytes(header_name).lower()] = bytes(header_value)
        header_name.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        _, opts = parse_options_header(cur["headers"].get(b"content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        if not name:
            raise ApiError(400, "a multipart part has no name in its Content-Disposition header")
        if name in form.files or name in form.fields:  # which one would count? neither: refuse
            raise ApiError(422, f"multipart part {name!r} was sent more than once; send each part once")
        cur["name"] = name
        if b"filename" in opts:
            filename = opts[b"filename"].decode("utf-8", "replace")
            path = form.workdir / f"part{len(form.files)}"  # never the client's filename
            cur["file"] = open(path, "wb")
            cur["upload"] = UploadedFile(path=path, filename=os.path.basename(filename), size=0)
        else:
            cur["text"] = bytearray()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal total
        chunk = data[start:end]
        total += len(chunk)
        if total > limit:
            raise ApiError(413, f"upload exceeds the limit of {limit} bytes")
        if "file" in cur:
            cur["file"].write(chunk)
            cur["upload"].size += len(chunk)
        else:
            cur["text"].extend(chunk)
            if len(cur["text"]) > MAX_FIELD_BYTES:
                raise ApiError(413, f"form field {cur['name']!r} exceeds {MAX_FIELD_BYTES} bytes")

    def on_part_end() -> None:
        if "file" in cur:
            cur["file"].close()
            form.files[cur["name"]] = cur["upload"]
        elif "text" in cur:
            form.fields[cur["name"]] = cur["text"].decode("utf-8", "replace")

    parser = MultipartParser(params[b"boundary"], callbacks={
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    })
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        if parser.state != MultipartState.END:
            raise ApiError(400, "malformed multipart body: it ended before its closing boundary "
                                "(a truncated upload?); send the whole form")
    except ApiError:
        if "file" in cur and not cur["file"].closed:
            cur["file"].close()
        form.cleanup()
        raise
    except Exception as exc:
        if "file" in cur and not cur["file"].closed:
            cur["file"].close()
        form.cleanup()
        raise ApiError(400, f"malformed multipart body: {exc}") from exc
    return form

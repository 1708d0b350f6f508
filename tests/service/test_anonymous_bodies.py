"""An anonymous client costs the server a few KB whatever it sends: the Authorization header (and the
failed-authentication throttle) is checked before any body is read, for every content type, and the
size limit counts every byte that streams in (chunked bodies, multipart epilogues included).

The server's memory is read from /proc/<pid>/status (VmHWM: the peak resident set since it started, so
a body held for a moment counts as much as one held for good)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from service_support import ADMIN_KEY, MAX_UPLOAD, Server

MiB = 1 << 20


@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    """The README's defaults for the limits (1M predict values -> a JSON limit of ~33 MB, 100 MiB uploads),
    where a 30 MiB JSON body is within the size limit and only authentication can refuse it early."""
    srv = Server(tmp_path_factory.mktemp("anon") / "data", workers=1,
                 extra_env={"AIAAS_MAX_PREDICT_VALUES": "1000000", "AIAAS_MAX_UPLOAD_BYTES": str(100 * MiB)}).start()
    yield srv
    srv.stop()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def raw_request(port: int, head: bytes, chunks, give_up_after_s: float = 3.0) -> tuple[int, dict, float, int]:
    """Send `head` then the body chunks over a plain socket, stopping when the server answers (or stops
    reading for `give_up_after_s`), then read the answer: (status, JSON body, seconds, body bytes sent)."""
    start = time.monotonic()
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head)
        s.settimeout(give_up_after_s)
        try:
            for chunk in chunks:
                s.setblocking(False)
                try:  # an answer already waiting: the server is done with this body
                    if s.recv(1, socket.MSG_PEEK):
                        break
                except BlockingIOError:
                    pass
                finally:
                    s.settimeout(give_up_after_s)
                s.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError, socket.timeout):
            pass  # the server closed the connection or stopped reading: it has answered
        s.settimeout(30)
        data = b""
        while b"\r\n\r\n" not in data:
            part = s.recv(65536)
            if not part:
                break
            data += part
        header, _, body = data.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(int(v) for k, _, v in (ln.partition(":") for ln in lines[1:]) if k.lower() == "content-length")
        while len(body) < length:
            part = s.recv(65536)
            if not part:
                break
            body += part
    return status, json.loads(body[:length]), time.monotonic() - start, sent


def _repeat(block: bytes, total: int):
    for _ in range(total // len(block)):
        yield block


def _chunked(chunks):
    for c in chunks:
        yield b"%x\r\n%s\r\n" % (len(c), c)
    yield b"0\r\n\r\n"


def test_anonymous_json_body_is_refused_before_it_is_read(open_server):
    pid = open_server.proc.pid
    before = peak_rss_mb(pid)
    chunks = [b"["] + [b"1.0," * (MiB // 4)] * 30 + [b"1]"]  # one valid 30 MiB JSON array
    size = sum(map(len, chunks))
    head = (f"POST /v1/tenants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n").encode()
    status, body, seconds, sent = raw_request(open_server.port, head, iter(chunks))
    assert status == 401, body
    assert "missing API key" in body["detail"]
    # the same body under a wrong key, and chunked (no Content-Length at all)
    head = (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer aiaas_not_a_key\r\nTransfer-Encoding: chunked\r\n\r\n")
    status2, body2, seconds2, sent2 = raw_request(open_server.port, head, _chunked(chunks))
    assert status2 == 401 and "invalid API key" in body2["detail"], body2
    grown = peak_rss_mb(pid) - before
    print(f"\n30 MiB anonymous JSON: 401 in {seconds * 1000:.0f} ms after {sent / MiB:.1f} MiB sent; "
          f"wrong key, chunked: 401 in {seconds2 * 1000:.0f} ms after {sent2 / MiB:.1f} MiB; peak RSS +{grown:.1f} MB")
    assert grown < 50, f"the server's peak RSS grew by {grown:.0f} MB for two refused anonymous requests"
    assert seconds < 10 and seconds2 < 10


def test_anonymous_multipart_body_is_refused_before_it_is_read(open_server):
    pid = open_server.proc.pid
    before = peak_rss_mb(pid)
    block = b"x" * MiB
    size = 300 * MiB
    head = (f"POST /v1/tenants HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            f"Content-Length: {size}\r\n\r\n").encode()
    status, body, seconds, sent = raw_request(open_server.port, head, _repeat(block, size))
    assert status == 401, body
    head = (b"POST /v1/datasets HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    status2, body2, seconds2, sent2 = raw_request(open_server.port, head, _chunked(_repeat(block, size)))
    assert status2 == 401, body2
    grown = peak_rss_mb(pid) - before
    print(f"\n300 MiB anonymous multipart: 401 in {seconds * 1000:.0f} ms after {sent / MiB:.1f} MiB sent; "
          f"chunked: 401 in {seconds2 * 1000:.0f} ms after {sent2 / MiB:.1f} MiB; peak RSS +{grown:.1f} MB")
    assert grown < 50, f"the server's peak RSS grew by {grown:.0f} MB for two refused anonymous uploads"
    assert seconds < 10 and seconds2 < 10
    # the server is still fine, and the refusals were answered in the API's shape
    with open_server.client(ADMIN_KEY) as admin:
        assert admin.get("/v1/tenants").status_code == 200


def test_v2_anonymous_bodies_get_the_oip_error_shape(open_server):
    head = (b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000000\r\n\r\n")
    status, body, _, _ = raw_request(open_server.port, head, _repeat(b"0" * MiB, 10 * MiB))
    assert status == 401 and set(body) == {"error"} and "API key" in body["error"], body


def test_a_multipart_epilogue_counts_against_the_upload_limit(server, admin):
    """Bytes after the closing boundary are still bytes the server reads: a chunked form whose epilogue
    runs far past the limit is 413, not a 201 for the small form before it."""
    tid = admin.post("/v1/tenants", json={"name": "epilogue"}).json()["id"]
    key = admin.post(f"/v1/tenants/{tid}/keys", json={"role": "member"}).json()["key"]
    form = (b"--B\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nepi\r\n"
            b"--B\r\nContent-Disposition: form-data; name=\"label_column\"\r\n\r\ny\r\n"
            b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"e.csv\"\r\n\r\n"
            + b"a,y\n" + b"1,0\n2,1\n" * 20 + b"\r\n--B--\r\n")
    head = (f"POST /v1/datasets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: multipart/form-data; boundary=B\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    chunks = [form] + list(_repeat(b"e" * MiB, 4 * MAX_UPLOAD))
    status, body, _, sent = raw_request(server.port, head, _chunked(chunks))
    assert status == 413, body
    assert "limit" in body["detail"], body
    # refused while streaming, not after it all arrived: the client stops well before its 12 MB epilogue
    # (loopback socket buffers can take several MB after the server's last read, hence not a tighter bound)
    assert sent < 3 * MAX_UPLOAD + 2 * MiB
    with server.client(key) as member:
        assert "epi" not in [d["name"] for d in member.get("/v1/datasets").json()]


def test_control_plane_bodies_are_small_even_for_valid_keys(open_server):
    """Only prediction routes carry tensors; a 30 MiB JSON body from an admin to /v1/tenants was parsed
    whole (hundreds of MB) before the route looked at it. Other routes take at most 1 MiB."""
    pid = open_server.proc.pid
    before = peak_rss_mb(pid)
    chunks = [b'{"name": "big", "x": ['] + [b"1.0," * (MiB // 4)] * 30 + [b"1]}"]
    size = sum(map(len, chunks))
    head = (f"POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n").encode()
    status, body, _, _ = raw_request(open_server.port, head, iter(chunks))
    assert status == 413 and "1048576" in body["detail"], body
    head = (f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_KEY}\r\n"
            f"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    status, body, _, _ = raw_request(open_server.port, head, _chunked(chunks))
    assert status == 413 and "limit of 1048576" in body["detail"], body
    grown = peak_rss_mb(pid) - before
    print(f"\n30 MiB JSON from an admin key to /v1/tenants and /v1/jobs: 413, peak RSS +{grown:.1f} MB")
    assert grown < 50
    with open_server.client(ADMIN_KEY) as admin:  # a normal body still works
        assert admin.post("/v1/tenants", json={"name": "small-body"}).status_code == 201

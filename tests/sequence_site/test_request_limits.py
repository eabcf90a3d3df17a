"""Requests that could hurt the web server: oversize bodies, and errors made outside the API's handlers.

The size tests run the real daphne (what `make run` and production run): the guard lives in its
HTTP protocol, where the Django test client never goes.
"""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path

import pytest

from sequence_site import services as site_services
from sequence_site.body_limits import strategy_request_limit, wasm_request_limit
from sequence_site.models import Mode
from tests.sequence_markets.conftest import Daphne

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    daphne = Daphne().start()
    yield daphne
    daphne.stop()


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    sock.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def _post_head(port: int, path: str, extra: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}\r\n".encode()
    )
    return sock


def _send_until_refused(sock: socket.socket, total: int, *, chunked: bool) -> int:
    """Send up to ``total`` body bytes; stop when the server closes. Returns the bytes sent."""
    block = b"A" * (1024 * 1024)
    sent = 0
    try:
        while sent < total:
            sock.sendall(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
            sent += len(block)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except OSError:  # reset or broken pipe: the server stopped listening to this body
        pass
    return sent


def test_unauthenticated_300mb_post_is_refused_before_it_is_read(server: Daphne) -> None:
    pid = server.process.pid
    # Warm the process up (imports, first request) so the baseline is its steady size.
    for _ in range(3):
        sock = _post_head(server.port, "/v1/algos/deploy", "Content-Length: 2\r\n")
        sock.sendall(b"{}")
        assert _read_response(sock)[0] == 401
        sock.close()
    before = _rss_kib(pid)
    size = 300 * MiB
    socks = [_post_head(server.port, "/v1/strategies", f"Content-Length: {size}\r\n") for _ in range(3)]
    for sock in socks:
        status, headers, body = _read_response(sock)  # answered from the headers alone
        assert status == 413
        assert headers["content-type"] == "application/json"
        error = json.loads(body)
        limit = strategy_request_limit().limit_bytes
        assert error["error"] == "payload_too_large" and error["status"] == 413
        assert error["details"] == {"size_bytes": size, "limit_bytes": limit, "size_is_lower_bound": False}
        assert f"{size:,} bytes" in error["message"] and f"{limit:,} bytes" in error["message"]
    # The clients send the 300 MB anyway: thrown away as it arrives, never buffered.
    for sock in socks:
        _send_until_refused(sock, size, chunked=False)
        sock.close()
    grown = _rss_kib(pid) - before
    assert grown < 8 * 1024, f"web process grew by {grown} KiB"
    # Still serving.
    sock = _post_head(server.port, "/v1/algos/deploy", "Content-Length: 2\r\n")
    sock.sendall(b"{}")
    assert _read_response(sock)[0] == 401


def test_chunked_body_is_refused_while_streaming(server: Daphne) -> None:
    pid = server.process.pid
    before = _rss_kib(pid)
    sock = _post_head(server.port, "/v1/deployments", "Transfer-Encoding: chunked\r\n")
    _send_until_refused(sock, 300 * MiB, chunked=True)
    status, _, body = _read_response(sock)
    sock.close()
    assert status == 413
    error = json.loads(body)
    assert error["details"]["size_is_lower_bound"] is True
    assert error["details"]["size_bytes"] > wasm_request_limit().limit_bytes
    assert "more than" in error["message"]
    grown = _rss_kib(pid) - before
    assert grown < 8 * 1024, f"web process grew by {grown} KiB"


@pytest.mark.parametrize(
    "path, extra",
    [
        ("/v1/algos/deploy", {"symbol": "BTC/USD"}),
        ("/v1/deployments", {"symbols": ["BTC-USD"], "name": "big"}),
        ("/v1/bundles", {"name": "big"}),
    ],
)
def test_two_mib_wasm_is_a_413_on_every_upload_endpoint(
    server: Daphne, transactional_db, owner, path: str, extra: dict
) -> None:
    key = site_services.api_key_create(client=owner, mode=Mode.SANDBOX, name="uploader").plaintext
    wasm = b"\0asm\x01\0\0\0" + b"\0" * (2 * MiB)
    body = json.dumps({"wasm_base64": base64.b64encode(wasm).decode(), **extra}).encode()
    sock = _post_head(server.port, path, f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n")
    status, _, answer = _read_response(sock)
    sock.close()
    assert status == 413
    error = json.loads(answer)
    assert error["error"] == "payload_too_large"
    assert error["details"]["size_bytes"] == len(body)
    assert error["details"]["limit_bytes"] == wasm_request_limit().limit_bytes
    assert "1 MiB WASM module" in error["message"]


# -- in the application (Django's test client: what gets past the protocol guard) ---------------


def test_module_just_over_1mib_is_a_413_with_its_real_size(api, owner) -> None:
    wasm = b"\0asm\x01\0\0\0" + b"\0" * MiB
    status, body = api.post(
        "/v1/algos/deploy", json={"symbol": "BTC/USD", "wasm_base64": base64.b64encode(wasm).decode()}
    )
    assert status == 413
    assert body["details"] == {"size_bytes": len(wasm), "limit_bytes": MiB}
    assert f"{len(wasm):,} bytes" in body["message"]


def test_django_request_data_too_big_is_a_json_413(api) -> None:
    # Behind a server without the guard, Django's own 2.5 MiB form cap answers in the API's shape.
    text = base64.b64encode(b"\0" * (3 * MiB)).decode()
    status, body = api.post("/v1/algos/deploy", json={"symbol": "BTC/USD", "wasm_base64": text})
    assert status == 413
    assert (
        body["error"] == "payload_too_large"
        and body["details"]["limit_bytes"] == wasm_request_limit().limit_bytes
    )


def test_dashboard_reports_the_files_real_size(client, owner, django_user_model) -> None:
    user = django_user_model.objects.create_user(username="big", password="pw-big-file-1")
    site_services.client_add_member(client=owner, user=user)
    client.force_login(user)
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = b"\0asm\x01\0\0\0" + b"\0" * (2 * MiB)
    response = client.post(
        "/algos/upload/", {"wasm": SimpleUploadedFile("algo_btc_usd.wasm", data), "symbol": "BTC/USD"}
    )
    assert response.status_code == 400
    assert f"{len(data):,} bytes" in response.content.decode()


def test_405_is_json_and_keeps_allow(api) -> None:
    status, body = api.delete("/v1/health")
    assert status == 405
    assert body["error"] == "method_not_allowed" and body["details"]["allowed"] == ["GET"]


@pytest.mark.parametrize("path", ["/v1/%0A", "/v1/algos/%0A/x/y", "/v1/nope"])
def test_odd_paths_are_json_404(anon_api, path: str) -> None:
    status, body = anon_api.get(path)
    assert status == 404 and body["error"] == "not_found"


def test_empty_multipart_is_a_json_400(api) -> None:
    status, body = api.post("/v1/strategies", data=b"", content_type="multipart/form-data")
    assert status == 400 and body["status"] == 400
    status, body = api.post("/v1/strategies", data=b"", content_type="multipart/form-data; boundary=xyz")
    assert status == 400 and body["status"] == 400


def test_openapi_documents_the_errors(anon_api) -> None:
    status, schema = anon_api.get("/v1/openapi.json")
    assert status == 200
    deploy = schema["paths"]["/v1/algos/deploy"]["post"]["responses"]
    for code in ("400", "401", "413"):
        assert deploy[code]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorOut"
        }
    detail = schema["paths"]["/v1/deployments/{deployment_id}"]["get"]["responses"]
    assert {"401", "404"} <= set(detail)
    assert "401" not in schema["paths"]["/v1/health"]["get"]["responses"]
    assert "ErrorOut" in schema["components"]["schemas"]

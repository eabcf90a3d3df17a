"""The stdlib websocket client: the protocol against a scripted raw-socket server (masking, lengths,
fragments, ping/pong, close codes, drops, timeouts, TLS), then against the real log consumer in daphne."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import socket
import ssl
import struct
import threading
from collections.abc import Callable

import pytest

from sequence_markets.ws import (
    WebSocketClosed,
    WebSocketError,
    WebSocketHandshakeError,
    connect,
    encode_frame,
)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Peer:
    """The server side of one connection, written against the RFC by hand."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.request = b""

    def read_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
        return data

    def handshake(self, *, accept: str | None = None, status: str = "101 Switching Protocols") -> None:
        while b"\r\n\r\n" not in self.request:
            self.request += self.sock.recv(4096)
        headers = dict(
            (k.strip().lower(), v.strip())
            for k, _, v in (line.partition(":") for line in self.request.decode().split("\r\n")[1:] if line)
        )
        key = headers["sec-websocket-key"]
        good = base64.b64encode(hashlib.sha1((key + GUID).encode(), usedforsecurity=False).digest()).decode()
        if not status.startswith("101"):
            self.sock.sendall(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())
            return
        self.sock.sendall(
            f"HTTP/1.1 {status}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept or good}\r\n\r\n".encode()
        )

    def send(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        self.sock.sendall(encode_frame(opcode, payload, mask=False, fin=fin))

    def recv(self) -> tuple[int, bytes]:
        """(opcode, payload) of the client's next frame, which must be masked."""
        b0, b1 = self.read_exact(2)
        assert b1 & 0x80, "client frames must be masked"
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self.read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self.read_exact(8))
        key = self.read_exact(4)
        data = self.read_exact(length)
        return b0 & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(data))


@pytest.fixture
def server():
    """Runs ``script(peer)`` on the first connection; yields (port, start, peer holder, errors)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    state: dict = {"errors": []}

    def start(
        script: Callable[[Peer], None], *, wrap: Callable[[socket.socket], socket.socket] | None = None
    ):
        def serve() -> None:
            conn, _ = listener.accept()
            try:
                if wrap is not None:
                    conn = wrap(conn)
                peer = Peer(conn)
                state["peer"] = peer
                script(peer)
            except Exception as exc:  # surfaced by the test
                state["errors"].append(exc)
            finally:
                conn.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        state["thread"] = thread
        return f"ws://127.0.0.1:{listener.getsockname()[1]}/v1/stream?x=1"

    yield start, state
    listener.close()
    if "thread" in state:
        state["thread"].join(timeout=30)
    assert not state["errors"], state["errors"]


def test_messages_lengths_fragments_ping_and_close(server):
    start, state = server
    big = b"x" * 70_000
    got: dict = {}

    def script(peer: Peer) -> None:
        peer.handshake()
        got["request"] = peer.request.decode()
        peer.send(0x1, json.dumps({"type": "hello"}).encode())
        peer.send(0x1, b"m" * 300)  # 16-bit length
        peer.send(0x2, big)  # 64-bit length
        peer.send(0x1, b'{"frag', fin=False)  # a fragmented text message with a ping in the middle
        peer.send(0x9, b"are you there")
        peer.send(0x0, b'mented": ', fin=False)
        peer.send(0x0, b"true}")
        got["pong"] = peer.recv()
        got["sent"] = peer.recv()
        peer.send(0x8, struct.pack("!H", 4404) + b"deleted")
        got["close_echo"] = peer.recv()

    url = start(script)
    ws = connect(url, {"Authorization": "Bearer seq_test_abc"})
    assert ws.recv_json(timeout=30) == {"type": "hello"}
    assert ws.recv(timeout=30) == "m" * 300
    assert ws.recv(timeout=30) == big
    assert ws.recv_json(timeout=30) == {"fragmented": True}
    ws.send_json({"type": "ping", "n": 1})
    with pytest.raises(WebSocketClosed) as closed:
        ws.recv(timeout=30)
    assert (closed.value.code, closed.value.reason) == (4404, "deleted")
    state["thread"].join(timeout=30)

    request = got["request"]
    assert request.startswith("GET /v1/stream?x=1 HTTP/1.1\r\n")
    assert "Upgrade: websocket" in request and "Sec-WebSocket-Version: 13" in request
    assert f"Host: 127.0.0.1:{url.split(':')[2].split('/')[0]}" in request
    assert "Authorization: Bearer seq_test_abc" in request and "Origin" not in request
    assert got["pong"] == (0xA, b"are you there")
    assert got["sent"] == (0x1, b'{"type": "ping", "n": 1}')
    assert got["close_echo"] == (0x8, struct.pack("!H", 4404))
    with pytest.raises(WebSocketClosed):  # stays closed
        ws.recv(timeout=1)
    ws.close()  # idempotent


def test_timeout_mid_frame_keeps_the_stream_intact(server):
    start, _ = server
    go = threading.Event()
    frame = encode_frame(0x1, b'{"type": "log", "id": 7}', mask=False)

    def script(peer: Peer) -> None:
        peer.handshake()
        peer.sock.sendall(frame[:5])
        go.wait(30)
        peer.sock.sendall(frame[5:])
        peer.recv()  # the client's close
        peer.send(0x8, struct.pack("!H", 1000))

    ws = connect(start(script))
    with pytest.raises(TimeoutError):
        ws.recv_json(timeout=0.2)  # the timeout under test: short on purpose
    go.set()
    assert ws.recv_json(timeout=30) == {"type": "log", "id": 7}
    ws.close()
    assert ws.closed is not None and ws.closed.code == 1000


def test_a_dropped_connection_is_1006(server):
    start, _ = server

    def script(peer: Peer) -> None:
        peer.handshake()
        peer.send(0x1, b'"one"')

    ws = connect(start(script))
    assert ws.recv_json(timeout=30) == "one"
    with pytest.raises(WebSocketClosed) as closed:
        ws.recv(timeout=30)
    assert closed.value.code == 1006


def test_handshake_refusals(server):
    start, state = server
    url = start(lambda peer: peer.handshake(status="403 Access denied"))
    with pytest.raises(WebSocketHandshakeError) as refused:
        connect(url)
    assert refused.value.status == 403 and "HTTP 403" in str(refused.value)
    state["thread"].join(timeout=30)

    url = start(lambda peer: peer.handshake(accept="bm9wZQ=="))
    with pytest.raises(WebSocketError, match="Sec-WebSocket-Accept"):
        connect(url)


def test_unreachable_and_bad_urls():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(WebSocketError, match="cannot connect"):
        connect(f"ws://127.0.0.1:{port}/x", timeout=2)
    with pytest.raises(WebSocketError, match="ws:// or wss://"):
        connect("http://127.0.0.1/x")


def _self_signed(tmp_path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_path), str(key_path)


def test_wss(server, tmp_path):
    start, _ = server
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)

    def script(peer: Peer) -> None:
        peer.handshake()
        peer.send(0x1, b'{"secure": true}')
        peer.recv()
        peer.send(0x8, struct.pack("!H", 1000))

    url = start(script, wrap=lambda s: server_ctx.wrap_socket(s, server_side=True))
    wss = url.replace("ws://127.0.0.1", "wss://localhost")
    client_ctx = ssl.create_default_context(cafile=cert)
    with connect(wss, ssl_context=client_ctx) as ws:
        assert ws.recv_json(timeout=30) == {"secure": True}

    # Without trusting the certificate the handshake fails cleanly.
    def tolerant_wrap(sock: socket.socket) -> socket.socket:
        try:
            return server_ctx.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError):
            return sock  # the client hung up on our certificate, as it should

    url = start(lambda peer: None, wrap=tolerant_wrap)
    with pytest.raises(WebSocketError, match="failed"):
        connect(url.replace("ws://127.0.0.1", "wss://localhost"))


# -- against the real consumer --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_against_daphne(daphne, owner, sandbox_key, sandbox_edges):
    from algo_studio import services
    from sequence_site.scope import Scope
    from tests.edges.conftest import scripted_algo

    deployment = services.algo_deploy(
        scope=Scope(client=owner, is_sandbox=True), symbol="XRP/USD", wasm=scripted_algo()
    ).deployment
    base = daphne.url.replace("http://", "ws://")
    auth = {"Authorization": f"Bearer {sandbox_key.plaintext}"}

    ws = connect(f"{base}/v1/deployments/{deployment.deployment_id}/logs/stream", auth)
    assert ws.recv_json(timeout=30) == {"type": "hello", "deployment_id": deployment.deployment_id}
    ws.send_json({"type": "ping"})
    assert ws.recv_json(timeout=30) == {"type": "pong"}
    ws.close()
    assert ws.closed is not None

    with connect(f"{base}/v1/algos/XRP-USD/logs/stream", auth) as ws:
        assert ws.recv_json(timeout=30)["type"] == "hello"
        services.deployment_delete(deployment=deployment)
        with pytest.raises(WebSocketClosed) as closed:
            ws.recv(timeout=30)
        assert closed.value.code == 4404

    # A consumer that closes before accepting shows up as a refused handshake (HTTP 403).
    with pytest.raises(WebSocketHandshakeError) as refused:
        connect(f"{base}/v1/algos/XRP-USD/logs/stream", {"Authorization": "Bearer seq_test_" + "x" * 44})
    assert refused.value.status == 403

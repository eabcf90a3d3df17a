"""A small websocket client (RFC 6455), standard library only: socket, ssl, base64, hashlib, struct.

    from sequence_markets.ws import connect, WebSocketClosed

    ws = connect("wss://api.example.com/v1/algos/BTC-USD/logs/stream", {"Authorization": "Bearer seq_..."})
    try:
        while True:
            message = ws.recv_json(timeout=30)   # TimeoutError when nothing arrived in time
    except WebSocketClosed as closed:
        print(closed.code, closed.reason)        # 1006 when the connection dropped without a close frame
    finally:
        ws.close()

Client frames are masked, server frames are not; fragmented messages are reassembled; a ping gets
its pong; a close frame is answered and raised as ``WebSocketClosed``. No extensions (no
permessage-deflate) and no subprotocols. Used by `sequence logs --follow`; the SDK's ``stream()``
builds on it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import socket
import ssl
import struct
import time
import urllib.parse
from typing import Any, NoReturn

__all__ = ["WebSocket", "WebSocketClosed", "WebSocketError", "WebSocketHandshakeError", "connect"]

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_MAX_HEADER_BYTES = 64 * 1024

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketError(Exception):
    """The connection could not be made or broke the protocol."""


class WebSocketHandshakeError(WebSocketError):
    """The server answered the upgrade request with something other than 101 (``status``): an ASGI
    server answers 403 when the application closed the connection before accepting it."""

    def __init__(self, status: int, reason: str, body: bytes = b"") -> None:
        super().__init__(f"websocket handshake refused: HTTP {status} {reason}".rstrip())
        self.status = status
        self.reason = reason
        self.body = body


class WebSocketClosed(WebSocketError):
    """The connection is closed: ``code`` from the server's close frame (1005 when it had none), or
    1006 when the connection dropped without one."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"websocket closed ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


def _mask(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return payload
    # XOR whole 32-bit words at once, via one big int: fast enough in pure Python for MiBs.
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return masked.to_bytes(len(payload), "big")


def encode_frame(opcode: int, payload: bytes, *, mask: bool = True, fin: bool = True) -> bytes:
    """One frame; client frames are always masked (RFC 6455 5.3)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + _mask(payload, key)


class WebSocket:
    """An open websocket connection; make one with ``connect``."""

    def __init__(self, sock: socket.socket, buffered: bytes = b"") -> None:
        self.sock = sock
        self._buffer = bytearray(buffered)
        self._fragments: list[bytes] = []
        self._fragment_opcode: int | None = None
        self._close_sent = False
        self.closed: WebSocketClosed | None = None

    # -- receiving -----------------------------------------------------------------------------
    def recv(self, timeout: float | None = None) -> str | bytes:
        """The next message (text as str, binary as bytes). ``TimeoutError`` when none arrived
        within ``timeout`` seconds (the connection stays usable); ``WebSocketClosed`` when closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.closed is not None:
                raise self.closed
            frame = self._parse_frame()
            if frame is None:
                self._fill(deadline)
                continue
            message = self._handle(*frame)
            if message is not None:
                return message

    def recv_json(self, timeout: float | None = None) -> Any:
        """The next message decoded as JSON."""
        message = self.recv(timeout)
        try:
            return json.loads(message)
        except ValueError as exc:
            raise WebSocketError(f"the server sent a message that is not JSON: {message[:200]!r}") from exc

    def _fill(self, deadline: float | None) -> None:
        if deadline is None:
            self.sock.settimeout(None)
        else:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no websocket message within the timeout")
            self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise TimeoutError("no websocket message within the timeout") from None
        except OSError as exc:
            self._lost(f"connection lost: {exc}")
        if not chunk:
            self._lost("connection closed without a close frame")
        self._buffer += chunk

    def _lost(self, reason: str) -> NoReturn:
        self.closed = WebSocketClosed(1006, reason)
        self._shutdown()
        raise self.closed

    def _parse_frame(self) -> tuple[bool, int, bytes] | None:
        """(fin, opcode, payload) of the first whole frame in the buffer, removing it; None if incomplete."""
        buf = self._buffer
        if len(buf) < 2:
            return None
        fin, opcode = bool(buf[0] & 0x80), buf[0] & 0x0F
        masked, length = bool(buf[1] & 0x80), buf[1] & 0x7F
        offset = 2
        if length == 126:
            if len(buf) < 4:
                return None
            (length,) = struct.unpack_from("!H", buf, 2)
            offset = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            (length,) = struct.unpack_from("!Q", buf, 2)
            offset = 10
        if length > MAX_MESSAGE_BYTES:
            self._protocol_error(1009, f"frame of {length} bytes is larger than {MAX_MESSAGE_BYTES}")
        key = b""
        if masked:  # servers must not mask, but unmasking costs nothing
            if len(buf) < offset + 4:
                return None
            key = bytes(buf[offset : offset + 4])
            offset += 4
        if len(buf) < offset + length:
            return None
        payload = bytes(buf[offset : offset + length])
        del buf[: offset + length]
        return fin, opcode, (_mask(payload, key) if masked else payload)

    def _handle(self, fin: bool, opcode: int, payload: bytes) -> str | bytes | None:
        if opcode == OP_PING:
            self._send_frame(OP_PONG, payload)
            return None
        if opcode == OP_PONG:
            return None
        if opcode == OP_CLOSE:
            code, reason = 1005, ""
            if len(payload) >= 2:
                (code,) = struct.unpack("!H", payload[:2])
                reason = payload[2:].decode("utf-8", "replace")
            if not self._close_sent:
                with contextlib.suppress(OSError):
                    self._send_frame(OP_CLOSE, payload[:2])
            self.closed = WebSocketClosed(code, reason)
            self._shutdown()
            raise self.closed
        if opcode in (OP_TEXT, OP_BINARY):
            if self._fragment_opcode is not None:
                self._protocol_error(1002, "new message started inside a fragmented one")
            if fin:
                return payload.decode("utf-8") if opcode == OP_TEXT else payload
            self._fragment_opcode, self._fragments = opcode, [payload]
            return None
        if opcode == OP_CONTINUATION:
            if self._fragment_opcode is None:
                self._protocol_error(1002, "continuation frame without a message")
            self._fragments.append(payload)
            if sum(len(f) for f in self._fragments) > MAX_MESSAGE_BYTES:
                self._protocol_error(1009, "message too large")
            if not fin:
                return None
            data, kind = b"".join(self._fragments), self._fragment_opcode
            self._fragment_opcode, self._fragments = None, []
            return data.decode("utf-8") if kind == OP_TEXT else data
        self._protocol_error(1002, f"unknown opcode {opcode:#x}")

    def _protocol_error(self, code: int, reason: str) -> NoReturn:
        with contextlib.suppress(OSError):
            self._send_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode()[:120])
        self.closed = WebSocketClosed(code, reason)
        self._shutdown()
        raise WebSocketError(f"websocket protocol error: {reason}")

    # -- sending -------------------------------------------------------------------------------
    def _send_frame(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_CLOSE:
            self._close_sent = True
        self.sock.settimeout(10)
        self.sock.sendall(encode_frame(opcode, payload))

    def send(self, message: str | bytes) -> None:
        if self.closed is not None:
            raise self.closed
        try:
            if isinstance(message, str):
                self._send_frame(OP_TEXT, message.encode("utf-8"))
            else:
                self._send_frame(OP_BINARY, message)
        except OSError as exc:
            self._lost(f"connection lost: {exc}")

    def send_json(self, data: Any) -> None:
        self.send(json.dumps(data))

    def ping(self, payload: bytes = b"") -> None:
        self._send_frame(OP_PING, payload)

    # -- closing -------------------------------------------------------------------------------
    def close(self, code: int = 1000, reason: str = "", *, timeout: float = 2.0) -> None:
        """Send a close frame, wait briefly for the server's, then drop the connection. Idempotent."""
        if self.closed is None:
            try:
                self._send_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode()[:120])
                deadline = time.monotonic() + timeout
                while self.closed is None and time.monotonic() < deadline:
                    try:
                        self.recv(deadline - time.monotonic())
                    except (TimeoutError, WebSocketError):
                        break
            except OSError:
                pass
            if self.closed is None:
                self.closed = WebSocketClosed(code, reason)
        self._shutdown()

    def _shutdown(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> WebSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    url: str,
    headers: dict[str, str] | None = None,
    *,
    timeout: float = 10.0,
    ssl_context: ssl.SSLContext | None = None,
) -> WebSocket:
    """Open ``ws://`` or ``wss://`` ``url`` with extra handshake ``headers`` (e.g. Authorization).
    ``wss://`` verifies the server's certificate with ``ssl_context`` (default: the system's CAs).

    Raises ``WebSocketError`` when the server cannot be reached and ``WebSocketHandshakeError``
    when it refuses the upgrade.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise WebSocketError(f"a websocket URL starts with ws:// or wss://, not {url!r}")
    if not parts.hostname:
        raise WebSocketError(f"no host in {url!r}")
    secure = parts.scheme == "wss"
    host = parts.hostname
    port = parts.port or (443 if secure else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise WebSocketError(f"cannot connect to {host}:{port}: {exc}") from None
    try:
        if secure:
            context = ssl_context or ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=host)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        default_port = 443 if secure else 80
        host_header = f"[{host}]" if ":" in host else host
        if port != default_port:
            host_header += f":{port}"
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host_header}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            "User-Agent: sequence-markets/0.4.0",
        ]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head, rest = _read_response_head(sock)
        status, reason, response_headers = _parse_head(head)
        if status != 101:
            raise WebSocketHandshakeError(status, reason, rest)
        expected = base64.b64encode(hashlib.sha1((key + _GUID).encode(), usedforsecurity=False).digest())
        if response_headers.get("sec-websocket-accept", "").encode() != expected:
            raise WebSocketError("websocket handshake failed: wrong Sec-WebSocket-Accept from the server")
        if response_headers.get("upgrade", "").lower() != "websocket":
            raise WebSocketError("websocket handshake failed: the server did not upgrade to websocket")
    except TimeoutError:
        sock.close()
        raise WebSocketError(f"websocket handshake with {host}:{port} timed out") from None
    except OSError as exc:  # ssl.SSLError included: a bad certificate, a plain-HTTP port
        sock.close()
        raise WebSocketError(f"websocket handshake with {host}:{port} failed: {exc}") from None
    except BaseException:
        sock.close()
        raise
    return WebSocket(sock, rest)


def _read_response_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise WebSocketError("websocket handshake failed: the server closed the connection")
        data += chunk
        if len(data) > _MAX_HEADER_BYTES:
            raise WebSocketError("websocket handshake failed: response headers too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        raise WebSocketError(f"websocket handshake failed: bad status line {status_line!r}") from None
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, parts[2] if len(parts) > 2 else "", headers

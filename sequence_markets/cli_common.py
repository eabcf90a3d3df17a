"""What the `sequence` commands share: plumbing (flags, the API client, output), formatting, reading
and building a .wasm, following a log websocket, and argument types."""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sequence_markets.algo_build import BuildError, build_project, detect_project
from sequence_markets.client import Sequence as Client
from sequence_markets.client import SequenceError
from sequence_markets.config import Config
from sequence_markets.ws import WebSocketClosed, WebSocketError, WebSocketHandshakeError, connect

WASM_MAGIC = b"\0asm"
KEEPALIVE_S = 20.0  # silence after which the follower pings; a second silence means the link is dead
_SOURCE_SUFFIXES = {".c", ".h", ".zig", ".wat", ".rs", ".toml"}

# -- plumbing ------------------------------------------------------------------------------------


GLOBAL_FLAGS = ("sandbox", "json")


def add_global_flags(parser: argparse.ArgumentParser) -> None:
    """--sandbox and --json, accepted before the command (`sequence --sandbox list`), between a group
    and its action (`sequence strategy --sandbox list`) and after it. SUPPRESS as the default, so a
    later parser level that did not see the flag leaves an earlier level's value alone (argparse
    would otherwise write each subparser's False over it); `cli.main` fills in False at the end."""
    parser.add_argument(
        "--sandbox",
        action="store_true",
        default=argparse.SUPPRESS,
        help="act with your sandbox (seq_test_) key",
    )
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )


def again(args: argparse.Namespace, command: str) -> str:
    """A `sequence ...` command to suggest, with the mode flag the user gave kept on it."""
    return f"`sequence {command}{' --sandbox' if getattr(args, 'sandbox', False) else ''}`"


def api_client(args: argparse.Namespace, *, timeout: float = 60.0) -> Client:
    """The API client of the CLI's configuration for the key's mode (``--sandbox``)."""
    url, key = Config.load().resolve(sandbox=args.sandbox)
    return Client(key, url, timeout=timeout)


def emit(args: argparse.Namespace, data: Any, human: Callable[[Any], str]) -> None:
    """``--json``: the data as JSON; else the human rendering."""
    print(json.dumps(data, indent=2, default=str) if args.json else human(data))


def local_error(message: str, code: str = "error") -> SequenceError:
    """A local failure (status 0): `main` prints it like an API error and exits 1."""
    return SequenceError(0, message, code)


def path_symbol(symbol: str) -> str:
    """A symbol for a URL path: BTC/USD and btc-usd both become btc-usd (the API accepts either case)."""
    return urllib.parse.quote(symbol.strip().replace("/", "-"), safe="")


def path_id(value: str) -> str:
    return urllib.parse.quote(value.strip(), safe="")


def confirm(args: argparse.Namespace, question: str) -> bool:
    """Ask on a terminal; --yes, or no terminal (a script, a pipe), goes ahead."""
    if getattr(args, "yes", False) or not sys.stdin.isatty():
        return True
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- formatting ------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], right: Iterable[int] = ()) -> str:
    """Plain aligned columns; ``right`` lists the indexes of right-aligned (numeric) columns."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    right_set = set(right)
    lines = []
    for row in cells:
        parts = [
            c.rjust(w) if i in right_set else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def fmt_decimal(value: float, *, places: int, min_places: int = 0, sign: bool = False) -> str:
    text = f"{value:+,.{places}f}" if sign else f"{value:,.{places}f}"
    if "." in text:
        whole, frac = text.split(".")
        frac = frac.rstrip("0").ljust(min_places, "0")
        text = f"{whole}.{frac}" if frac else whole
    return text


def fmt_position(position_1e8: int | None) -> str:
    return "-" if position_1e8 is None else fmt_decimal(position_1e8 / 1e8, places=8)


def fmt_money(value: float, currency: str = "") -> str:
    """PnL as a trader reads it: signed, cents from 1 up (``+12.13``, ``-128,528.78``), up to six
    decimals below 1 so a small PnL is not shown as 0.00 (``+0.000125``), then the currency."""
    places = 2 if abs(value) >= 1 else 6
    text = fmt_decimal(value, places=places, min_places=2, sign=True)
    if text in ("+0.00", "-0.00"):
        text = "0.00"
    return f"{text} {currency}" if currency else text


def fmt_pnl(pnl_1e9: int | float | None) -> str:
    return "-" if pnl_1e9 is None else fmt_money(pnl_1e9 / 1e9)


def fmt_size(size: int | None) -> str:
    if size is None:
        return "-"
    return f"{size:,} B" if size < 10 * 1024 else f"{size / 1024:,.1f} KiB"


def fmt_latency(ns: int | None) -> str:
    if not ns:
        return "-"
    if ns < 1_000_000:
        return f"{ns / 1000:.1f} µs"
    return f"{ns / 1e6:.2f} ms"


def fmt_age(unix: int | None, now: float | None = None) -> str:
    if not unix:
        return "never"
    secs = max(0, int((now if now is not None else time.time()) - unix))
    if secs < 120:
        return f"{secs}s ago"
    if secs < 7200:
        return f"{secs // 60}m ago"
    if secs < 172800:
        return f"{secs // 3600}h ago"
    return f"{secs // 86400}d ago"


def fmt_time(unix: int | None) -> str:
    if not unix:
        return "-"
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def fmt_duration(secs: int) -> str:
    if secs < 60:
        return f"{secs}s"
    if secs < 3600:
        return f"{secs // 60}m {secs % 60:02d}s"
    if secs < 86400:
        return f"{secs // 3600}h {secs % 3600 // 60:02d}m"
    return f"{secs // 86400}d {secs % 86400 // 3600:02d}h"


def fmt_log(line: dict[str, Any], *, with_symbol: bool = False) -> str:
    ts_ns = line.get("ts_ns") or 0
    stamp = datetime.fromtimestamp(ts_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    where = [line[k] for k in ("edge_id", "symbol" if with_symbol else "") if line.get(k)]
    tag = f" [{' '.join(where)}]" if where else ""
    return f"{stamp} {str(line.get('level', '')).ljust(5)}{tag} {line.get('message', '')}"


def warnings_text(d: dict[str, Any]) -> str:
    """The server's warnings (first orders the venue would refuse), one line each."""
    return "".join(f"\nwarning: {w}" for w in d.get("warnings") or [])


def edge_table(edges: list[dict[str, Any]], *, with_symbol: bool = True) -> str:
    if not edges:
        return "No edge has it (no connected algo-capable edge for its venue)."
    now = time.time()
    headers = ["SYMBOL"] if with_symbol else []
    headers += ["EDGE", "STATUS", "HEARTBEAT", "POSITION", "PNL", "LATENCY", "UPDATES"]
    rows = []
    for e in edges:
        pnl = (e.get("realized_pnl_1e9") or 0) + (e.get("unrealized_pnl_1e9") or 0)
        status = e["status"] + (f" ({e['pause_reason']})" if e.get("pause_reason") else "")
        row = [e["symbol"]] if with_symbol else []
        row += [
            e["edge_id"],
            status,
            fmt_age(e.get("last_heartbeat"), now),
            fmt_position(e.get("position_1e8")),
            fmt_pnl(pnl),
            fmt_latency(e.get("callback_latency_ns")),
            f"{e.get('update_count') or 0:,}",
        ]
        rows.append(row)
    offset = 1 if with_symbol else 0
    return table(headers, rows, right=[offset + 3, offset + 4, offset + 5, offset + 6])


# -- wasm files --------------------------------------------------------------------------------------


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# The server's limit (edges.runtime.abi.MAX_MODULE_BYTES; this package imports nothing of the
# platform): refused here with the server's words instead of after uploading it.
MAX_WASM_BYTES = 1_048_576


def read_wasm(path: str | os.PathLike[str]) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise local_error(f"{p}: no such file.", "file_not_found")
    size = p.stat().st_size
    if size > MAX_WASM_BYTES:
        raise local_error(
            f"The WASM binary is {size:,} bytes, over the 1 MiB limit ({MAX_WASM_BYTES:,} bytes).",
            "payload_too_large",
        )
    data = p.read_bytes()
    if not data.startswith(WASM_MAGIC):
        hint = " (a .wat text file? run `sequence build` on its folder first)" if p.suffix == ".wat" else ""
        raise local_error(f"{p} is not a WebAssembly module{hint}.", "not_wasm")
    return data


def _newest_source(folder: Path) -> float:
    """The newest modification time of the project's sources (build outputs left out)."""
    newest = 0.0
    for p in folder.rglob("*"):
        parts = p.relative_to(folder).parts
        if p.suffix in _SOURCE_SUFFIXES and "build" not in parts and "target" not in parts and p.is_file():
            newest = max(newest, p.stat().st_mtime)
    return newest


def default_wasm(args: argparse.Namespace) -> Path:
    """No --wasm: the newest ./build/*.wasm; when there is none and this folder is an algo project,
    build it first (what `sequence build` would do)."""
    here = Path.cwd()
    built = sorted((here / "build").glob("*.wasm"), key=lambda p: p.stat().st_mtime)
    if built:
        newest = built[-1]
        if _newest_source(here) > newest.stat().st_mtime and not args.json:
            print(
                f"warning: {_display(newest)} is older than the sources here; run `sequence build` to "
                "deploy your latest changes.",
                file=sys.stderr,
            )
        return newest
    try:
        detect_project(here)
    except BuildError:
        raise local_error(
            "No --wasm given, no build/*.wasm here, and this folder is not an algo project "
            "(no Cargo.toml, .zig, .c or .wat file). Pass --wasm FILE or run this in your algo's folder.",
            "file_not_found",
        ) from None
    if not args.json:
        print(f"No build/*.wasm yet: building {here.name} first...", file=sys.stderr)
    return build_wasm(here, None)


def build_wasm(folder: Path, out: str | None) -> Path:
    try:
        if out is None:
            return build_project(folder)
        target = Path(out)
        with tempfile.TemporaryDirectory() as tmp:
            built = build_project(folder, tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(built), target)
        return target
    except BuildError as exc:
        raise local_error(f"build failed: {exc}", "build_failed") from None


# -- following logs -------------------------------------------------------------------------------


def follow(
    args: argparse.Namespace,
    client: Client,
    stream_path: str,
    check: Callable[[], Any],
    *,
    label: str,
    backlog: int,
    edge_id: str | None,
    with_symbol: bool,
) -> int:
    """Print the last ``backlog`` lines, then every new one as the server pushes it, until Ctrl-C or
    the deployment is deleted (close code 4404). A dropped connection is reopened with
    ``after=<last id>``, so no line is lost or printed twice."""
    headers = {"Authorization": f"Bearer {client.api_key}"}
    last_id: int | None = None
    connected_once = False
    delay = 0.5
    while True:
        params: dict[str, Any] = {"edge_id": edge_id}
        if last_id is not None:
            params["after"] = last_id
        else:
            params["backlog"] = 0 if connected_once else backlog
        url = client.ws_url(stream_path, params)
        try:
            ws = connect(url, headers)
        except WebSocketHandshakeError as exc:
            # The server refuses the upgrade (403) when the consumer closes before accepting: no such
            # algo/deployment for this key, or a bad key. Ask the REST API why, for a clear message.
            check()
            if not connected_once:
                raise local_error(
                    f"The log stream refused the connection ({exc}).", "stream_refused"
                ) from None
            note(args, f"log stream refused the reconnect ({exc}); retrying in {delay:.0f}s")
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        except WebSocketError as exc:
            if not connected_once:
                raise local_error(f"Cannot open the log stream: {exc}", "unreachable") from None
            note(args, f"reconnect failed ({exc}); retrying in {delay:.0f}s")
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        try:
            awaiting_pong = False
            while True:
                try:
                    message = ws.recv_json(timeout=KEEPALIVE_S)
                except TimeoutError:
                    if awaiting_pong:
                        raise WebSocketClosed(1006, "the server stopped answering") from None
                    ws.send_json({"type": "ping"})
                    awaiting_pong = True
                    continue
                awaiting_pong = False
                kind = message.get("type") if isinstance(message, dict) else None
                if kind == "hello":
                    if not connected_once:
                        note(args, f"following {label} (Ctrl-C to stop)")
                    elif last_id is not None:
                        note(args, "reconnected")
                    connected_once = True
                    delay = 0.5
                elif kind == "log":
                    line_id = message.get("id")
                    if isinstance(line_id, int) and last_id is not None and line_id <= last_id:
                        continue
                    if isinstance(line_id, int):
                        last_id = line_id
                    print(json.dumps(message) if args.json else fmt_log(message, with_symbol=with_symbol))
                    sys.stdout.flush()
        except WebSocketClosed as closed:
            ws.close()
            if closed.code == 4404:
                note(args, f"{label} was deleted; the stream is closed", force=True)
                return 0
            if closed.code == 4401:
                raise SequenceError(401, "The log stream refused the API key.", "unauthorized") from None
            note(args, f"connection lost ({closed.reason or closed.code}); reconnecting")
        except WebSocketError as exc:
            ws.close()
            note(args, f"stream error ({exc}); reconnecting")
        except BaseException:  # Ctrl-C: leave at once, without waiting for the server's close frame
            ws.close(timeout=0.1)
            raise
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def note(args: argparse.Namespace, text: str, *, force: bool = False) -> None:
    """A status line on stderr (kept off stdout, which carries only log lines)."""
    if force or not args.json:
        print(f"-- {text}", file=sys.stderr, flush=True)


# -- parsing --------------------------------------------------------------------------------------


def line_count(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0 <= n <= 1000:
        raise argparse.ArgumentTypeError("must be between 0 and 1000")
    return n

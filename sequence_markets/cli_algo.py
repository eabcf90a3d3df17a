"""The algo commands of `sequence`: build, deploy, start, stop, undeploy, list, stats, logs, and the
`deployments` (v2, by id) and `bundles` groups. Each one is a thin call of the REST API; `logs
--follow` tails the log websocket (sequence_markets.ws), resuming from the last line it printed when
the connection drops.

Errors the API answers, and local ones (missing file, build failure), are ``SequenceError``s: `main`
prints them (as JSON with --json) and exits 1.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
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


def _fail(message: str, code: str = "error") -> SequenceError:
    """A local failure (status 0): `main` prints it like an API error and exits 1."""
    return SequenceError(0, message, code)


def _sym(symbol: str) -> str:
    """A symbol for a URL path: BTC/USD and btc-usd both become btc-usd (the API accepts either case)."""
    return urllib.parse.quote(symbol.strip().replace("/", "-"), safe="")


def _id(value: str) -> str:
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


def _b64(data: bytes) -> str:
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
        raise _fail(f"{p}: no such file.", "file_not_found")
    size = p.stat().st_size
    if size > MAX_WASM_BYTES:
        raise _fail(
            f"The WASM binary is {size:,} bytes, over the 1 MiB limit ({MAX_WASM_BYTES:,} bytes).",
            "payload_too_large",
        )
    data = p.read_bytes()
    if not data.startswith(WASM_MAGIC):
        hint = " (a .wat text file? run `sequence build` on its folder first)" if p.suffix == ".wat" else ""
        raise _fail(f"{p} is not a WebAssembly module{hint}.", "not_wasm")
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
        raise _fail(
            "No --wasm given, no build/*.wasm here, and this folder is not an algo project "
            "(no Cargo.toml, .zig, .c or .wat file). Pass --wasm FILE or run this in your algo's folder.",
            "file_not_found",
        ) from None
    if not args.json:
        print(f"No build/*.wasm yet: building {here.name} first...", file=sys.stderr)
    return _build(here, None)


def _build(folder: Path, out: str | None) -> Path:
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
        raise _fail(f"build failed: {exc}", "build_failed") from None


# -- build / deploy / lifecycle ----------------------------------------------------------------------


def cmd_build(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    try:
        kind = detect_project(folder)
    except BuildError as exc:
        raise _fail(str(exc), "not_a_project") from None
    path = _build(folder, args.out)
    data = path.read_bytes()
    out = {
        "path": str(path.resolve()),
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "language": kind,
    }
    emit(args, out, lambda d: f"Built {_display(path)} ({d['size_bytes']:,} bytes, {d['language']}).")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    path = Path(args.wasm) if args.wasm else default_wasm(args)
    wasm = read_wasm(path)
    body = api_client(args).request(
        "POST",
        "/algos/deploy",
        json_body={
            "symbol": args.symbol,
            "wasm_base64": _b64(wasm),
            "start_immediately": args.start,
            "venue": args.venue,
        },
    )

    def human(d: dict[str, Any]) -> str:
        text = f"{d['symbol']}: {_display(path)} ({d['size_bytes']:,} bytes) {d['status']}."
        if not d.get("pushed_to"):
            text += "\nwarning: no connected edge took it yet; it starts when one comes up."
        elif d.get("paused"):
            text += f"\nStart it with {again(args, f'start {args.symbol}')}."
        return text + _warnings(d)

    emit(args, body, human)
    return 0


def _warnings(d: dict[str, Any]) -> str:
    """The server's warnings (first orders the venue would refuse), one line each."""
    return "".join(f"\nwarning: {w}" for w in d.get("warnings") or [])


def _action(args: argparse.Namespace, verb: str) -> int:
    params = {"venue": args.venue} if args.venue else None
    body = api_client(args).request("POST", f"/algos/{_sym(args.symbol)}/{verb}", params=params)
    emit(
        args,
        body,
        lambda d: f"{d['symbol']}: {d['status']} ({d['edges_notified']} edge(s) notified)." + _warnings(d),
    )
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    return _action(args, "start")


def cmd_stop(args: argparse.Namespace) -> int:
    return _action(args, "stop")


def cmd_undeploy(args: argparse.Namespace) -> int:
    client = api_client(args)
    where = f" on {args.venue}" if args.venue else ""
    if not confirm(
        args,
        f"Undeploy the algo on {args.symbol}{where}? It stops at once and its logs, traces and metrics "
        "are deleted. This cannot be undone.",
    ):
        print("Aborted: nothing was changed.", file=sys.stderr)
        return 1
    params = {"venue": args.venue} if args.venue else None
    body = client.request("DELETE", f"/algos/{_sym(args.symbol)}", params=params)
    emit(args, body, lambda d: f"{d['symbol']}: undeployed.")
    return 0


def _algo_list_human(args: argparse.Namespace, body: dict[str, Any]) -> str:
    algos = body.get("algos", [])
    if not algos:
        return f"No algos deployed. Deploy one with {again(args, 'deploy SYMBOL')}."
    text = table(
        ["SYMBOL", "STATUS", "SIZE", "MODIFIED"],
        [[a["symbol"], a["status"], fmt_size(a["size_bytes"]), fmt_time(a["modified_at"])] for a in algos],
        right=[2],
    )
    if "edges" in body:
        text += "\n\n" + edge_table(body["edges"])
    return text


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


def cmd_list(args: argparse.Namespace) -> int:
    params = {"detail": "edge"} if args.detail else None
    emit(
        args,
        api_client(args).request("GET", "/algos", params=params),
        lambda body: _algo_list_human(args, body),
    )
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    body = api_client(args).request("GET", f"/algos/{_sym(args.symbol)}/stats")

    def human(d: dict[str, Any]) -> str:
        rows = [
            ("status", d["status"]),
            ("position", fmt_decimal(d["position"], places=8)),
            ("pnl", fmt_money(float(d["pnl"]), d["symbol"].replace("-", "/").rpartition("/")[2])),
            ("trades", f"{d['trades']:,}"),
            ("orders", f"{d['orders']:,}  (fills {d['fills']:,}, rejects {d['rejects']:,})"),
            ("uptime", fmt_duration(d["uptime_secs"]) if d["uptime_secs"] else "-"),
        ]
        symbol: str = d["symbol"]
        return symbol + "\n" + "\n".join(f"  {k:<9} {v}" for k, v in rows)

    emit(args, body, human)
    return 0


# -- logs --------------------------------------------------------------------------------------------


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
                raise _fail(f"The log stream refused the connection ({exc}).", "stream_refused") from None
            _note(args, f"log stream refused the reconnect ({exc}); retrying in {delay:.0f}s")
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        except WebSocketError as exc:
            if not connected_once:
                raise _fail(f"Cannot open the log stream: {exc}", "unreachable") from None
            _note(args, f"reconnect failed ({exc}); retrying in {delay:.0f}s")
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
                        _note(args, f"following {label} (Ctrl-C to stop)")
                    elif last_id is not None:
                        _note(args, "reconnected")
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
                _note(args, f"{label} was deleted; the stream is closed", force=True)
                return 0
            if closed.code == 4401:
                raise SequenceError(401, "The log stream refused the API key.", "unauthorized") from None
            _note(args, f"connection lost ({closed.reason or closed.code}); reconnecting")
        except WebSocketError as exc:
            ws.close()
            _note(args, f"stream error ({exc}); reconnecting")
        except BaseException:  # Ctrl-C: leave at once, without waiting for the server's close frame
            ws.close(timeout=0.1)
            raise
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def _note(args: argparse.Namespace, text: str, *, force: bool = False) -> None:
    """A status line on stderr (kept off stdout, which carries only log lines)."""
    if force or not args.json:
        print(f"-- {text}", file=sys.stderr, flush=True)


def cmd_logs(args: argparse.Namespace) -> int:
    client = api_client(args)
    path = f"/algos/{_sym(args.symbol)}"
    params = {"edge_id": args.edge} if args.edge else None

    def fetch() -> dict[str, Any]:
        body: dict[str, Any] = client.request("GET", f"{path}/logs", params=params)
        return body

    if args.follow:
        return follow(
            args, client, f"{path}/logs/stream", fetch, label=f"logs of {args.symbol}",
            backlog=args.lines, edge_id=args.edge, with_symbol=False,
        )  # fmt: skip
    body = fetch()
    body["logs"] = body["logs"][-args.lines :] if args.lines else []
    emit(args, body, lambda d: "\n".join(fmt_log(line) for line in d["logs"]) or "(no log lines yet)")
    return 0


# -- deployments (v2) ----------------------------------------------------------------------------------


def _deployment_human(d: dict[str, Any]) -> str:
    rows = [
        ("name", d.get("name") or "-"),
        ("symbols", ", ".join(d["symbols"])),
        ("status", f"{d['status']} (desired: {d['desired_state']})"),
        ("venue", d.get("venue") or "any"),
        ("size", fmt_size(d["size_bytes"])),
        ("sha256", d["sha256"]),
        ("created", fmt_time(d["created_at"])),
        ("modified", fmt_time(d["modified_at"])),
    ]
    text: str = d["deployment_id"] + "\n" + "\n".join(f"  {k:<9} {v}" for k, v in rows)
    if "pushed_to" in d:
        text += f"\n  {'pushed':<9} to {d['pushed_to']}/{d['capable_edges']} capable edges"
    return text + _warnings(d) + "\n\n" + edge_table(d.get("edges", []))


def cmd_deployments_list(args: argparse.Namespace) -> int:
    def human(body: dict[str, Any]) -> str:
        items = body.get("deployments", [])
        if not items:
            return f"No deployments. Create one with {again(args, 'deployments create --symbols BTC-USD')}."
        return table(
            ["ID", "NAME", "SYMBOLS", "STATUS", "DESIRED", "VENUE", "SIZE", "CREATED"],
            [[d["deployment_id"], d.get("name") or "-", ",".join(d["symbols"]), d["status"],
              d["desired_state"], d.get("venue") or "any", fmt_size(d["size_bytes"]),
              fmt_time(d["created_at"])] for d in items],
            right=[6],
        )  # fmt: skip

    emit(args, api_client(args).request("GET", "/deployments"), human)
    return 0


def cmd_deployments_show(args: argparse.Namespace) -> int:
    emit(args, api_client(args).request("GET", f"/deployments/{_id(args.id)}"), _deployment_human)
    return 0


def cmd_deployments_create(args: argparse.Namespace) -> int:
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    if not symbols:
        raise _fail("--symbols needs at least one symbol, e.g. --symbols BTC-USD,ETH-USD.", "usage")
    body: dict[str, Any] = {"symbols": symbols, "name": args.name, "venue": args.venue,
                            "start_immediately": args.start}  # fmt: skip
    if args.bundle:
        body["bundle_id"] = args.bundle
    else:
        body["wasm_base64"] = _b64(read_wasm(Path(args.wasm) if args.wasm else default_wasm(args)))
    emit(args, api_client(args).request("POST", "/deployments", json_body=body), _deployment_human)
    return 0


def cmd_deployments_rename(args: argparse.Namespace) -> int:
    body = api_client(args).request(
        "PATCH", f"/deployments/{_id(args.id)}", json_body={"name": args.name or None}
    )
    emit(args, body, lambda d: f"{d['deployment_id']}: renamed to {d.get('name') or '(no name)'}.")
    return 0


def _deployment_action(args: argparse.Namespace, verb: str) -> int:
    params = {"venue": args.venue} if args.venue else None
    body = api_client(args).request("POST", f"/deployments/{_id(args.id)}/{verb}", params=params)
    emit(
        args,
        body,
        lambda d: (
            f"{d['deployment_id']}: {d['desired_state']} ({d['edges_notified']} edge(s) notified)."
            + _warnings(d)
        ),
    )
    return 0


def cmd_deployments_start(args: argparse.Namespace) -> int:
    return _deployment_action(args, "start")


def cmd_deployments_stop(args: argparse.Namespace) -> int:
    return _deployment_action(args, "stop")


def cmd_deployments_delete(args: argparse.Namespace) -> int:
    client = api_client(args)
    if not confirm(
        args,
        f"Delete deployment {args.id}? It stops on every edge and its logs, traces and metrics are "
        "deleted. This cannot be undone.",
    ):
        print("Aborted: nothing was changed.", file=sys.stderr)
        return 1
    body = client.request("DELETE", f"/deployments/{_id(args.id)}")
    emit(args, body, lambda d: f"{d['deployment_id']}: deleted.")
    return 0


def cmd_deployments_logs(args: argparse.Namespace) -> int:
    client = api_client(args)
    path = f"/deployments/{_id(args.id)}"
    params = {"edge_id": args.edge, "symbol": args.symbol}

    def fetch(limit: int = 1) -> dict[str, Any]:
        body: dict[str, Any] = client.request("GET", f"{path}/logs", params={**params, "limit": limit})
        return body

    if args.follow:
        if args.symbol:
            raise _fail(
                "--symbol works without --follow only; filter a followed stream with --edge.", "usage"
            )
        return follow(
            args, client, f"{path}/logs/stream", fetch, label=f"logs of deployment {args.id}",
            backlog=args.lines, edge_id=args.edge, with_symbol=True,
        )  # fmt: skip
    if args.lines == 0:
        body = fetch(1)
        body["logs"] = []
    else:
        body = fetch(min(args.lines, 1000))
    emit(
        args,
        body,
        lambda d: "\n".join(fmt_log(line, with_symbol=True) for line in d["logs"]) or "(no log lines yet)",
    )
    return 0


# -- bundles -------------------------------------------------------------------------------------------


def cmd_bundles_list(args: argparse.Namespace) -> int:
    def human(body: dict[str, Any]) -> str:
        items = body.get("bundles", [])
        if not items:
            return f"No bundles. Register one with {again(args, 'bundles create FILE.wasm')}."
        return table(
            ["ID", "NAME", "SIZE", "SHA256", "CREATED"],
            [[b["bundle_id"], b["name"] or "-", fmt_size(b["size_bytes"]), b["sha256"][:16],
              fmt_time(b["created_at"])] for b in items],
            right=[2],
        )  # fmt: skip

    emit(args, api_client(args).request("GET", "/bundles"), human)
    return 0


def cmd_bundles_create(args: argparse.Namespace) -> int:
    wasm = read_wasm(args.file)
    name = args.name if args.name is not None else Path(args.file).stem
    body = api_client(args).request("POST", "/bundles", json_body={"wasm_base64": _b64(wasm), "name": name})
    emit(
        args,
        body,
        lambda d: (
            f"Bundle {d['bundle_id']} ({d['name'] or 'no name'}, {d['size_bytes']:,} bytes). "
            "Deploy it with "
            + again(args, "deployments create --symbols BTC-USD --bundle " + d["bundle_id"])
            + "."
        ),
    )
    return 0


def cmd_bundles_delete(args: argparse.Namespace) -> int:
    body = api_client(args).request("DELETE", f"/bundles/{_id(args.id)}")
    emit(args, body, lambda d: f"Bundle {d['bundle_id']} deleted (deployments made from it keep running).")
    return 0


# -- the parser ----------------------------------------------------------------------------------------


def line_count(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0 <= n <= 1000:
        raise argparse.ArgumentTypeError("must be between 0 and 1000")
    return n


def add_algo_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the algo commands to the `sequence` parser's subparsers; ``common`` holds --sandbox/--json."""

    def command(parent: Any, name: str, func: Callable[[argparse.Namespace], int], help: str) -> Any:
        p = parent.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = command(sub, "build", cmd_build, "compile the algo project in DIR (C, Zig, Rust or WAT) to .wasm")
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="project folder (default: here)")
    p.add_argument("--out", metavar="FILE", help="where to write the .wasm (default: DIR/build/<DIR>.wasm)")

    p = command(
        sub, "deploy", cmd_deploy, "upload a .wasm and deploy it on a symbol (stopped unless --start)"
    )
    p.add_argument("symbol", metavar="SYMBOL", help="e.g. BTC-USD")
    p.add_argument(
        "--wasm",
        metavar="FILE",
        help="the module to deploy (default: the newest ./build/*.wasm, building this folder first if none)",
    )
    p.add_argument("--venue", metavar="V", help="only edges of this venue, e.g. kraken")
    p.add_argument("--start", action="store_true", help="start it at once")

    for name, func, text in (
        ("start", cmd_start, "start the algo on SYMBOL"),
        ("stop", cmd_stop, "stop the algo on SYMBOL (it stays deployed)"),
    ):
        p = command(sub, name, func, text)
        p.add_argument("symbol", metavar="SYMBOL")
        p.add_argument("--venue", metavar="V", help="only on this venue's edges")

    p = command(sub, "undeploy", cmd_undeploy, "remove the algo on SYMBOL with its logs (cannot be undone)")
    p.add_argument("symbol", metavar="SYMBOL")
    p.add_argument("--venue", metavar="V", help="only from this venue's edges")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    p = command(sub, "list", cmd_list, "your deployed algos")
    p.add_argument("--detail", action="store_true", help="also one row per edge: heartbeat, position, PnL")

    p = command(sub, "stats", cmd_stats, "position, PnL and counts of the algo on SYMBOL")
    p.add_argument("symbol", metavar="SYMBOL")

    p = command(sub, "logs", cmd_logs, "recent log lines of the algo on SYMBOL; --follow streams new ones")
    p.add_argument("symbol", metavar="SYMBOL")
    p.add_argument("--edge", metavar="EDGE", help="only this edge's lines, e.g. venue-edge-kraken")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines (Ctrl-C to stop)")
    p.add_argument(
        "-n", "--lines", type=line_count, default=100, metavar="N",
        help="recent lines to show first (default 100; at most 100 without --follow)",
    )  # fmt: skip

    dep = sub.add_parser("deployments", help="multi-symbol deployments (v2 API, by id)")
    add_global_flags(dep)
    dsub = dep.add_subparsers(dest="deployments_command", metavar="ACTION")
    dsub.required = True
    command(dsub, "list", cmd_deployments_list, "your deployments")
    p = command(dsub, "show", cmd_deployments_show, "one deployment with its per-edge rows")
    p.add_argument("id", metavar="ID")
    p = command(dsub, "create", cmd_deployments_create, "deploy a .wasm or a bundle on several symbols")
    p.add_argument("--symbols", required=True, metavar="A,B", help="comma-separated, e.g. BTC-USD,ETH-USD")
    p.add_argument("--name", metavar="N")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--wasm", metavar="FILE", help="default: the newest ./build/*.wasm")
    source.add_argument("--bundle", metavar="B", help="a bundle id from `sequence bundles list`")
    p.add_argument("--venue", metavar="V")
    p.add_argument("--start", action="store_true", help="start it at once")
    p = command(dsub, "rename", cmd_deployments_rename, "rename a deployment ('' clears the name)")
    p.add_argument("id", metavar="ID")
    p.add_argument("name", metavar="NAME")
    for name, func, text in (
        ("start", cmd_deployments_start, "start a deployment"),
        ("stop", cmd_deployments_stop, "stop a deployment"),
    ):
        p = command(dsub, name, func, text)
        p.add_argument("id", metavar="ID")
        p.add_argument("--venue", metavar="V", help="only on this venue's edges")
    p = command(
        dsub, "delete", cmd_deployments_delete, "delete a deployment with its logs (cannot be undone)"
    )
    p.add_argument("id", metavar="ID")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p = command(dsub, "logs", cmd_deployments_logs, "recent log lines of a deployment; --follow streams")
    p.add_argument("id", metavar="ID")
    p.add_argument("--edge", metavar="EDGE")
    p.add_argument("--symbol", metavar="SYMBOL", help="only this symbol's lines (without --follow)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines (Ctrl-C to stop)")
    p.add_argument(
        "-n", "--lines", type=line_count, default=100, metavar="N", help="recent lines first (≤ 1000)"
    )

    bun = sub.add_parser("bundles", help="registered .wasm bundles to deploy by id")
    add_global_flags(bun)
    bsub = bun.add_subparsers(dest="bundles_command", metavar="ACTION")
    bsub.required = True
    command(bsub, "list", cmd_bundles_list, "your bundles")
    p = command(bsub, "create", cmd_bundles_create, "register a .wasm as a bundle")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--name", metavar="NAME", help="default: the file's name")
    p = command(bsub, "delete", cmd_bundles_delete, "delete a bundle (its deployments keep running)")
    p.add_argument("id", metavar="ID")

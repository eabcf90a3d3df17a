"""The algo commands of `sequence`: build, deploy, start, stop, undeploy, list, stats, logs, and the
parser of those and of the `deployments` (v2, by id) and `bundles` groups (cli_deployments.py).
Each one is a thin call of the REST API; `logs --follow` tails the log websocket
(cli_common.follow), resuming from the last line it printed when the connection drops.

Errors the API answers, and local ones (missing file, build failure), are ``SequenceError``s: `main`
prints them (as JSON with --json) and exits 1.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sequence_markets.algo_build import BuildError, detect_project
from sequence_markets.cli_common import (
    _display,
    add_global_flags,
    again,
    api_client,
    b64,
    build_wasm,
    confirm,
    default_wasm,
    edge_table,
    emit,
    fmt_decimal,
    fmt_duration,
    fmt_log,
    fmt_money,
    fmt_size,
    fmt_time,
    follow,
    line_count,
    local_error,
    path_symbol,
    read_wasm,
    table,
    warnings_text,
)
from sequence_markets.cli_deployments import (
    cmd_bundles_create,
    cmd_bundles_delete,
    cmd_bundles_list,
    cmd_deployments_create,
    cmd_deployments_delete,
    cmd_deployments_list,
    cmd_deployments_logs,
    cmd_deployments_rename,
    cmd_deployments_show,
    cmd_deployments_start,
    cmd_deployments_stop,
)

# -- build / deploy / lifecycle ----------------------------------------------------------------------


def cmd_build(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    try:
        kind = detect_project(folder)
    except BuildError as exc:
        raise local_error(str(exc), "not_a_project") from None
    path = build_wasm(folder, args.out)
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
            "wasm_base64": b64(wasm),
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
        return text + warnings_text(d)

    emit(args, body, human)
    return 0


def _action(args: argparse.Namespace, verb: str) -> int:
    params = {"venue": args.venue} if args.venue else None
    body = api_client(args).request("POST", f"/algos/{path_symbol(args.symbol)}/{verb}", params=params)
    emit(
        args,
        body,
        lambda d: (
            f"{d['symbol']}: {d['status']} ({d['edges_notified']} edge(s) notified)." + warnings_text(d)
        ),
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
    body = client.request("DELETE", f"/algos/{path_symbol(args.symbol)}", params=params)
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


def cmd_list(args: argparse.Namespace) -> int:
    params = {"detail": "edge"} if args.detail else None
    emit(
        args,
        api_client(args).request("GET", "/algos", params=params),
        lambda body: _algo_list_human(args, body),
    )
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    body = api_client(args).request("GET", f"/algos/{path_symbol(args.symbol)}/stats")

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


def cmd_logs(args: argparse.Namespace) -> int:
    client = api_client(args)
    path = f"/algos/{path_symbol(args.symbol)}"
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


# -- the parser ----------------------------------------------------------------------------------------


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

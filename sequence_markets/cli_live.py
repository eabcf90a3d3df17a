"""Live trading commands: `sequence connect <venue>`, `sequence connections`,
`sequence disconnect <venue>`, `sequence limits <venue>`, `sequence kill`.

`connect` prompts for each credential field without echo (getpass); a field answered with
``@PATH`` is read from that file (a PEM key). ``--from-file FILE`` reads a JSON object of the
fields instead. Nothing secret is printed, ever: the API answers with the connection, not the keys.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from sequence_markets.cli_common import api_client, emit
from sequence_markets.client import SequenceError

RULES = (
    "max_order_notional",
    "max_position_notional",
    "max_open_orders",
    "max_orders_per_second",
    "daily_loss_limit",
)


def _fail(message: str) -> SequenceError:
    return SequenceError(0, message, "error")


def _read_file(path: str) -> str:
    try:
        return Path(path).expanduser().read_text()
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}") from None


def _credentials(args: argparse.Namespace, fields: list[str]) -> dict[str, str]:
    if args.from_file:
        text = sys.stdin.read() if args.from_file == "-" else _read_file(args.from_file)
        try:
            data = json.loads(text)
        except ValueError:
            raise _fail(f"{args.from_file} is not a JSON object of {', '.join(fields)}") from None
        if not isinstance(data, dict):
            raise _fail(f"{args.from_file} must hold a JSON object of {', '.join(fields)}")
        return {str(k): str(v) for k, v in data.items()}
    if not sys.stdin.isatty():
        raise _fail("no terminal to prompt on: use --from-file FILE (a JSON object of the fields)")
    out = {}
    for name in fields:
        value = getpass.getpass(f"{name} (hidden; @PATH reads a file): ").strip()
        out[name] = _read_file(value[1:]) if value.startswith("@") else value
    return out


def cmd_connect(args: argparse.Namespace) -> int:
    client = api_client(args, timeout=30.0)
    venue = args.venue.lower()
    try:
        venues = client.request("GET", "/venues")["venues"]
    except SequenceError as exc:
        if exc.code == "live_key_required":
            raise SequenceError(
                exc.status,
                "connecting a venue needs a live (seq_live_) key: sandbox keys paper-trade and never "
                "reach a venue. `sequence login --api-key seq_live_...`, or SEQUENCE_API_KEY.",
                exc.code,
            ) from None
        raise
    info = venues.get(venue)
    if info is None:
        raise _fail(f"unknown venue {args.venue!r}; known: {', '.join(venues)}")
    if not info.get("available", True):
        raise _fail(f"this server cannot trade at {venue} live (no order client for it)")
    body = {"credentials": _credentials(args, info["fields"]), "label": args.label or ""}
    done = client.request("POST", f"/venues/{venue}/connect", json_body=body)
    emit(
        args,
        done,
        lambda d: (
            f"Connected {d['venue']}{' (' + d['label'] + ')' if d['label'] else ''}: credentials "
            f"verified with the venue ({len(d['balances'])} balance(s)) and stored sealed."
        ),
    )
    return 0


def cmd_connections(args: argparse.Namespace) -> int:
    data = api_client(args).request("GET", "/venues")

    def human(d: dict[str, Any]) -> str:
        if not d["connections"]:
            return "No venue connected. Connect one with `sequence connect <venue>`."
        lines = [f"{'VENUE':<11} {'LABEL':<16} {'CREATED':<20} {'LAST VERIFIED':<20} UNKNOWN ORDERS"]
        for c in d["connections"]:
            lines.append(
                f"{c['venue']:<11} {c['label'] or '-':<16} {str(c['created_at'])[:19]:<20} "
                f"{str(c['last_verified_at'] or '-')[:19]:<20} {len(c['unknown_orders'])}"
            )
        return "\n".join(lines)

    emit(args, data, human)
    return 0


def cmd_disconnect(args: argparse.Namespace) -> int:
    data = api_client(args).request("DELETE", f"/venues/{args.venue.lower()}")
    emit(args, data, lambda d: f"Disconnected {d['venue']}: its credentials are deleted.")
    return 0


def cmd_limits(args: argparse.Namespace) -> int:
    client = api_client(args)
    path = f"/venues/{args.venue.lower()}/limits"
    changes: dict[str, Any] = {}
    for item in args.set or []:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in RULES:
            raise _fail(f"--set takes RULE=VALUE with RULE one of {', '.join(RULES)} (got {item!r})")
        value = value.strip()
        if value in ("", "default"):
            changes[name] = None
        elif name in ("max_open_orders", "max_orders_per_second"):
            try:
                changes[name] = int(value)
            except ValueError:
                raise _fail(f"{name} must be a whole number, got {value!r}") from None
        else:
            changes[name] = value
    data = client.request("PATCH", path, json_body=changes) if changes else client.request("GET", path)
    emit(
        args,
        data,
        lambda d: "\n".join(
            [f"Risk limits at {d['venue']} (USD):"]
            + [f"  {k:<22} {v}{'' if k in d['custom'] else '  (default)'}" for k, v in d["limits"].items()]
        ),
    )
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    data = api_client(args, timeout=60.0).request("POST", "/kill")

    def human(d: dict[str, Any]) -> str:
        lines = [
            f"Kill switch: {len(d['graphs_cancelled'])} graph(s) cancelled, "
            f"{len(d['algos_stopped'])} algo(s) stopped."
        ]
        for v in d["venues"]:
            if v["error"]:
                lines.append(f"  {v['venue']}: could not cancel ({v['error']})")
            else:
                lines.append(f"  {v['venue']}: {len(v['cancelled'])} open order(s) cancelled")
        return "\n".join(lines)

    emit(args, data, human)
    return 0 if not any(v["error"] for v in data["venues"]) else 1


def add_live_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    connect = sub.add_parser("connect", parents=[common], help="store your API credentials for a venue")
    connect.add_argument("venue", help="kraken, coinbase, kalshi or polymarket")
    connect.add_argument(
        "--from-file", metavar="FILE", help="a JSON object of the credential fields (- for stdin)"
    )
    connect.add_argument("--label", help="a name for this connection")
    connect.set_defaults(func=cmd_connect)

    connections = sub.add_parser("connections", parents=[common], help="list your venue connections")
    connections.set_defaults(func=cmd_connections)

    disconnect = sub.add_parser("disconnect", parents=[common], help="delete your credentials for a venue")
    disconnect.add_argument("venue")
    disconnect.set_defaults(func=cmd_disconnect)

    limits = sub.add_parser("limits", parents=[common], help="show or set your risk limits at a venue")
    limits.add_argument("venue")
    limits.add_argument(
        "--set",
        action="append",
        metavar="RULE=VALUE",
        help=f"one of {', '.join(RULES)}; VALUE 'default' resets",
    )
    limits.set_defaults(func=cmd_limits)

    kill = sub.add_parser(
        "kill",
        parents=[common],
        help="cancel every open live order everywhere and stop live algos and graphs",
    )
    kill.set_defaults(func=cmd_kill)

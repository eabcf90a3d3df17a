"""Polymarket's market catalogue: Gamma events/markets joined with the CLOB's book rules.

Sources (docs.polymarket.com; captures and pitfalls in ../shared/venues/polymarket/NOTES.md):

- Gamma `GET /events` and `GET /markets` (https://gamma-api.polymarket.com), paged with `limit` and
  `offset`, filtered with `active`/`closed`. A market's `outcomes`, `outcomePrices` and
  `clobTokenIds` are **strings holding JSON arrays** (parse twice); outcome i pairs with token i.
  Market `volume`/`liquidity` are strings (`volumeNum`/`liquidityNum` numbers), event ones numbers.
  `orderPriceMinTickSize` and `orderMinSize` are numbers when present.
- CLOB `GET /book?token_id=` (https://clob.polymarket.com) answers `tick_size`, `min_order_size`
  (strings) and `neg_risk`; it fills what Gamma leaves out (the docs do not promise tick and
  minimum size on event-nested markets). 404 means the token has no order book.

Every Polymarket market is binary: outcome 0's token is our YES instrument, outcome 1's our NO
(for "Up"/"Down" or team-name markets too; `outcome_names` keeps the venue's words). A
multi-outcome event is one binary market per outcome. Which outcomes are *placeholders* (the
unnamed slots of an augmented neg-risk event) is not documented in the material here, so
`is_placeholder` accepts several markers (see `_is_placeholder`) instead of trusting one.

HTTP goes through `venues.live.rest.RestClient` (one for Gamma, one for the CLOB): it retries 429
and 5xx after `Retry-After` (the venue's rate limits throttle and sometimes refuse) and keeps the
venue's `{"error": ...}` body otherwise. No Django here: the sync task that stores rows lives in an
app.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from venues.instruments import PRICE_SCALE, Instrument, PredictionMarket, live_instrument, to_price_1e9
from venues.live.rest import RestClient, RestError

__all__ = [
    "DEFAULT_GAMMA_URL",
    "DEFAULT_CLOB_URL",
    "CatalogueError",
    "PolymarketMarket",
    "CatalogueEntry",
    "parse_json_array",
    "parse_gamma_market",
    "parse_gamma_event",
    "iter_gamma_pages",
    "fetch_gamma_markets",
    "fetch_gamma_events",
    "fetch_clob_book_rules",
    "fetch_catalogue",
    "entry_for",
]

DEFAULT_GAMMA_URL = "https://gamma-api.polymarket.com"
DEFAULT_CLOB_URL = "https://clob.polymarket.com"

_TOKEN_RE = re.compile(r"[0-9]{1,78}")
_CONDITION_RE = re.compile(r"0x[0-9a-fA-F]{64}")
# Lot: shares to two decimals, the precision Polymarket's own clients round order sizes to.
_LOT = "0.01"
# The $1 minimum notional the product documents promise (hosted-strategies.txt: sub-$1 orders rest
# forever). NOTES.md: widely repeated, not found in the official docs reachable here.
_MIN_NOTIONAL = "1"


class CatalogueError(Exception):
    """The catalogue could not be read (HTTP failure after retries, or an answer of the wrong shape)."""


# --------------------------------------------------------------------------------------------------
# Parsing


def parse_json_array(value: Any, name: str) -> list[Any]:
    """Gamma's JSON-encoded array strings ('["Yes", "No"]'); a real list is accepted too."""
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        raise CatalogueError(f"{name}: expected a JSON array string, got {type(value).__name__}")
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise CatalogueError(f"{name}: not JSON: {value[:80]!r}") from exc
    if not isinstance(parsed, list):
        raise CatalogueError(f"{name}: not an array: {value[:80]!r}")
    return parsed


def _decimal_text(value: Any) -> str | None:
    """A Gamma/CLOB number or numeric string as exact decimal text ("0.01"), or None."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return None
    if not d.is_finite() or d <= 0:
        return None
    text = format(d.normalize(), "f")
    return text


def _number(value: Any) -> float:
    if value is None or value == "" or isinstance(value, bool):
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _flag(value: Any, default: bool | None = None) -> bool | None:
    if isinstance(value, bool):
        return value
    return default


_PLACEHOLDER_TITLE = re.compile(
    r"(?i)(other|others|person|candidate|player|team|option|outcome) [a-z0-9]{1,3}"
)


def _is_placeholder(raw: Mapping[str, Any], event: Mapping[str, Any] | None) -> bool:
    """Is this market a placeholder outcome of a multi-outcome event?

    Gamma's marker is not documented in the material reachable here (NOTES.md), so any of: the
    market's `negRiskOther` flag (the catch-all "Other" of an augmented neg-risk event), a
    `groupItemTitle` of "Other", or, in an augmented event (`negRiskAugmented`), a title shaped
    like the generic slots the site shows for unnamed outcomes ("Person A", "Candidate 3")."""
    if raw.get("negRiskOther") is True:
        return True
    title = str(raw.get("groupItemTitle") or "").strip()
    if title.lower() in ("other", "others"):
        return True
    augmented = bool(event and event.get("negRiskAugmented") is True)
    return augmented and bool(_PLACEHOLDER_TITLE.fullmatch(title))


@dataclass(frozen=True, slots=True, kw_only=True)
class PolymarketMarket:
    """One Gamma market (a binary market: two outcome tokens), as read, nothing inferred yet."""

    gamma_id: str
    condition_id: str
    slug: str
    question: str
    outcome_names: tuple[str, str]
    token_ids: tuple[str, str]  # (outcome 0 = our YES, outcome 1 = our NO)
    outcome_prices: tuple[str, ...]
    active: bool
    closed: bool
    accepting_orders: bool | None
    enable_order_book: bool | None
    tick_size: str | None  # exact decimal text, e.g. "0.01"
    min_order_size: str | None  # shares, e.g. "5"
    neg_risk: bool
    volume: float
    liquidity: float
    group_item_title: str
    end_date: str
    category: str
    event_slug: str
    event_title: str
    event_markets: int  # markets in the event this row came with (1 when unknown)
    is_placeholder: bool

    @property
    def yes_token_id(self) -> str:
        return self.token_ids[0]

    @property
    def no_token_id(self) -> str:
        return self.token_ids[1]

    @property
    def tradable(self) -> bool:
        """Open for orders on the CLOB: active, not closed, accepting orders, with an order book."""
        return (
            self.active
            and not self.closed
            and self.accepting_orders is not False
            and self.enable_order_book is not False
        )

    @property
    def outcome_name(self) -> str:
        """The name a user picks this row by: the outcome within its event ("Gretchen Whitmer"),
        outcome 0 of a market whose outcomes are not Yes/No ("Up", "FaZe"), else "Yes"."""
        if self.outcome_names[0].lower() != "yes":
            return self.outcome_names[0]
        return self.group_item_title or "Yes"


def parse_gamma_market(
    raw: Any, *, event: Mapping[str, Any] | None = None, event_markets: int = 1
) -> PolymarketMarket:
    """One Gamma market object → `PolymarketMarket`. Raises `CatalogueError` when it has no two
    outcome tokens (legacy AMM markets, malformed rows): such a market can't be traded on the CLOB."""
    if not isinstance(raw, Mapping):
        raise CatalogueError(f"market: expected an object, got {type(raw).__name__}")
    gid = str(raw.get("id") or "")
    condition_id = raw.get("conditionId")
    if not isinstance(condition_id, str) or not _CONDITION_RE.fullmatch(condition_id):
        raise CatalogueError(f"market {gid}: bad conditionId {condition_id!r}")
    tokens = parse_json_array(raw.get("clobTokenIds"), f"market {gid} clobTokenIds")
    outcomes = parse_json_array(raw.get("outcomes"), f"market {gid} outcomes")
    if len(tokens) != 2 or len(outcomes) != 2:
        raise CatalogueError(f"market {gid}: {len(outcomes)} outcomes / {len(tokens)} tokens, not 2")
    if not all(isinstance(t, str) and _TOKEN_RE.fullmatch(t) for t in tokens):
        raise CatalogueError(f"market {gid}: token ids are not decimal strings")
    if tokens[0] == tokens[1]:
        raise CatalogueError(f"market {gid}: both outcomes have one token id")
    prices_raw = raw.get("outcomePrices")
    try:
        prices = tuple(str(p) for p in parse_json_array(prices_raw, "outcomePrices")) if prices_raw else ()
    except CatalogueError:
        prices = ()
    slug = raw.get("slug")
    if not isinstance(slug, str) or not slug:
        raise CatalogueError(f"market {gid}: no slug")
    ev = event
    if ev is None:
        events = raw.get("events")
        if isinstance(events, list) and events and isinstance(events[0], Mapping):
            ev = events[0]
    volume = raw.get("volumeNum") if raw.get("volumeNum") is not None else raw.get("volume")
    liquidity = raw.get("liquidityNum") if raw.get("liquidityNum") is not None else raw.get("liquidity")
    return PolymarketMarket(
        gamma_id=gid,
        condition_id=condition_id,
        slug=slug,
        question=str(raw.get("question") or slug),
        outcome_names=(str(outcomes[0]), str(outcomes[1])),
        token_ids=(tokens[0], tokens[1]),
        outcome_prices=prices,
        active=_flag(raw.get("active"), False) is True,
        closed=_flag(raw.get("closed"), False) is True,
        accepting_orders=_flag(raw.get("acceptingOrders")),
        enable_order_book=_flag(raw.get("enableOrderBook")),
        tick_size=_decimal_text(raw.get("orderPriceMinTickSize")),
        min_order_size=_decimal_text(raw.get("orderMinSize")),
        neg_risk=raw.get("negRisk") is True,
        volume=_number(volume),
        liquidity=_number(liquidity),
        group_item_title=str(raw.get("groupItemTitle") or ""),
        end_date=str(raw.get("endDate") or ""),
        category=str(raw.get("category") or (ev or {}).get("category") or ""),
        event_slug=str((ev or {}).get("slug") or slug),
        event_title=str((ev or {}).get("title") or raw.get("question") or slug),
        event_markets=event_markets,
        is_placeholder=_is_placeholder(raw, ev),
    )


def parse_gamma_event(raw: Any) -> tuple[list[PolymarketMarket], list[str]]:
    """One Gamma event → its markets, and a note per market that could not be read."""
    if not isinstance(raw, Mapping):
        raise CatalogueError(f"event: expected an object, got {type(raw).__name__}")
    markets = raw.get("markets") or []
    if not isinstance(markets, list):
        raise CatalogueError(f"event {raw.get('id')}: markets is not a list")
    rows: list[PolymarketMarket] = []
    skipped: list[str] = []
    for m in markets:
        try:
            rows.append(parse_gamma_market(m, event=raw, event_markets=len(markets)))
        except CatalogueError as exc:
            skipped.append(str(exc))
    return rows, skipped


# --------------------------------------------------------------------------------------------------
# Our rows


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One tradable binary market: the /v1/markets row and its two instruments."""

    market: PolymarketMarket
    row: PredictionMarket
    yes: Instrument
    no: Instrument
    extra: dict[str, Any] = field(default_factory=dict)


def entry_for(m: PolymarketMarket) -> CatalogueEntry:
    """A market with a known tick and minimum size → our market row and YES/NO instruments."""
    if m.tick_size is None or m.min_order_size is None:
        raise CatalogueError(f"{m.slug}: tick size / minimum order size unknown")
    tick_1e9 = to_price_1e9(m.tick_size)
    if not 0 < tick_1e9 < PRICE_SCALE // 2:
        raise CatalogueError(f"{m.slug}: tick {m.tick_size} out of range")
    max_price = str(Decimal(1) - Decimal(m.tick_size))
    yes_price_1e9 = 0
    if m.outcome_prices:
        try:
            yes_price_1e9 = int(Decimal(m.outcome_prices[0]) * PRICE_SCALE)
        except InvalidOperation:
            yes_price_1e9 = 0
    active = m.tradable
    common: dict[str, Any] = {
        "venue": "polymarket",
        "kind": "prediction",
        "tick": m.tick_size,
        "lot": _LOT,
        "min_qty": m.min_order_size,
        "max_qty": "1000000",
        "min_notional": _MIN_NOTIONAL,
        "min_notional_rests": True,  # under $1: accepted, rests, never fills (hosted-strategies.txt)
        "max_price": max_price,
        "market": m.slug,
        "active": active,
    }
    yes = live_instrument(symbol=m.yes_token_id, outcome="YES", **common)
    no = live_instrument(symbol=m.no_token_id, outcome="NO", **common)
    row = PredictionMarket(
        venue="polymarket",
        slug=m.slug,
        ticker=m.slug,
        title=m.question,
        event=m.event_slug,
        event_title=m.event_title,
        outcome_name=m.outcome_name,
        yes_token_id=m.yes_token_id,
        no_token_id=m.no_token_id,
        is_placeholder_outcome=m.is_placeholder,
        liquidity=m.liquidity,
        volume=m.volume,
        active=active,
        tick_1e9=tick_1e9,
        yes_price_1e9=yes_price_1e9,
        close_time=m.end_date,
        category=m.category,
        multi_outcome=m.event_markets > 1,
    )
    extra = {
        "gamma_id": m.gamma_id,
        "condition_id": m.condition_id,
        "neg_risk": m.neg_risk,
        "min_order_size": m.min_order_size,
        "tick_size": m.tick_size,
        "outcome_names": list(m.outcome_names),
        "accepting_orders": m.accepting_orders,
    }
    return CatalogueEntry(market=m, row=row, yes=yes, no=no, extra=extra)


# --------------------------------------------------------------------------------------------------
# HTTP


def _params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Query values as Gamma spells them (booleans lower-case), None dropped."""
    return {
        k: ("true" if v is True else "false" if v is False else v) for k, v in params.items() if v is not None
    }


def iter_gamma_pages(
    gamma: RestClient,
    path: str,
    params: Mapping[str, Any],
    *,
    page_size: int = 100,
    max_items: int | None = None,
    max_pages: int = 1000,
) -> Iterator[Any]:
    """Every item of a Gamma list endpoint, page by page (`limit`/`offset`) until a short page."""
    offset = 0
    seen = 0
    for _ in range(max_pages):
        limit = page_size if max_items is None else min(page_size, max_items - seen)
        if limit <= 0:
            return
        page = _get(gamma, path, {**_params(params), "limit": limit, "offset": offset})
        if not isinstance(page, list):
            raise CatalogueError(f"GET {path}: expected a JSON array, got {type(page).__name__}")
        yield from page
        seen += len(page)
        offset += len(page)
        if len(page) < limit:
            return
    raise CatalogueError(f"GET {path}: more than {max_pages} pages")


def _get(client: RestClient, path: str, params: Mapping[str, Any]) -> Any:
    try:
        return client.get_json(path, params)
    except RestError:
        raise
    except (OSError, ValueError) as exc:  # unreachable, or an answer that is not JSON
        raise CatalogueError(f"GET {client.url(path, params)}: {exc}") from exc


def fetch_gamma_markets(
    gamma: RestClient,
    *,
    active: bool | None = True,
    closed: bool | None = False,
    order: str | None = None,
    page_size: int = 100,
    max_items: int | None = None,
) -> tuple[list[PolymarketMarket], list[str]]:
    """Gamma `/markets` (standalone rows) → markets, and notes on the ones skipped."""
    params: dict[str, Any] = {"active": active, "closed": closed}
    if order:
        params.update(order=order, ascending=False)
    rows: list[PolymarketMarket] = []
    skipped: list[str] = []
    for raw in iter_gamma_pages(gamma, "/markets", params, page_size=page_size, max_items=max_items):
        try:
            rows.append(parse_gamma_market(raw))
        except CatalogueError as exc:
            skipped.append(str(exc))
    return rows, skipped


def fetch_gamma_events(
    gamma: RestClient,
    *,
    active: bool | None = True,
    closed: bool | None = False,
    order: str | None = None,
    page_size: int = 100,
    max_items: int | None = None,
) -> tuple[list[PolymarketMarket], list[str]]:
    """Gamma `/events` → every market of every event (one row per outcome market)."""
    params: dict[str, Any] = {"active": active, "closed": closed}
    if order:
        params.update(order=order, ascending=False)
    rows: list[PolymarketMarket] = []
    skipped: list[str] = []
    for raw in iter_gamma_pages(gamma, "/events", params, page_size=page_size, max_items=max_items):
        try:
            got, notes = parse_gamma_event(raw)
        except CatalogueError as exc:
            skipped.append(str(exc))
            continue
        rows.extend(got)
        skipped.extend(notes)
    return rows, skipped


def fetch_clob_book_rules(clob: RestClient, token_id: str) -> tuple[str, str, bool] | None:
    """(tick_size, min_order_size, neg_risk) from CLOB `/book`, or None when the token has no book."""
    try:
        book = _get(clob, "/book", {"token_id": token_id})
    except RestError as exc:
        if exc.status == 404:  # "No orderbook exists for the requested token id"
            return None
        raise
    if not isinstance(book, Mapping):
        raise CatalogueError(f"/book {token_id}: not an object")
    tick = _decimal_text(book.get("tick_size"))
    min_size = _decimal_text(book.get("min_order_size"))
    if tick is None or min_size is None:
        return None
    return tick, min_size, book.get("neg_risk") is True


def fetch_catalogue(
    gamma: RestClient,
    clob: RestClient,
    *,
    page_size: int = 100,
    max_events: int | None = None,
    include_standalone: bool = True,
) -> tuple[list[CatalogueEntry], list[str]]:
    """The open Polymarket markets as catalogue entries, and notes on what was skipped.

    Markets come from Gamma's active, not-closed events (with their event context) and, with
    `include_standalone`, Gamma's market list for anything no event carried; one entry per
    condition id. A market whose tick size or minimum size Gamma left out is completed from the
    CLOB's `/book`; one without an order book there is skipped. HTTP failures (after the client's
    retries) raise `venues.live.rest.RestError`; unreachable hosts `CatalogueError`."""
    by_condition: dict[str, PolymarketMarket] = {}
    notes: list[str] = []
    events, skipped = fetch_gamma_events(gamma, page_size=page_size, max_items=max_events)
    notes.extend(skipped)
    for m in events:
        by_condition.setdefault(m.condition_id, m)
    if include_standalone:
        markets, skipped = fetch_gamma_markets(gamma, page_size=page_size)
        notes.extend(skipped)
        for m in markets:
            by_condition.setdefault(m.condition_id, m)
    entries: list[CatalogueEntry] = []
    for m in by_condition.values():
        if m.closed or m.enable_order_book is False:
            continue
        if m.tick_size is None or m.min_order_size is None:
            rules = fetch_clob_book_rules(clob, m.yes_token_id)
            if rules is None:
                notes.append(f"{m.slug}: no order book on the CLOB")
                continue
            tick, min_size, neg_risk = rules
            m = replace(
                m,
                tick_size=m.tick_size or tick,
                min_order_size=m.min_order_size or min_size,
                neg_risk=m.neg_risk or neg_risk,
            )
        try:
            entries.append(entry_for(m))
        except (CatalogueError, ValueError) as exc:
            notes.append(str(exc))
    return entries, notes

"""How the dashboard writes numbers, times and states: one place, so every page reads alike.

Numbers get thousands separators and a fixed number of decimals; PnL gets its sign (``+12.13``) and a
``pos``/``neg`` class; nanosecond timestamps read as UTC with the nanoseconds on hover; a
deployment's status reads as the word a user would say (``stopped``, not the API's ``accepted``).
Only the rendering changes: the API keeps its words and raw numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from algo_studio.lifecycle import state_word as _state_word
from venues.symbols import quote_currency

register = template.Library()


def _number(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


@register.filter
def num(value: Any, places: int = 2) -> str:
    """``1234567.891`` → ``1,234,567.89``; not a number → as it is."""
    number = _number(value)
    if number is None:
        return "" if value is None else str(value)
    rounded = number.quantize(Decimal(1).scaleb(-int(places)))
    return f"{rounded if rounded != 0 else Decimal(0):,.{int(places)}f}"


@register.filter
def thousands(value: Any) -> str:
    """Separators without changing the decimals given (a price ``60000.125`` → ``60,000.125``)."""
    number = _number(value)
    if number is None:
        return "" if value is None else str(value)
    return f"{number:,f}"


@register.filter
def signed(value: Any, places: int = 2) -> str:
    """PnL with its sign: ``+12.13``, ``-128,528.78``, ``0.00``."""
    number = _number(value)
    if number is None:
        return "" if value is None else str(value)
    rounded = number.quantize(Decimal(1).scaleb(-int(places)))
    if rounded == 0:
        return f"{Decimal(0):,.{int(places)}f}"
    return f"{rounded:+,.{int(places)}f}"


@register.filter
def pnl_class(value: Any) -> str:
    """``pos`` / ``neg`` / ``""``: green, red, or neither."""
    number = _number(value)
    if number is None or number == 0:
        return ""
    return "pos" if number > 0 else "neg"


@register.filter
def quote_ccy(symbols: Any) -> str:
    """The currency PnL is counted in: the quote of the symbols when they share one (``ETH/USD`` →
    ``USD``), else empty."""
    if isinstance(symbols, str):
        symbols = [symbols]
    quotes = {quote_currency(str(s)) for s in symbols or [] if "/" in str(s) or "-" in str(s)}
    return quotes.pop() if len(quotes) == 1 else ""


def ns_datetime(ts_ns: int) -> datetime:
    return datetime.fromtimestamp(int(ts_ns) // 1_000_000_000, tz=UTC).replace(
        microsecond=(int(ts_ns) % 1_000_000_000) // 1000
    )


@register.filter
def utc_ns(ts_ns: Any, style: str = "full") -> SafeString | str:
    """A nanosecond timestamp as readable UTC (``2026-11-01 12:00:00.445``), the exact nanoseconds
    on hover. ``style="time"`` leaves the date out."""
    try:
        moment = ns_datetime(int(ts_ns))
    except (TypeError, ValueError, OverflowError):
        return "" if ts_ns is None else str(ts_ns)
    fmt = "%H:%M:%S" if style == "time" else "%Y-%m-%d %H:%M:%S"
    text = f"{moment.strftime(fmt)}.{moment.microsecond // 1000:03d}"
    return format_html(
        '<time datetime="{}" title="{} ns since the epoch (UTC)">{}</time>',
        moment.isoformat(), ts_ns, text,
    )  # fmt: skip


@register.filter
def utc_s(ts_s: Any) -> SafeString | str:
    """A timestamp in whole seconds (the equity curve's `ts`) as readable UTC."""
    try:
        return utc_ns(int(ts_s) * 1_000_000_000)
    except (TypeError, ValueError):
        return "" if ts_s is None else str(ts_s)


@register.filter
def utc(moment: Any) -> SafeString | str:
    """A datetime as ``2026-11-01 12:00:00 UTC`` with the ISO form on hover."""
    if not isinstance(moment, datetime):
        return "" if moment is None else str(moment)
    moment = moment.astimezone(UTC)
    return format_html('<time datetime="{}" title="{}">{} UTC</time>', moment.isoformat(), moment.isoformat(),
                       moment.strftime("%Y-%m-%d %H:%M:%S"))  # fmt: skip


@register.filter
def state_word(status: str, desired: str | None = None) -> str:
    """The word a user would say for an algo's status given what they asked for."""
    return _state_word(status, desired)


@register.filter
def sparkline(values: Any, width: int = 120) -> SafeString:
    """A small inline SVG line of ``values`` (no script, no request): green when the last point is
    above the first, red when below, grey when flat or too short to draw."""
    points = [float(v) for v in values or []]
    height = 28
    if len(points) < 2:
        return format_html(
            '<svg class="spark" width="{}" height="{}" viewBox="0 0 {} {}" aria-label="no data yet">'
            '<line x1="0" y1="{}" x2="{}" y2="{}" class="flat"/></svg>',
            width, height, width, height, height // 2, width, height // 2,
        )  # fmt: skip
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    step = width / (len(points) - 1)
    coords = " ".join(
        f"{i * step:.1f},{(height - 2) - (p - low) / span * (height - 4):.1f}" for i, p in enumerate(points)
    )
    trend = "up" if points[-1] > points[0] else "down" if points[-1] < points[0] else "flat"
    return format_html(
        '<svg class="spark {}" width="{}" height="{}" viewBox="0 0 {} {}" data-points="{}"'
        ' aria-label="PnL, last hour">'
        '<polyline points="{}"/></svg>',
        trend, width, height, width, height, len(points), coords,
    )  # fmt: skip

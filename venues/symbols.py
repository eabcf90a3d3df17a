"""Spot symbol normalization: "btc-usd", "BTC-USD" and "BTC/USD" all mean "BTC/USD".

Prediction-market symbols (Kalshi tickers, Polymarket token ids) are not spot symbols and are
left to `instruments.find_instrument`; this helper only knows the BASE/QUOTE shape.
"""

from __future__ import annotations

import re

__all__ = ["normalize_spot_symbol", "is_spot_symbol", "hyphen_symbol"]

# 2..10 alphanumerics per leg, starting with a letter: BTC, ETH, XRP, USD, USDC, 1INCH is not listed
# by us, so requiring a leading letter costs nothing and rejects "123-456" style garbage.
_LEG = r"[A-Za-z][A-Za-z0-9]{1,9}"
# Only the two spellings the API documents (hyphen and slash); anything else is a client error.
_SPOT_RE = re.compile(rf"({_LEG})[-/]({_LEG})")


def normalize_spot_symbol(symbol: str) -> str:
    """Return the canonical slash form ("BTC/USD") of a spot symbol.

    Accepts "BTC/USD" and "btc-usd" (any case). Raises ValueError for anything else: empty
    strings, one leg, three legs ("KXBTC-26DEC31-B100K" is not spot), other separators or
    whitespace, identical legs, or legs that are not 2..10 alphanumerics starting with a letter.
    """
    if not isinstance(symbol, str):
        raise ValueError(f"spot symbol must be a string, got {type(symbol).__name__}")
    match = _SPOT_RE.fullmatch(symbol)  # fullmatch: no trailing newline slips through
    if match is None:
        raise ValueError(f"not a spot symbol (expected BASE/QUOTE or BASE-QUOTE): {symbol!r}")
    base, quote = match.group(1).upper(), match.group(2).upper()
    if base == quote:
        raise ValueError(f"spot symbol has the same base and quote: {symbol!r}")
    return f"{base}/{quote}"


def is_spot_symbol(symbol: str) -> bool:
    """True when `normalize_spot_symbol(symbol)` would succeed."""
    try:
        normalize_spot_symbol(symbol)
    except ValueError:
        return False
    return True


def hyphen_symbol(symbol: str) -> str:
    """The spelling of every non-algo API answer: "BTC/USD" -> "BTC-USD". Prediction tokens and
    tickers have no slash and come back unchanged."""
    return symbol.replace("/", "-")

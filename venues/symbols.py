"""Spot symbols, the one place they are parsed: "btc-usd", "BTC-USD" and "BTC/USD" all mean "BTC/USD".

`Symbol` is the value type of every face (algo endpoints answer in slash form, ``BTC/USD``; every
other endpoint in hyphen form, ``BTC-USD``); the edges, the backtest replay and the web faces all
normalise through this module. Prediction-market symbols (Kalshi tickers, Polymarket token ids) are
not spot symbols and are left to `instruments.find_instrument`; this module only knows BASE/QUOTE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "Symbol",
    "SymbolError",
    "hyphen_symbol",
    "is_spot_symbol",
    "normalize_spot_symbol",
    "quote_currency",
]

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


def quote_currency(symbol: str) -> str:
    """The quote leg of a pair in either spelling ("ETH-USDC" -> "USDC"); text without a separator
    comes back whole."""
    return symbol.replace("-", "/").rpartition("/")[2]


class SymbolError(ValueError):
    """Text that is not a spot symbol; the message says what is expected (the web faces answer 400)."""


_FILENAME = re.compile(r"^algo_([a-z][a-z0-9]{1,9})_([a-z][a-z0-9]{1,9})\.wasm$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Symbol:
    base: str
    quote: str

    @classmethod
    def parse(cls, text: str) -> Symbol:
        """``BTC-USD``, ``BTC/USD`` (any case) -> Symbol; ``SymbolError`` with an example otherwise."""
        try:
            base, quote = normalize_spot_symbol(text).split("/")
        except (ValueError, TypeError):
            raise SymbolError(
                f"Bad symbol {text!r}: expected BASE/QUOTE or BASE-QUOTE, e.g. BTC/USD or BTC-USD."
            ) from None
        return cls(base, quote)

    @classmethod
    def from_filename(cls, filename: str) -> Symbol | None:
        """The symbol of ``algo_<base>_<quote>.wasm`` (``algo_btc_usd.wasm`` -> BTC/USD), else None."""
        match = _FILENAME.match(filename.strip())
        if match is None:
            return None
        return cls(match.group(1).upper(), match.group(2).upper())

    @property
    def slash(self) -> str:
        return f"{self.base}/{self.quote}"

    @property
    def hyphen(self) -> str:
        return f"{self.base}-{self.quote}"

    def __str__(self) -> str:
        return self.slash

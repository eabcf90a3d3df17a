"""Symbols on the web faces: `venues.symbols` parses them (the one place); a bad one is answered here
as ``InvalidInput`` (400, with an example of what is expected)."""

from __future__ import annotations

from sequence_site.errors import InvalidInput
from venues.symbols import Symbol, SymbolError


def parse_symbol(text: str) -> Symbol:
    """``BTC-USD``, ``BTC/USD`` (any case) -> Symbol; ``InvalidInput`` with an example otherwise."""
    try:
        return Symbol.parse(text)
    except SymbolError as exc:
        raise InvalidInput(str(exc)) from None

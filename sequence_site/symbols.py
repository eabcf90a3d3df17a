"""The one symbol type of the web faces: parse any accepted spelling once, format per endpoint.

Algo endpoints answer in slash form (``BTC/USD``); every other endpoint uses hyphen form
(``BTC-USD``). Parsing itself lives with the venues (``venues.symbols``, pure Python) so the
edge and the backtest replay normalise exactly as the API does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sequence_site.errors import InvalidInput
from venues.symbols import normalize_spot_symbol

_FILENAME = re.compile(r"^algo_([a-z][a-z0-9]{1,9})_([a-z][a-z0-9]{1,9})\.wasm$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Symbol:
    base: str
    quote: str

    @classmethod
    def parse(cls, text: str) -> Symbol:
        """``BTC-USD``, ``BTC/USD`` (any case) -> Symbol; ``InvalidInput`` with an example otherwise."""
        try:
            base, quote = normalize_spot_symbol(text).split("/")
        except (ValueError, TypeError):
            raise InvalidInput(
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

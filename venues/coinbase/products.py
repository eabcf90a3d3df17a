"""Coinbase product ids ("BTC-USD") and our canonical spot symbols ("BTC/USD").

A product id is BASE-QUOTE with Coinbase's currency ids; our symbol is the same pair with a slash
(`venues.symbols`). One twist (../shared/venues/coinbase/NOTES.md item 13, from the docs' "WebSocket
Channels" page): "Subscribing to '-USDC' based products are only available on the user channel.
Other channels will return the same data as the corresponding '-USD' based products. USDT-USDC and
EURC-USDC are available on all channels." The REST product list says the same per product:
BTC-USDC has `alias` "BTC-USD" (one order book for both quotes). So the market-data product of
"BTC/USDC" is "BTC-USD" (`market_data_product`), and a feed asked for both BTC/USD and BTC/USDC
follows one book and publishes it under both symbols.
"""

from __future__ import annotations

from venues.symbols import normalize_spot_symbol

__all__ = ["market_data_product", "product_id", "symbol_for_product", "USDC_OWN_BOOKS"]

#: -USDC products that keep their own book on every channel (the docs' exception).
USDC_OWN_BOOKS = frozenset({"USDT-USDC", "EURC-USDC"})


def product_id(symbol: str) -> str:
    """ "BTC/USD" or "btc-usd" → "BTC-USD". Raises ValueError for a symbol that is not BASE/QUOTE."""
    return normalize_spot_symbol(symbol).replace("/", "-")


def symbol_for_product(product: str) -> str:
    """ "BTC-USD" → "BTC/USD". Raises ValueError for a product id that is not BASE-QUOTE."""
    return normalize_spot_symbol(product)


def market_data_product(symbol: str) -> str:
    """The product whose `level2` book is `symbol`'s book: its own product id, except a -USDC pair
    other than USDT-USDC/EURC-USDC, which reads the -USD product (see the module docstring)."""
    pid = product_id(symbol)
    if pid.endswith("-USDC") and pid not in USDC_OWN_BOOKS:
        return pid[: -len("USDC")] + "USD"
    return pid

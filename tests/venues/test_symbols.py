"""venues.symbols, the one place spot symbols are parsed: the value type, its two spellings, the
upload file name, the quote leg, and the message a bad symbol gets."""

from __future__ import annotations

import pytest

from sequence_site.errors import InvalidInput
from sequence_site.symbols import parse_symbol
from venues.symbols import Symbol, SymbolError, quote_currency


@pytest.mark.parametrize("text", ["BTC/USD", "btc-usd", "Btc/Usd", "BTC-USD"])
def test_both_spellings_in_any_case_are_one_symbol(text):
    symbol = Symbol.parse(text)
    assert symbol == Symbol("BTC", "USD")
    assert (symbol.slash, symbol.hyphen, str(symbol)) == ("BTC/USD", "BTC-USD", "BTC/USD")


@pytest.mark.parametrize("text", ["", "BTC", "BTC USD", "BTC/BTC", "KXBTC-26DEC31-B100K", "BTC/USD\n"])
def test_anything_else_is_refused_with_an_example(text):
    with pytest.raises(SymbolError, match=r"expected BASE/QUOTE or BASE-QUOTE, e.g. BTC/USD"):
        Symbol.parse(text)
    # The web faces answer it as a 400 with the same words.
    with pytest.raises(InvalidInput, match=r"^Bad symbol .*e\.g\. BTC/USD or BTC-USD\.$"):
        parse_symbol(text)


def test_a_non_string_is_refused_too():
    with pytest.raises(SymbolError):
        Symbol.parse(None)  # type: ignore[arg-type]


def test_the_upload_file_name_names_the_symbol():
    assert Symbol.from_filename("algo_btc_usd.wasm") == Symbol("BTC", "USD")
    assert Symbol.from_filename(" ALGO_eth_usdc.WASM ") == Symbol("ETH", "USDC")
    assert Symbol.from_filename("market_maker.wasm") is None


@pytest.mark.parametrize(("text", "quote"), [("ETH/USDC", "USDC"), ("eth-usd", "usd"), ("USD", "USD")])
def test_the_quote_leg(text, quote):
    assert quote_currency(text) == quote

"""The dashboard's number, time and state words (sequence_site/templatetags/present.py)."""

from __future__ import annotations

import pytest

from algo_studio.lifecycle import state_word
from sequence_site.templatetags import present


@pytest.mark.parametrize(
    ("value", "places", "text"),
    [
        (1234567.891, 2, "1,234,567.89"),
        (-0.001, 2, "0.00"),
        (0, 0, "0"),
        ("12", 4, "12.0000"),
        ("n/a", 2, "n/a"),
    ],
)
def test_num(value: object, places: int, text: str) -> None:
    assert present.num(value, places) == text


@pytest.mark.parametrize(
    ("value", "text", "css"),
    [(12.13, "+12.13", "pos"), (-128528.78, "-128,528.78", "neg"), (0.004, "0.00", "pos"), (0, "0.00", "")],
)
def test_signed_and_class(value: float, text: str, css: str) -> None:
    assert present.signed(value) == text
    assert present.pnl_class(value) == css


def test_utc_ns_keeps_the_nanoseconds_on_hover() -> None:
    html = present.utc_ns(1793491200445613742)
    assert ">2026-11-01 00:00:00.445</time>" in html
    assert 'title="1793491200445613742 ns since the epoch (UTC)"' in html
    assert present.utc_ns("x") == "x"


def test_quote_currency() -> None:
    assert present.quote_ccy(["ETH/USD", "BTC-USD"]) == "USD"
    assert present.quote_ccy(["ETH/USD", "ETH/USDC"]) == ""


@pytest.mark.parametrize(
    ("status", "desired", "word"),
    [
        ("accepted", "stopped", "stopped"),
        ("accepted", "running", "starting"),
        ("pending", "running", "starting"),
        ("running", "stopped", "stopping"),
        ("running", "running", "running"),
        ("paused", "running", "paused"),
        ("rejected", "stopped", "rejected"),
    ],
)
def test_state_word(status: str, desired: str, word: str) -> None:
    assert state_word(status, desired) == word

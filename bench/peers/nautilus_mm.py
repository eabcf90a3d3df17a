"""The market maker on NautilusTrader 1.231.0 (BacktestEngine, QuoteTick, L1 book).

    python bench/peers/nautilus_mm.py --data DAY.i64 --strategy mm|idle [--events N]

Each top-of-book snapshot is one QuoteTick. The strategy subscribes to them and on each one
cancels its open orders and, on a sane book, joins the best bid and the best ask with 0.5 ETH
limit orders. The simulated venue fills a resting buy when the ask reaches its price (a sell when
the bid does), as Sequence's replay does with fill_prob_at_touch 0. Zero latency, logging
bypassed, a margin account large enough never to refuse an order. Timed: ``engine.run()``.
"""

from __future__ import annotations

import argparse
import json
import time
from decimal import Decimal

from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.model.currencies import ETH, USD
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import AccountType, BookType, OmsType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import FIXED_SCALAR, Money, Price, Quantity
from nautilus_trader.trading.strategy import Strategy
from peers_data import load

VENUE = Venue("COINBASE")
ETHUSD = InstrumentId(Symbol("ETH/USD"), VENUE)
PX_RAW = int(FIXED_SCALAR) // 10**9  # store prices are ×1e9, Nautilus raw values ×FIXED_SCALAR
QTY_RAW = int(FIXED_SCALAR) // 10**8  # store sizes are ×1e8


class MarketMakerConfig(StrategyConfig, frozen=True):
    qty: str = "0.5"
    quote: bool = True  # False: the do-nothing strategy (subscribes, receives, does nothing)


class MarketMaker(Strategy):
    def __init__(self, config: MarketMakerConfig) -> None:
        super().__init__(config)
        self.qty = Quantity(float(config.qty), 8)  # the instrument's size precision
        self.quote = config.quote
        self.ticks = 0

    def on_start(self) -> None:
        self.subscribe_quote_ticks(ETHUSD)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self.ticks += 1
        if not self.quote:
            return
        self.cancel_all_orders(ETHUSD)
        if tick.bid_price.raw > 0 and tick.ask_price > tick.bid_price:
            buy = self.order_factory.limit(ETHUSD, OrderSide.BUY, self.qty, tick.bid_price)
            sell = self.order_factory.limit(ETHUSD, OrderSide.SELL, self.qty, tick.ask_price)
            self.submit_order(buy)
            self.submit_order(sell)


def quote_ticks(day: dict) -> list[QuoteTick]:
    cols = [day[k].tolist() for k in ("ts_ns", "bid_px", "ask_px", "bid_qty", "ask_qty")]
    return [
        QuoteTick(
            ETHUSD,
            Price.from_raw(b * PX_RAW, 2),
            Price.from_raw(a * PX_RAW, 2),
            Quantity.from_raw(bq * QTY_RAW, 8),
            Quantity.from_raw(aq * QTY_RAW, 8),
            ts,
            ts,
        )
        for ts, b, a, bq, aq in zip(*cols, strict=True)
    ]


def engine_for(ticks: list[QuoteTick], quote: bool) -> tuple[BacktestEngine, MarketMaker]:
    config = BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True), run_analysis=False)
    engine = BacktestEngine(config)
    engine.add_venue(
        venue=VENUE,
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USD,
        starting_balances=[Money(100_000_000, USD)],
        default_leverage=Decimal(10),
        book_type=BookType.L1_MBP,
    )
    engine.add_instrument(
        CurrencyPair(
            instrument_id=ETHUSD,
            raw_symbol=Symbol("ETH-USD"),
            base_currency=ETH,
            quote_currency=USD,
            price_precision=2,
            size_precision=8,
            price_increment=Price.from_str("0.01"),
            size_increment=Quantity.from_str("0.00000001"),
            ts_event=0,
            ts_init=0,
            max_quantity=Quantity.from_str("20000"),
            min_quantity=Quantity.from_str("0.00000001"),
            margin_init=Decimal(0),
            margin_maint=Decimal(0),
            maker_fee=Decimal("0.004"),
            taker_fee=Decimal("0.006"),
        )
    )
    engine.add_data(ticks)
    strategy = MarketMaker(MarketMakerConfig(quote=quote))
    engine.add_strategy(strategy)
    return engine, strategy


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--strategy", choices=("mm", "idle"), required=True)
    p.add_argument("--events", type=int, default=0, help="only the first N events (0: the whole day)")
    args = p.parse_args()
    ticks = quote_ticks(load(args.data))
    if args.events:
        ticks = ticks[: args.events]
    engine, strategy = engine_for(ticks, quote=args.strategy == "mm")
    t0, c0 = time.perf_counter(), time.process_time()
    engine.run()
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    fills = [e for o in engine.cache.orders() for e in o.events if type(e).__name__ == "OrderFilled"]
    position = sum((1 if f.order_side == OrderSide.BUY else -1) * f.last_qty.as_double() for f in fills)
    notional = sum(f.last_px.as_double() * f.last_qty.as_double() for f in fills)
    print(
        json.dumps(
            {
                "engine": "NautilusTrader",
                "events": len(ticks),
                "ticks_seen": strategy.ticks,
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "fills": len(fills),
                "position": round(position, 8),
                "notional": notional,
            }
        )
    )
    engine.dispose()


if __name__ == "__main__":
    main()

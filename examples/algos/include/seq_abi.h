/*
 * seq_abi.h — the Sequence algo ABI v1 for C (wasm32, freestanding, no libc).
 *
 * Fixed-point units: price x1e9 (price_1e9), quantity x1e8 (qty_1e8), PnL x1e9. All int64.
 * Every host function comes from the wasm import module "seq"; nothing else (no WASI) links.
 *
 * Exports an algo provides (mark them with SEQ_EXPORT so the linker keeps and names them):
 *   memory                                                       required (the linker exports it)
 *   void on_book(int64_t bid_px_1e9, int64_t bid_qty_1e8,
 *                int64_t ask_px_1e9, int64_t ask_qty_1e8, int64_t ts_ns)      required
 *        (a missing side of a one-sided book arrives as px 0, qty 0)
 *   void on_init(void)                                                         optional
 *   void on_fill(int64_t order_id, int32_t side, int64_t price_1e9,
 *                int64_t qty_1e8, int64_t ts_ns)                              optional
 *   void on_reject(int64_t order_id, int32_t reason_code)                     optional
 *   void on_timer(int64_t ts_ns)                                               optional (~1/s of event time)
 *   int32_t sequence_abi_version(void)                                         optional; must return 1
 *
 * Overflow: price_1e9 * qty_1e8 overflows int64 for all but tiny orders. Compute notional with
 * __int128, or scale first (price_1e9 / 10 * qty_1e8 / 1e7 style).
 *
 * Host limits per callback: fuel budget, 16 MiB memory cap, at most 64 place/cancel actions.
 */
#ifndef SEQ_ABI_H
#define SEQ_ABI_H

/* Freestanding: use the compiler's builtin type macros instead of <stdint.h>. */
typedef __INT32_TYPE__ int32_t;
typedef __INT64_TYPE__ int64_t;
typedef __UINT32_TYPE__ uint32_t;
typedef __UINT64_TYPE__ uint64_t;

#define SEQ_ABI_VERSION 1

/* Scales of the fixed-point units. */
#define SEQ_PRICE_SCALE 1000000000LL /* price_1e9 */
#define SEQ_QTY_SCALE 100000000LL    /* qty_1e8 */

/* Sides (place_order, on_fill, book_level). */
#define SEQ_SIDE_BUY 0  /* bid side */
#define SEQ_SIDE_SELL 1 /* ask side */

/* Negative results of seq_place_order. */
#define SEQ_ERR_BAD_SIDE (-1)
#define SEQ_ERR_BAD_PRICE (-2) /* <= 0, off the tick grid, or outside the venue range */
#define SEQ_ERR_BAD_QTY (-3)   /* <= 0, not a lot multiple, or absurd */
#define SEQ_ERR_RISK (-4)      /* max open orders / max position / max notional */
#define SEQ_ERR_RATE (-5)      /* too many actions in one callback */
#define SEQ_ERR_HALTED (-6)    /* market closed or algo stopping */

/* on_reject reason codes. */
#define SEQ_REJECT_BAD_PRICE 1
#define SEQ_REJECT_BAD_QTY 2
#define SEQ_REJECT_RISK_LIMIT 3
#define SEQ_REJECT_POST_ONLY_WOULD_CROSS 4 /* reserved */
#define SEQ_REJECT_VENUE_REJECT 5
#define SEQ_REJECT_SELF_TRADE 6
#define SEQ_REJECT_MARKET_CLOSED 7

/* Log levels. */
#define SEQ_LOG_DEBUG 0
#define SEQ_LOG_INFO 1
#define SEQ_LOG_WARN 2
#define SEQ_LOG_ERROR 3
#define SEQ_LOG_MAX_LEN 1024 /* the host truncates longer messages */

/* book_level(): which value to read. */
#define SEQ_LEVEL_PRICE 0
#define SEQ_LEVEL_QTY 1

#define SEQ_IMPORT(name) __attribute__((import_module("seq"), import_name(#name)))
/* export_name both keeps the function alive through the linker's dead-code pass and names it. */
#define SEQ_EXPORT(name) __attribute__((export_name(#name)))

/* > 0: the order id; < 0: one of SEQ_ERR_*. */
SEQ_IMPORT(place_order) int64_t seq_place_order(int32_t side, int64_t price_1e9, int64_t qty_1e8);
/* 0 = cancelled, -1 = unknown or already done. */
SEQ_IMPORT(cancel_order) int32_t seq_cancel_order(int64_t order_id);
/* Cancels every open order of this algo on this symbol. */
SEQ_IMPORT(cancel_all) void seq_cancel_all(void);
/* UTF-8 bytes; invalid sequences are replaced, len > 1024 truncated, out-of-bounds traps. */
SEQ_IMPORT(log) void seq_log(int32_t level, const char *ptr, int32_t len);
/* Signed net position, qty_1e8. */
SEQ_IMPORT(position_1e8) int64_t seq_position_1e8(void);
SEQ_IMPORT(open_order_count) int32_t seq_open_order_count(void);
/* side 0 bids / 1 asks, index 0 = best, which SEQ_LEVEL_PRICE / SEQ_LEVEL_QTY; 0 if absent. */
SEQ_IMPORT(book_level) int64_t seq_book_level(int32_t side, int32_t index, int32_t which);
/* Event time of the current callback (deterministic in replays, not the wall clock). */
SEQ_IMPORT(now_ns) int64_t seq_now_ns(void);
/* 1 when a seq_log() line now would be read, 0 when it would only be counted (a backtest past its
 * sample of lines) or dropped: skip formatting it. */
SEQ_IMPORT(log_enabled) int32_t seq_log_enabled(int32_t level);

/* Logs a NUL-terminated string. */
static inline void seq_log_str(int32_t level, const char *s) {
    int32_t n = 0;
    while (s[n] != '\0' && n < SEQ_LOG_MAX_LEN) n++;
    seq_log(level, s, n);
}

#endif /* SEQ_ABI_H */

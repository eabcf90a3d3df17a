/*
 * market_maker.c — a small two-sided market maker for Sequence (ABI v1, wasm32, no libc).
 *
 * On every book update it cancels its quotes and places one bid and one ask on the tick grid around
 * a reservation price:  mid + depth skew (top-of-book imbalance over MM_DEPTH_LEVELS levels)
 *                           - inventory skew (net position / max position).
 * A side is not quoted when a fill there could take |position| beyond MM_MAX_POS_1E8.
 *
 * Every parameter is a compile-time constant; override any with -D, e.g.
 *   python -m ziglang cc ... -DMM_TICK_1E9=10000000 -DMM_ORDER_QTY_1E8=50000000 market_maker.c
 */
#include "seq_abi.h"

/* Price grid: 0.001 (price_1e9). Must match the venue's tick, or every order is rejected ERR_BAD_PRICE. */
#ifndef MM_TICK_1E9
#define MM_TICK_1E9 1000000LL
#endif
/* Quote size per side: 1.0 (qty_1e8). */
#ifndef MM_ORDER_QTY_1E8
#define MM_ORDER_QTY_1E8 100000000LL
#endif
/* Maximum absolute net position: 5.0 (qty_1e8). */
#ifndef MM_MAX_POS_1E8
#define MM_MAX_POS_1E8 500000000LL
#endif
/* Minimum width of our own quotes (ask - bid), in ticks. When the market is wider we join its touch. */
#ifndef MM_MIN_SPREAD_TICKS
#define MM_MIN_SPREAD_TICKS 1
#endif
/* Reservation-price shift, in ticks, at full book imbalance (all depth on one side). */
#ifndef MM_DEPTH_SKEW_TICKS
#define MM_DEPTH_SKEW_TICKS 1
#endif
/* Reservation-price shift, in ticks, at full inventory (|position| == max position). */
#ifndef MM_INV_SKEW_TICKS
#define MM_INV_SKEW_TICKS 2
#endif
/* Book levels per side summed for the imbalance; level 0 comes from on_book's arguments, deeper
 * levels cost one book_level() host call each. 1 = top of book only, no extra calls. */
#ifndef MM_DEPTH_LEVELS
#define MM_DEPTH_LEVELS 3
#endif
/* Log quotes on every Nth book update (and the first), and the 1st and every Nth rejected placement. */
#ifndef MM_LOG_EVERY
#define MM_LOG_EVERY 1000
#endif
/* on_timer arrives about once per second of event time: print a summary every N calls. */
#ifndef MM_STATS_EVERY_TIMERS
#define MM_STATS_EVERY_TIMERS 60
#endif

/* Prices above this are ignored: keeps tick rounding and mid arithmetic far from int64 overflow. */
#define MM_MAX_PRICE_1E9 (1LL << 62)

/* ---- own counters ---- */
static uint64_t g_updates;
static uint64_t g_fills;
static uint64_t g_place_errors;
static uint64_t g_rejects;
static int64_t g_bought_1e8; /* total bought, qty_1e8 */
static int64_t g_sold_1e8;   /* total sold, qty_1e8 */
static uint64_t g_timers;

/* ---- tiny formatting (no libc) ----
 * One static line buffer: callbacks never nest, and a static buffer costs no stack or zeroing.
 * Digits are written two at a time into a small scratch array and copied in one go: an algo pays
 * fuel for every instruction, and a backtest formats a line on every fill. */
static char g_buf[192];
static int32_t g_len;

/* Keep the formatting helpers out of line: inlined at every call site they would triple the binary. */
#define NOINLINE __attribute__((noinline))

/* Append n bytes, cut at the end of the buffer: eight at a time (one unaligned load and store,
 * never past either end), then the rest. */
NOINLINE static void put_mem(const char *s, int32_t n) {
    int32_t room = (int32_t)sizeof g_buf - g_len;
    if (n > room) n = room;
    char *d = g_buf + g_len;
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        __builtin_memcpy(&w, s + i, 8);
        __builtin_memcpy(d + i, &w, 8);
    }
    for (; i < n; i++) d[i] = s[i];
    g_len += n;
}

/* A string literal: its length is known at compile time. */
#define PUT_LIT(lit) put_mem((lit), (int32_t)sizeof(lit) - 1)

NOINLINE static void put_str(const char *s) {
    int32_t n = 0;
    while (s[n] != '\0') n++;
    put_mem(s, n);
}

NOINLINE static void put_char(char c) {
    if (g_len < (int32_t)sizeof g_buf) g_buf[g_len++] = c;
}

static const char DIGIT_PAIRS[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* x / 100 for x < 2^32 as a multiply and a shift: wasm has no multiply-high, so a division by a
 * constant stays a division instruction (tens of cycles) unless written this way. */
static uint32_t div100(uint32_t x) { return (uint32_t)(((uint64_t)x * 1374389535u) >> 37); }

/* The decimal digits of v < 2^32, written backwards ending just before `end`; returns the start. */
static char *digits32_before(char *end, uint32_t v) {
    while (v >= 100) {
        uint32_t q = div100(v);
        uint32_t pair = (v - q * 100) * 2;
        v = q;
        end -= 2;
        end[0] = DIGIT_PAIRS[pair];
        end[1] = DIGIT_PAIRS[pair + 1];
    }
    if (v >= 10) {
        end -= 2;
        end[0] = DIGIT_PAIRS[v * 2];
        end[1] = DIGIT_PAIRS[v * 2 + 1];
    } else {
        *--end = (char)('0' + v);
    }
    return end;
}

/* The same for any v: eight digits at a time below 2^32 (one real division per eight digits). */
static char *digits_before(char *end, uint64_t v) {
    while (v >> 32) {
        uint64_t q = v / 100000000u;
        uint32_t low = (uint32_t)(v - q * 100000000u);
        char *start = digits32_before(end, low);
        while (start > end - 8) *--start = '0'; /* zero-padded to eight */
        end -= 8;
        v = q;
    }
    return digits32_before(end, (uint32_t)v);
}

/* Unsigned magnitude, so INT64_MIN prints correctly. */
NOINLINE static void put_u64(uint64_t v) {
    char tmp[20];
    char *start = digits_before(tmp + sizeof tmp, v);
    put_mem(start, (int32_t)(tmp + sizeof tmp - start));
}

NOINLINE static void put_i64(int64_t v) {
    if (v < 0) {
        put_char('-');
        put_u64((uint64_t)0 - (uint64_t)v);
    } else {
        put_u64((uint64_t)v);
    }
}

static const uint64_t POW10[10] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL, 1000000000ULL,
};

/* Fixed point value with `scale_digits` decimals (9 for prices, 8 for quantities); trailing zeros
 * are trimmed but at least `min_decimals` are kept. Built as "-whole.decimals" in one scratch line. */
NOINLINE static void put_fixed(int64_t v, int scale_digits, int min_decimals) {
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t scale = POW10[scale_digits];
    char tmp[32]; /* sign, up to 20 whole digits, the point, up to 9 decimals */
    char *point = tmp + 22;
    char *start = digits_before(point, mag / scale);
    if (v < 0) *--start = '-';
    /* the decimals, zero-padded to scale_digits, after the point: frac + scale has exactly
     * scale_digits + 1 digits */
    char *last = point + scale_digits; /* the last decimal */
    digits_before(last + 1, mag % scale + scale); /* scale's leading 1 lands on the point */
    int decimals = scale_digits;
    while (decimals > min_decimals && point[decimals] == '0') decimals--;
    if (decimals == 0) {
        put_mem(start, (int32_t)(point - start));
        return;
    }
    *point = '.';
    put_mem(start, (int32_t)(point + 1 + decimals - start));
}
/* Decimals the tick needs (0.001 -> 3), so "1.800" prints with the grid's precision. */
static int price_decimals(void) {
    int64_t t = MM_TICK_1E9;
    int d = 9;
    while (d > 0 && t % 10 == 0) {
        t /= 10;
        d--;
    }
    return d;
}

NOINLINE static void put_price(int64_t px_1e9) { put_fixed(px_1e9, 9, price_decimals()); }
NOINLINE static void put_qty(int64_t qty_1e8) { put_fixed(qty_1e8, 8, 0); }
NOINLINE static void emit(int32_t level) { seq_log(level, g_buf, g_len); }

static const char *side_name(int32_t side) { return side == SEQ_SIDE_BUY ? "BUY" : "SELL"; }

static const char *place_error_name(int64_t err) {
    switch (err) {
    case SEQ_ERR_BAD_SIDE: return "BAD_SIDE";
    case SEQ_ERR_BAD_PRICE: return "BAD_PRICE";
    case SEQ_ERR_BAD_QTY: return "BAD_QTY";
    case SEQ_ERR_RISK: return "RISK";
    case SEQ_ERR_RATE: return "RATE";
    case SEQ_ERR_HALTED: return "HALTED";
    default: return "UNKNOWN";
    }
}

static const char *reject_reason_name(int32_t reason) {
    switch (reason) {
    case SEQ_REJECT_BAD_PRICE: return "BAD_PRICE";
    case SEQ_REJECT_BAD_QTY: return "BAD_QTY";
    case SEQ_REJECT_RISK_LIMIT: return "RISK_LIMIT";
    case SEQ_REJECT_POST_ONLY_WOULD_CROSS: return "POST_ONLY_WOULD_CROSS";
    case SEQ_REJECT_VENUE_REJECT: return "VENUE_REJECT";
    case SEQ_REJECT_SELF_TRADE: return "SELF_TRADE";
    case SEQ_REJECT_MARKET_CLOSED: return "MARKET_CLOSED";
    default: return "UNKNOWN";
    }
}

/* ---- strategy ---- */

/* Inputs stay below ~1.5 * MM_MAX_PRICE_1E9 (prices < 2^62 plus half a spread and a few ticks of
 * skew), so `+ tick - 1` cannot overflow. Negative inputs round towards zero; callers drop them. */
static int64_t floor_tick(int64_t px) { return px - px % MM_TICK_1E9; }
static int64_t ceil_tick(int64_t px) { return floor_tick(px + MM_TICK_1E9 - 1); }

/* Totals saturate instead of overflowing (signed overflow is undefined behaviour in C). */
static int64_t sat_add(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? __INT64_MAX__ : -__INT64_MAX__ - 1;
    return r;
}

/* Rounds to the nearest integer and clamps to +-limit, before any float->int conversion (a plain
 * conversion of an out-of-range double traps in wasm). */
static int64_t clamp_round(double x, int64_t limit) {
    if (x != x) return 0; /* NaN */
    if (x > (double)limit) return limit;
    if (x < -(double)limit) return -limit;
    return (int64_t)(x < 0 ? x - 0.5 : x + 0.5);
}

/* Book imbalance in [-1, 1]: +1 when all displayed depth is on the bid. Summed in double so huge
 * quantities cannot overflow; it only chooses a skew in whole ticks. */
static double depth_imbalance(int64_t bid_qty, int64_t ask_qty) {
    double b = bid_qty > 0 ? (double)bid_qty : 0.0;
    double a = ask_qty > 0 ? (double)ask_qty : 0.0;
    for (int32_t i = 1; i < MM_DEPTH_LEVELS; i++) {
        int64_t bq = seq_book_level(SEQ_SIDE_BUY, i, SEQ_LEVEL_QTY);
        int64_t aq = seq_book_level(SEQ_SIDE_SELL, i, SEQ_LEVEL_QTY);
        if (bq > 0) b += (double)bq;
        if (aq > 0) a += (double)aq;
        if (bq <= 0 && aq <= 0) break; /* both sides exhausted */
    }
    return (a + b) > 0.0 ? (b - a) / (a + b) : 0.0;
}

static void place(int32_t side, int64_t px, int log_it) {
    int64_t r = seq_place_order(side, px, MM_ORDER_QTY_1E8);
    g_len = 0;
    if (r > 0) {
        if (!log_it) return;
        put_str(side_name(side));
        PUT_LIT(": order=");
        put_i64(r);
        PUT_LIT(" @");
        put_price(px);
        emit(SEQ_LOG_INFO);
        return;
    }
    /* A persistent error (say RISK) would repeat on every update: warn on the 1st and every Nth. */
    g_place_errors++;
    if (g_place_errors != 1 && g_place_errors % MM_LOG_EVERY != 0) return;
    put_str(side_name(side));
    PUT_LIT(" rejected: ");
    put_str(place_error_name(r));
    PUT_LIT(" (");
    put_i64(r);
    PUT_LIT(") @");
    put_price(px);
    PUT_LIT(" errors=");
    put_u64(g_place_errors);
    emit(SEQ_LOG_WARN);
}

SEQ_EXPORT(sequence_abi_version) int32_t sequence_abi_version(void) { return SEQ_ABI_VERSION; }

SEQ_EXPORT(on_init) void on_init(void) {
    g_len = 0;
    PUT_LIT("market_maker hello: tick=");
    put_price(MM_TICK_1E9);
    PUT_LIT(" size=");
    put_qty(MM_ORDER_QTY_1E8);
    PUT_LIT(" max_pos=");
    put_qty(MM_MAX_POS_1E8);
    emit(SEQ_LOG_INFO);
}

SEQ_EXPORT(on_book)
void on_book(int64_t bid_px, int64_t bid_qty, int64_t ask_px, int64_t ask_qty, int64_t ts_ns) {
    (void)ts_ns;
    int log_it = g_updates % MM_LOG_EVERY == 0;
    g_updates++;

    seq_cancel_all();
    /* One-sided, crossed or absurd books carry no usable mid: stay out until it is sane again. */
    if (bid_px <= 0 || ask_px <= bid_px || ask_px >= MM_MAX_PRICE_1E9) return;

    /* bid + spread / 2: forming bid + ask could overflow. */
    int64_t spread = ask_px - bid_px;
    int64_t mid = bid_px + spread / 2;

    int64_t pos = seq_position_1e8();
    double inv = (double)pos / (double)MM_MAX_POS_1E8; /* 1.0 at full long inventory */
    if (inv > 1.0) inv = 1.0;
    if (inv < -1.0) inv = -1.0;
    int64_t skew_ticks = clamp_round(
        MM_DEPTH_SKEW_TICKS * depth_imbalance(bid_qty, ask_qty) - MM_INV_SKEW_TICKS * inv, 1000000);
    int64_t reservation = mid + skew_ticks * MM_TICK_1E9;

    /* Half our quote width: the market's own spread (so a balanced book quotes the touch), but never
     * narrower than MM_MIN_SPREAD_TICKS. Rounding outwards to the grid below keeps a 1-tick market
     * quoted at its touch. */
    int64_t width = MM_MIN_SPREAD_TICKS * MM_TICK_1E9;
    if (spread > width) width = spread;
    int64_t half = width / 2;

    int64_t my_bid = floor_tick(reservation - half);
    int64_t my_ask = ceil_tick(reservation - half + width); /* >= my_bid + width, even for odd widths */
    /* Never cross the market: a skew can push the reservation past the opposite touch. */
    if (my_bid >= ask_px) my_bid = floor_tick(ask_px - 1);
    if (my_ask <= bid_px) my_ask = ceil_tick(bid_px + 1);

    /* Quote a side only if a full fill there keeps |position| within the limit. */
    if (my_bid > 0 && pos <= MM_MAX_POS_1E8 - MM_ORDER_QTY_1E8) place(SEQ_SIDE_BUY, my_bid, log_it);
    if (pos >= -MM_MAX_POS_1E8 + MM_ORDER_QTY_1E8) place(SEQ_SIDE_SELL, my_ask, log_it);
}

SEQ_EXPORT(on_fill)
void on_fill(int64_t order_id, int32_t side, int64_t price_1e9, int64_t qty_1e8, int64_t ts_ns) {
    (void)ts_ns;
    g_fills++;
    if (side == SEQ_SIDE_BUY) g_bought_1e8 = sat_add(g_bought_1e8, qty_1e8);
    else g_sold_1e8 = sat_add(g_sold_1e8, qty_1e8);
    /* A busy backtest fills on nearly every book: past its sample of lines nobody reads them. */
    if (!seq_log_enabled(SEQ_LOG_INFO)) return;
    g_len = 0;
    put_str(side_name(side));
    PUT_LIT(" FILL: order=");
    put_i64(order_id);
    PUT_LIT(" qty=");
    put_qty(qty_1e8);
    PUT_LIT(" @");
    put_price(price_1e9);
    PUT_LIT(" pos=");
    put_qty(seq_position_1e8());
    emit(SEQ_LOG_INFO);
}

SEQ_EXPORT(on_reject) void on_reject(int64_t order_id, int32_t reason_code) {
    g_rejects++;
    g_len = 0;
    PUT_LIT("REJECT: order=");
    put_i64(order_id);
    PUT_LIT(" reason=");
    put_str(reject_reason_name(reason_code));
    PUT_LIT(" (");
    put_i64(reason_code);
    PUT_LIT(")");
    emit(SEQ_LOG_WARN);
}

SEQ_EXPORT(on_timer) void on_timer(int64_t ts_ns) {
    (void)ts_ns;
    if (++g_timers % MM_STATS_EVERY_TIMERS != 0) return;
    g_len = 0;
    PUT_LIT("STATS: updates=");
    put_u64(g_updates);
    PUT_LIT(" fills=");
    put_u64(g_fills);
    PUT_LIT(" bought=");
    put_qty(g_bought_1e8);
    PUT_LIT(" sold=");
    put_qty(g_sold_1e8);
    PUT_LIT(" pos=");
    put_qty(seq_position_1e8());
    PUT_LIT(" open=");
    put_i64(seq_open_order_count());
    PUT_LIT(" rejects=");
    put_u64(g_rejects);
    emit(SEQ_LOG_INFO);
}

/* seqcore: the per-algo host of Sequence, compiled to WebAssembly and linked into the algo's store.
 *
 * One instance serves one algo on one symbol. It implements the algo's `seq` imports (log() hands
 * the host the lines it must read and counts the rest), the paper matching engine, positions and PnL, and the
 * dispatch of one book update: match resting orders, deliver their fills, call on_book, deliver
 * queued fills and rejects, run on_timer. The algo calls it and it calls the algo wasm-to-wasm,
 * so a book update is one call from Python instead of ten host crossings.
 *
 * The rules are those of edges/venues/matching.py and accounting.py (kept as the reference model;
 * tests/edges/core check this file against them on random order flows). Python's Mersenne Twister
 * is reproduced exactly: the host seeds it with random.Random(seed).getstate().
 *
 * Layout shared with Python (edges/core/instance.py): the i64 array G (config, state, report) and
 * the buffers whose addresses core_addr() returns. Keep the two files in step; CORE_MAGIC changes
 * with the layout.
 *
 * No libc. Integer arithmetic only on money (i128 for products), except the fill probability and
 * the drawdown ratio, which are the same IEEE doubles Python computes.
 */

typedef long long i64;
typedef unsigned long long u64;
typedef __int128 i128;
typedef int i32;
typedef unsigned int u32;

#define EXPORT(name) __attribute__((export_name(name)))
#define HOT static inline __attribute__((always_inline))
#define IMPORT(mod, name) __attribute__((import_module(mod), import_name(name)))

#define CORE_MAGIC 0x5345514332LL /* "SEQC2" */
#define MAXD 16                   /* book levels kept per side */
#define MAXO 256                  /* open orders (the configured limit is lower) */
#define MAXSHAPES 96              /* registered depth shapes (a simulator has 64) */
#define MAXQ 320                  /* queued fills/rejects after one callback (> C_MAX_QUEUED) */
#define EVW 12                    /* i64 words per event record */
#define EV_SMALL 256              /* event records per call on an edge */
#define EV_BIG 16384              /* ... in a backtest (core_alloc_run) */
#define EV_SOFT 8192              /* run() stops early past this many */
#define MAXACT 256                /* traced actions per callback */
#define ACTW 5
#define CHUNK 8192                /* events per run() input chunk */
#define BDEPTH 5                  /* depth columns in a run() chunk */
#define NCOLS (1 + 4 * BDEPTH)
#define MAXCURVE 4096
#define MAXSYM 256                /* symbols one replay's driver merges */
#define MAXSEG 16384              /* segments per driver call */

static const i64 QS = 100000000LL;  /* qty scale */
static const i64 PS = 1000000000LL; /* price scale */
static const i64 BIG = (i64)1 << 62;

/* ---- G: config (written by the host), state, report ---------------------------------------- */
enum {
    G_MAGIC = 0,
    C_TICK, C_LOT, C_MIN_PX, C_MAX_PX, C_MIN_QTY, C_MAX_QTY, C_MIN_NOTIONAL_SCALED, C_FEE_MODEL,
    C_MAKER_BPS, C_TAKER_BPS, C_ACTIVE, C_MAX_OPEN, C_HAS_MAX_POS, C_MAX_POS, C_HAS_MAX_NOTIONAL,
    C_MAX_NOTIONAL, C_ALLOW_SHORT, C_FILL_PROB_BITS, C_MAX_ACTIONS, C_MAX_HOST_CALLS, C_MAX_LOGS,
    C_FN_BOOK, C_FN_FILL, C_FN_REJECT, C_FN_TIMER, C_TIMER_NS, C_TRACE_NS, C_MAX_QUEUED, C_CAPITAL,
    C_CURVE_STEP, C_EVENTS_OFF, C_HALTED,
    C_ROUTED, /* live: orders are handed out (EV_ROUTE_*), never paper-matched; fills come back in */
    C_MIN_NOTIONAL_RESTS = 39, /* 1: an order under the minimum notional rests (Polymarket); 0: BAD_QTY */
    S_STATE = 40, S_NOW, S_UPDATES, S_NEXT_ID, S_POSITION, S_OPEN_BUY, S_OPEN_SELL, S_NOPEN,
    S_ORDERS, S_REJECTS, S_CANCELS, S_FILLS, S_TRADES, S_VOLUME, S_FEES, S_SESSION_FEES, S_MARK,
    S_CALLBACK, S_CALLS_LEFT, S_ACTIONS_LEFT, S_LOGS_LEFT, S_NEV, S_TRACING, S_NACT, S_PENDING,
    S_LAST_CALL, S_NEXT_TIMER, S_NEXT_TRACE_BOOK, S_NEXT_TRACE_FILL, S_NEXT_TRACE_REJECT, S_FUELED,
    S_WINS, S_ROUND_TRIPS, S_EQUITY, S_PEAK, S_MAXDD_BITS, S_NEXT_SAMPLE, S_NCURVE, S_LOGLINES,
    S_PROCESSED, S_PAUSE, S_HAVE_BOOK, S_IN_CALLBACK,
    S_ARGS = 84, /* the traced callback's arguments, 5 words */
    /* exact accumulators, i128 as (low, high) word pairs, 16-byte aligned */
    A_COST = 90, A_REALIZED = 92, A_SESSION_REALIZED = 94, A_NOTIONAL = 96, A_ROUND_TRIP = 98,
    S_BID = 100, S_ASK, /* the current touch prices (0: that side is empty) */
    /* log(): the algo's log import is served here; only lines that must be read reach the host */
    S_IN_INIT = 120,    /* the host sets it while the start function or on_init runs */
    S_ALGO_MEM,         /* the algo's memory size in bytes, as the host last saw it (it only grows) */
    S_COUNTED_LOGS,     /* lines counted here without reaching the host (C_LOG_COUNT_ONLY) */
    C_LOG_COUNT_ONLY,   /* the host keeps no more lines: count them (a traced callback's still go out) */
    G_SIZE = 128
};

/* state words */
enum { ST_ACCEPTED = 0, ST_RUNNING = 1, ST_PAUSED = 2 };
/* callbacks */
enum { CB_NONE = 0, CB_BOOK = 1, CB_FILL = 2, CB_REJECT = 3, CB_TIMER = 4 };
/* event records: kind, then fields */
enum { EV_FILL = 1, EV_REJECT = 2, EV_RATE = 3, EV_ROUTE_PLACE = 4, EV_ROUTE_CANCEL = 5 };
/* traced actions: kind, side, price, result, extra */
enum { ACT_PLACE = 1, ACT_CANCEL = 2, ACT_CANCEL_ALL = 3, ACT_REFUSED = 4 };
/* pending traps / pauses the host words */
enum { PEND_HOST_CALLS = 1 };
enum { PAUSE_QUEUE = 1 };
/* which import was called last (for the host-call trap message) */
enum { IMP_PLACE = 1, IMP_CANCEL, IMP_CANCEL_ALL, IMP_POSITION, IMP_OPEN, IMP_LEVEL, IMP_NOW, IMP_LOG, IMP_LOG_ENABLED };

/* ABI v1 codes */
#define ERR_BAD_SIDE (-1)
#define ERR_BAD_PRICE (-2)
#define ERR_BAD_QTY (-3)
#define ERR_RISK (-4)
#define ERR_RATE (-5)
#define ERR_HALTED (-6)
#define R_BAD_PRICE 1
#define R_BAD_QTY 2
#define R_RISK 3
#define R_VENUE 5
#define R_SELF_TRADE 6
#define R_CLOSED 7

static i64 G[G_SIZE] __attribute__((aligned(16)));
static i64 EV_STATIC[EV_SMALL * EVW];
static i64 *EV = EV_STATIC;
static i64 evcap = EV_SMALL;
static i64 ACT[MAXACT * ACTW];
/* shapes: limit, n, then n (offset, qty) pairs */
#define SHAPEW (2 + 2 * (MAXD - 1))
static i64 SHAPES[MAXSHAPES * SHAPEW];
/* explicit book: nb, na, then MAXD (price, size) pairs of bids, MAXD of asks (the host writes a
   side as the bytes of its levels, one memo lookup a level: edges/core/instance.py) */
static i64 XBOOK[2 + 4 * MAXD];
static u32 MT[625]; /* 624 words + index */
static i64 *IN;    /* NCOLS * CHUNK, allocated by core_alloc_run */
static i64 *CURVE; /* 2 * MAXCURVE */
static i32 *SEG;   /* 3 * MAXSEG: the driver's segments (symbols, first rows, counts) */
/* the replay's driver (core_merge) */
enum { M_CAPITAL, M_EQUITY, M_PEAK, M_MAXDD_BITS, M_NEXT_SAMPLE, M_TOTAL_PNL, M_SEG, M_DONE, M_SIZE };
static i64 MERGE[M_SIZE + MAXSYM]; /* the state above, then each symbol's PnL after its last segment */
static i32 MERGE_FN[2 * MAXSYM];  /* per symbol: table indices of its core_seg and core_portfolio */

/* the current book */
static i64 B_ts, B_nb, B_na;
static i64 B_bpx[MAXD], B_bq[MAXD], B_apx[MAXD], B_aq[MAXD];
/* A replay's book comes from the chunk's columns (set_chunk_book): the touch at once, the deeper
 * levels when something reads past it (load_depth: a take or an immediate fill beyond the first
 * level, book_level()), which a market maker's updates mostly never do. depth_row: the chunk row
 * whose deeper levels are still in IN only (B_nb, B_na count the touch alone then), or -1. */
static i64 depth_row = -1;
static void load_depth(void);
static i64 TAKEN_B[MAXD], TAKEN_A[MAXD];
/* how many levels of each side our orders took from (the deepest one touched + 1): a new book
 * resets only those, and a market maker's fills touch the first level alone */
static i64 taken_nb, taken_na;

/* orders: a pool; `open_ids` in submission order; buys/sells sorted best first (FIFO in price) */
typedef struct {
    i64 id, price, qty, leaves, ts;
    i32 side, dormant;
} Order;
static Order POOL[MAXO];
static i32 FREE[MAXO];
static i32 nfree;
static i32 OPEN[MAXO]; /* pool indices, submission order */
static i32 nopen;
static i32 BUYS[MAXO], SELLS[MAXO];
static i32 nbuys, nsells;

/* accounting (PositionBook), exact; in G so the host can read them and carry them over */
#define cost_raw (*(i128 *)&G[A_COST])
#define realized_raw (*(i128 *)&G[A_REALIZED])
#define session_realized_raw (*(i128 *)&G[A_SESSION_REALIZED])
#define notional_raw (*(i128 *)&G[A_NOTIONAL])
#define round_trip_pnl (G[A_ROUND_TRIP])

/* queued callbacks: kind, a, b, c, d */
static i64 Q[MAXQ * 5];
static i32 qhead, qtail;

/* ---- host imports ---------------------------------------------------------------------------- */
IMPORT("host", "refuel") void host_refuel(void);
IMPORT("host", "trace") void host_trace(i32 kind, i32 phase);
IMPORT("host", "flush") void host_flush(void); /* the event buffer is full: the host reads it */
IMPORT("host", "log") void host_log(i32 level, i32 ptr, i32 len); /* a log() line the host reads */

/* ---- small helpers --------------------------------------------------------------------------- */
static i128 floordiv(i128 a, i128 b) { /* b > 0 */
    i128 q = a / b;
    if ((a % b) != 0 && a < 0) q -= 1;
    return q;
}
static i128 ceildiv(i128 a, i128 b) { /* b > 0 */
    i128 q = a / b;
    if ((a % b) != 0 && a > 0) q += 1;
    return q;
}

/* a × b exactly, inline: clang lowers (i128)a * b to compiler-rt's general 128 × 128 multiply, a
 * call and twice the work (it was the core's single largest function in a replay's profile). */
typedef unsigned __int128 u128;
static inline __attribute__((always_inline)) u128 mulu_wide(u64 a, u64 b) {
    u64 a_lo = (u32)a, a_hi = a >> 32, b_lo = (u32)b, b_hi = b >> 32;
    u64 ll = a_lo * b_lo, lh = a_lo * b_hi, hl = a_hi * b_lo, hh = a_hi * b_hi;
    u64 mid = (ll >> 32) + (u32)lh + (u32)hl;
    u64 lo = (mid << 32) | (u32)ll;
    u64 hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
    return ((u128)hi << 64) | lo;
}
static inline __attribute__((always_inline)) i128 mul_wide(i64 a, i64 b) {
    u64 ua = a < 0 ? 0 - (u64)a : (u64)a, ub = b < 0 ? 0 - (u64)b : (u64)b;
    u128 r = mulu_wide(ua, ub);
    return (a < 0) != (b < 0) ? -(i128)r : (i128)r;
}

/* floor(n / d), or floor(-n / d) when neg, for 0 < d < 2^32: long division by 32-bit limbs, each
 * step a 64-bit division (one wasm instruction; the remainder stays below d, so the next step's
 * dividend fits in 64 bits) instead of compiler-rt's 128-bit division. */
HOT i128 floordiv_limbs(u128 n, u64 d, int neg) {
    u64 q[4], r = 0;
    for (int k = 3; k >= 0; k--) {
        u64 cur = (r << 32) | (u32)(n >> (32 * k));
        q[k] = cur < d ? 0 : cur / d;
        r = cur - q[k] * d;
    }
    u128 quot = ((u128)((q[3] << 32) | q[2]) << 64) | ((q[1] << 32) | q[0]);
    return neg ? -(i128)quot - (r != 0) : (i128)quot;
}

/* floor(a × b / d), b >= 0, 0 < d: when |a| < 2^96 and b, d < 2^32 (a position's cost, ~2^67 for
 * 0.5 ETH, times the closed part, over the position: any size below ~42 units at 1e8), long
 * division by 32-bit limbs: a few 64-bit divisions (one wasm instruction each) instead of
 * compiler-rt's 128-bit multiply and division calls. Otherwise the same in 128 bits. */
static i128 floordiv_mul(i128 a, i64 b, i64 d) {
    u128 ua = a < 0 ? -(u128)a : (u128)a;
    u64 a_hi = (u64)(ua >> 64), ub = (u64)b, ud = (u64)d;
    if (a_hi >> 32 == 0 && ub >> 32 == 0 && ud >> 32 == 0) {
        u128 n = mulu_wide((u64)ua, ub) + ((u128)(a_hi * ub) << 64); /* < 2^128 */
        return floordiv_limbs(n, ud, a < 0);
    }
    return floordiv(a * b, d);
}

/* floor(a / (2^shift × odd)), 0 < odd < 2^32: floor(floor(a / 2^shift) / odd) is the same number,
 * and once shifted the dividend nearly always fits in 64 bits, where wasm divides in one
 * instruction instead of compiler-rt's 128-bit division (a fifth of a replay's time in the core
 * before this). Otherwise (a BTC position's cost, ~2^72, over 1e8) by 32-bit limbs. Inlined so
 * the shift is a constant: a variable 128-bit shift is a compiler-rt call. */
HOT i128 floordiv_2k(i128 a, int shift, i64 odd) {
    i128 b = a >> shift; /* arithmetic shift: floor division by 2^shift */
    i64 lo = (i64)b;
    if ((i128)lo != b) return floordiv_limbs(b < 0 ? -(u128)b : (u128)b, (u64)odd, b < 0);
    i64 q = lo / odd;
    if ((lo % odd) != 0 && lo < 0) q -= 1;
    return q;
}
/* floor(a / QS), QS = 1e8 = 2^8 × 5^8 */
static i128 floordiv_qs(i128 a) { return floordiv_2k(a, 8, 390625LL); }

/* Python's random.random(): MT19937 genrand_res53 */
static u32 mt_next(void) {
    u32 y;
    int i = (int)MT[624];
    if (i >= 624) {
        for (int k = 0; k < 624; k++) {
            y = (MT[k] & 0x80000000u) | (MT[(k + 1) % 624] & 0x7fffffffu);
            MT[k] = MT[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        i = 0;
    }
    y = MT[i++];
    MT[624] = (u32)i;
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= (y >> 18);
    return y;
}
static double mt_random(void) {
    u32 a = mt_next() >> 5, b = mt_next() >> 6;
    return ((double)a * 67108864.0 + (double)b) * (1.0 / 9007199254740992.0);
}
static double bits_to_double(i64 bits) {
    union { i64 i; double d; } u;
    u.i = bits;
    return u.d;
}
static i64 double_to_bits(double d) {
    union { i64 i; double d; } u;
    u.d = d;
    return u.i;
}

/* ---- events out ------------------------------------------------------------------------------ */
static i64 *ev_new(i64 kind) {
    if (G[C_EVENTS_OFF]) return 0;
    if (G[S_NEV] >= evcap) host_flush(); /* sets S_NEV back to 0 */
    i64 n = G[S_NEV];
    if (n >= evcap) return 0;
    G[S_NEV] = n + 1;
    i64 *e = &EV[n * EVW];
    e[0] = kind;
    return e;
}
static void act_note(i64 kind, i64 side, i64 price, i64 result, i64 extra) {
    i64 n = G[S_NACT];
    if (n >= MAXACT) return;
    G[S_NACT] = n + 1;
    i64 *a = &ACT[n * ACTW];
    a[0] = kind; a[1] = side; a[2] = price; a[3] = result; a[4] = extra;
}

/* price × qty < the minimum notional (both > 0). The exact product takes 128 bits (an ETH price
 * at 1e9 times a size at 1e8 passes 2^63), but as doubles it is within a few parts in 2^53 of
 * itself: a product at least twice the minimum, or under half of it, decides without it (a
 * market maker's every order is far from $1). */
HOT int below_notional(i64 price, i64 qty) {
    i64 min = G[C_MIN_NOTIONAL_SCALED];
    double p = (double)price * (double)qty, m = (double)min;
    if (p >= 2.0 * m) return 0;
    if (p < 0.5 * m) return 1;
    return mul_wide(price, qty) < (i128)min;
}

/* ---- fees and positions ---------------------------------------------------------------------- */
HOT i64 fee_1e9(i64 price, i64 qty, int taker) {
    if (G[C_FEE_MODEL] == 1) { /* kalshi: takers pay ceil_to_cent(0.07 × C × P × (1 − P)) */
        if (!taker) return 0;
        i128 num = (i128)7 * qty * price * (PS - price);
        i128 div = (i128)100 * QS * PS * 10000000;
        return (i64)(ceildiv(num, div) * 10000000);
    }
    i64 bps = taker ? G[C_TAKER_BPS] : G[C_MAKER_BPS];
    /* ceil(x / 1e12) = -floor(-x / 1e12), 1e12 = 2^12 × 5^12 */
    /* price × bps first when it fits in 64 bits (any price below ~461,000 at bps <= 10,000) */
    if (bps >= 0 && bps <= 10000 && price >= 0 && price <= (i64)461168601842738LL && qty >= 0) {
        /* Nothing negative (no rebate): ceil(x / 1e12) = ceil(ceil(x / 2^12) / 5^12), the
         * second step an unsigned 64-bit division whenever ceil(x / 2^12) < 2^63 (every fill
         * under ~2.3 billion dollars), without the signed 128-bit floor's sign fix-ups. */
        u128 y = (mulu_wide((u64)(price * bps), (u64)qty) + 4095) >> 12;
        if (y >> 63 == 0) return (i64)(((u64)y + 244140624ULL) / 244140625ULL);
    }
    i128 gross = (bps >= 0 && bps <= 10000 && price >= 0 && price <= (i64)461168601842738LL)
                     ? mul_wide(price * bps, qty)
                     : (i128)price * qty * bps;
    return (i64)-floordiv_2k(-gross, 12, 244140625LL);
}

static i64 realized_1e9(void) { return (i64)floordiv_qs(realized_raw) - G[S_FEES]; }
static i64 unrealized_1e9(void) {
    i64 pos = G[S_POSITION], mark = G[S_MARK];
    if (pos == 0 || mark == 0) return 0;
    return (i64)floordiv_qs(mul_wide(mark, pos) - cost_raw);
}

/* PositionBook.on_fill; returns gross realized (floored 1e9) */
HOT i64 book_fill(i32 side, i64 price, i64 qty, i64 fee) {
    i64 signed_q = side == 0 ? qty : -qty;
    G[S_FILLS] += 1;
    G[S_VOLUME] += qty;
    notional_raw += mul_wide(price, qty);
    G[S_FEES] += fee;
    G[S_SESSION_FEES] += fee;
    i64 pos = G[S_POSITION];
    if (pos == 0 || (pos > 0) == (signed_q > 0)) {
        G[S_POSITION] = pos + signed_q;
        cost_raw += mul_wide(price, signed_q);
        return 0;
    }
    i64 abs_pos = pos > 0 ? pos : -pos;
    i64 closed = qty < abs_pos ? qty : abs_pos;
    i128 removed = closed == abs_pos ? cost_raw : floordiv_mul(cost_raw, closed, abs_pos);
    i128 realized = pos > 0 ? mul_wide(price, closed) - removed : -removed - mul_wide(price, closed);
    realized_raw += realized;
    session_realized_raw += realized;
    cost_raw -= removed;
    i64 new_pos = pos + signed_q;
    G[S_POSITION] = new_pos;
    if (new_pos == 0 || (new_pos > 0) != (pos > 0)) {
        G[S_TRADES] += 1;
        cost_raw = mul_wide(price, new_pos);
    }
    return (i64)floordiv_qs(realized);
}

/* ---- the book -------------------------------------------------------------------------------- */
static i64 best_buy(void) { return nbuys ? POOL[BUYS[0]].price : -1; }
static i64 best_sell(void) { return nsells ? POOL[SELLS[0]].price : BIG + 1; }

static void shape_levels(i64 px, i64 qty, i64 shape, int bid, i64 *pxs, i64 *qtys, i64 *n) {
    if (px == 0) { *n = 0; return; }
    pxs[0] = px; qtys[0] = qty;
    int k = 1;
    if (shape >= 0 && shape < MAXSHAPES) {
        const i64 *s = &SHAPES[shape * SHAPEW];
        i64 limit = s[0], cnt = s[1];
        for (i64 j = 0; j < cnt && k < MAXD; j++) {
            i64 p = bid ? px - s[2 + 2 * j] : px + s[2 + 2 * j];
            if (bid ? p < limit : p > limit) break;
            pxs[k] = p; qtys[k] = s[3 + 2 * j]; k++;
        }
    } else if (shape == -1) { /* explicit levels after the top in XBOOK: (price, size) pairs */
        const i64 *lv = bid ? &XBOOK[2] : &XBOOK[2 + 2 * MAXD];
        i64 cnt = bid ? XBOOK[0] : XBOOK[1];
        for (i64 j = 1; j < cnt && k < MAXD; j++) { pxs[k] = lv[2 * j]; qtys[k] = lv[2 * j + 1]; k++; }
    }
    *n = k;
}

/* The levels our orders took from the book being replaced (taken_nb/taken_na of each side). */
static void untake(void) {
    for (i64 i = 0; i < taken_nb; i++) TAKEN_B[i] = 0;
    for (i64 i = 0; i < taken_na; i++) TAKEN_A[i] = 0;
    taken_nb = taken_na = 0;
}
/* Level i of the side taken from (asks when a buy takes) was taken from. */
static inline void note_taken(i32 side, i64 i) {
    if (side == 0) { if (i >= taken_na) taken_na = i + 1; }
    else if (i >= taken_nb) taken_nb = i + 1;
}

static void book_touch(i64 ts, i64 bpx, i64 apx) {
    B_ts = ts;
    G[S_HAVE_BOOK] = 1;
    G[S_NOW] = ts;
    G[S_BID] = bpx;
    G[S_ASK] = apx;
    if (bpx && apx) G[S_MARK] = (bpx + apx) / 2;
    else if (bpx || apx) G[S_MARK] = bpx ? bpx : apx;
}

static void set_book(i64 ts, i64 bpx, i64 bq, i64 apx, i64 aq, i64 bshape, i64 ashape) {
    untake();
    depth_row = -1;
    shape_levels(bpx, bq, bshape, 1, B_bpx, B_bq, &B_nb);
    shape_levels(apx, aq, ashape, 0, B_apx, B_aq, &B_na);
    book_touch(ts, bpx, apx);
}

static i64 level(i64 side, i64 index, i64 which) {
    if (depth_row >= 0) load_depth();
    if (side == 0) {
        if (index >= B_nb) return 0;
        return which ? B_bq[index] : B_bpx[index];
    }
    if (index >= B_na) return 0;
    return which ? B_aq[index] : B_apx[index];
}

/* ---- order lists ----------------------------------------------------------------------------- */
HOT void list_order(i32 oi) {
    Order *o = &POOL[oi];
    if (o->side == 0) {
        i32 i = 0;
        while (i < nbuys && POOL[BUYS[i]].price >= o->price) i++;
        for (i32 j = nbuys; j > i; j--) BUYS[j] = BUYS[j - 1];
        BUYS[i] = oi; nbuys++;
    } else {
        i32 i = 0;
        while (i < nsells && POOL[SELLS[i]].price <= o->price) i++;
        for (i32 j = nsells; j > i; j--) SELLS[j] = SELLS[j - 1];
        SELLS[i] = oi; nsells++;
    }
}
HOT void remove_index(i32 *arr, i32 *n, i32 oi) {
    for (i32 i = 0; i < *n; i++) {
        if (arr[i] == oi) {
            for (i32 j = i; j + 1 < *n; j++) arr[j] = arr[j + 1];
            (*n)--;
            return;
        }
    }
}
HOT void forget_order(i32 oi, int listed) {
    remove_index(OPEN, &nopen, oi);
    if (listed) {
        if (POOL[oi].side == 0) remove_index(BUYS, &nbuys, oi);
        else remove_index(SELLS, &nsells, oi);
    }
    FREE[nfree++] = oi;
    G[S_NOPEN] = nopen;
}
static i32 find_open(i64 id) {
    for (i32 i = 0; i < nopen; i++)
        if (POOL[OPEN[i]].id == id) return OPEN[i];
    return -1;
}

/* ---- fills ----------------------------------------------------------------------------------- */
static void queue_push(i64 kind, i64 a, i64 b, i64 c, i64 d) {
    i32 next = qtail + 1 == MAXQ ? 0 : qtail + 1;
    if (next == qhead) return; /* full: bounded by PAUSE_QUEUE long before */
    i64 *q = &Q[qtail * 5];
    q[0] = kind; q[1] = a; q[2] = b; q[3] = c; q[4] = d;
    qtail = next;
}

/* Apply a fill of order oi (engine + PositionBook), record it, and deliver/queue on_fill. */
static void call_algo(int cb, i64 a, i64 b, i64 c, i64 d, i64 e);
HOT void book_and_report(i64 id, i32 side, i64 price, i64 qty, i64 fee, int taker, i64 leaves);
HOT void fill_order(i32 oi, i64 price, i64 qty, int taker, int listed) {
    Order *o = &POOL[oi];
    i64 fee = fee_1e9(price, qty, taker);
    i64 id = o->id;
    i32 side = o->side;
    o->leaves -= qty;
    if (side == 0) G[S_OPEN_BUY] -= qty; else G[S_OPEN_SELL] -= qty;
    i64 leaves = o->leaves;
    if (leaves == 0) forget_order(oi, listed);
    book_and_report(id, side, price, qty, fee, taker, leaves);
}

/* A fill's positions, record and on_fill (paper fills above, routed ones from the venue). */
HOT void book_and_report(i64 id, i32 side, i64 price, i64 qty, i64 fee, int taker, i64 leaves) {
    /* the backtest's round trips: net of fees, decided by the fill that closes the trip */
    i64 before = G[S_POSITION];
    i64 gross = book_fill(side, price, qty, fee);
    i64 after = G[S_POSITION];
    i64 running = round_trip_pnl + gross - fee;
    if (before != 0 && (after == 0 || (after > 0) != (before > 0))) {
        G[S_ROUND_TRIPS] += 1;
        if (running > 0) G[S_WINS] += 1;
        running = 0;
    }
    round_trip_pnl = running;
    G[S_LOGLINES] += 1;
    i64 *e = ev_new(EV_FILL);
    if (e) {
        e[1] = id; e[2] = side; e[3] = price; e[4] = qty; e[5] = fee; e[6] = G[S_NOW];
        e[7] = taker; e[8] = leaves; e[9] = after; e[10] = gross - fee;
    }
    if (G[C_FN_FILL] && G[S_STATE] == ST_RUNNING) {
        if (G[S_IN_CALLBACK]) queue_push(CB_FILL, id, side, price, qty);
        else call_algo(CB_FILL, id, side, price, qty, G[S_NOW]);
    }
}

/* Whether level i of the side an order on `side` takes from exists; *n is that side's level
 * count as the caller last read it, updated when i passes it and a replay's deeper levels are
 * read in (load_depth). */
HOT int has_level(i32 side, i64 i, i64 *n) {
    if (i < *n) return 1;
    if (depth_row < 0) return 0;
    load_depth();
    *n = side == 0 ? B_na : B_nb;
    return i < *n;
}

/* Resting orders against the new book (MatchingEngine.on_book / _match_resting / _take). */
HOT i64 take(i32 side, i64 limit, i64 want) {
    i64 *pxs = side == 0 ? B_apx : B_bpx, *qtys = side == 0 ? B_aq : B_bq;
    i64 *tk = side == 0 ? TAKEN_A : TAKEN_B;
    i64 n = side == 0 ? B_na : B_nb;
    i64 got = 0;
    for (i64 i = 0; has_level(side, i, &n); i++) {
        i64 lp = pxs[i];
        if (side == 0 ? lp > limit : lp < limit) break;
        i64 avail = qtys[i] - tk[i];
        if (avail <= 0) continue;
        i64 q = avail < want - got ? avail : want - got;
        tk[i] += q;
        note_taken(side, i);
        got += q;
        if (got == want) break;
    }
    return got;
}

static void match_side(i32 side) {
    i32 *lst = side == 0 ? BUYS : SELLS;
    i32 n = side == 0 ? nbuys : nsells;
    if (n == 0) return;
    i32 copy[MAXO];
    for (i32 i = 0; i < n; i++) copy[i] = lst[i];
    i64 opp = side == 0 ? (B_na ? B_apx[0] : 0) : (B_nb ? B_bpx[0] : 0);
    i64 touch = side == 0 ? (B_nb ? B_bpx[0] : 0) : (B_na ? B_apx[0] : 0);
    i64 touch_qty = side == 0 ? (B_nb ? B_bq[0] : 0) : (B_na ? B_aq[0] : 0);
    double prob = bits_to_double(G[C_FILL_PROB_BITS]);
    for (i32 i = 0; i < n; i++) {
        i32 oi = copy[i];
        Order *o = &POOL[oi];
        i64 p = o->price;
        if (opp && (side == 0 ? opp <= p : opp >= p)) {
            i64 q = take(side, p, o->leaves);
            if (q) fill_order(oi, p, q, 0, 1);
            continue;
        }
        if (!touch || (side == 0 ? p < touch : p > touch)) break;
        if (mt_random() < prob) {
            i64 q = o->leaves < touch_qty ? o->leaves : touch_qty;
            if (q > 0) fill_order(oi, p, q, 0, 1);
        }
    }
}

static void match_resting(void) {
    i64 bid = B_nb ? B_bpx[0] : 0, ask = B_na ? B_apx[0] : 0;
    if (best_buy() >= bid) match_side(0);
    if (best_sell() <= (ask ? ask : BIG)) match_side(1);
}

/* ---- order entry (MatchingEngine.check / submit) --------------------------------------------- */
HOT i64 check(i32 side, i64 price, i64 qty) {
    if (G[C_HALTED] || !G[C_ACTIVE]) return R_CLOSED;
    if (price <= 0 || price < G[C_MIN_PX] || price > G[C_MAX_PX] || price % G[C_TICK]) return R_BAD_PRICE;
    if (qty <= 0 || qty % G[C_LOT] || qty < G[C_MIN_QTY] || qty > G[C_MAX_QTY]) return R_BAD_QTY;
    if (!G[C_MIN_NOTIONAL_RESTS] && below_notional(price, qty)) return R_BAD_QTY;
    if (nopen >= G[C_MAX_OPEN] || nopen >= MAXO) return R_RISK;
    if (G[C_HAS_MAX_NOTIONAL] && mul_wide(price, qty) > mul_wide(G[C_MAX_NOTIONAL], QS)) return R_RISK;
    i64 pos = G[S_POSITION];
    if (side == 0) {
        i128 worst = (i128)pos + G[S_OPEN_BUY] + qty;
        if (G[C_HAS_MAX_POS] && worst > G[C_MAX_POS]) return R_RISK;
        if (price >= best_sell()) return R_SELF_TRADE;
    } else {
        i128 worst = (i128)pos - G[S_OPEN_SELL] - qty;
        if (G[C_HAS_MAX_POS] && -worst > G[C_MAX_POS]) return R_RISK;
        if (!G[C_ALLOW_SHORT] && worst < 0) return R_RISK;
        if (price <= best_buy()) return R_SELF_TRADE;
    }
    return 0;
}

static i64 place_error(i64 reason) {
    switch (reason) {
    case R_BAD_PRICE: return ERR_BAD_PRICE;
    case R_BAD_QTY: return ERR_BAD_QTY;
    case R_RISK: return ERR_RISK;
    case R_CLOSED: return ERR_HALTED;
    default: return 0;
    }
}

HOT void submit_accepted(i64 id, i32 side, i64 price, i64 qty) {
    i32 oi = FREE[--nfree];
    Order *o = &POOL[oi];
    o->id = id; o->side = side; o->price = price; o->qty = qty; o->leaves = qty; o->ts = G[S_NOW];
    /* check() passed: under the minimum notional only where such an order rests */
    o->dormant = G[C_MIN_NOTIONAL_RESTS] && below_notional(price, qty);
    OPEN[nopen++] = oi;
    G[S_NOPEN] = nopen;
    if (side == 0) G[S_OPEN_BUY] += qty; else G[S_OPEN_SELL] += qty;
    if (o->dormant) return;
    int have = (int)G[S_HAVE_BOOK];
    i64 ask = B_na ? B_apx[0] : 0, bid = B_nb ? B_bpx[0] : 0;
    if (!have || (side == 0 ? (!ask || price < ask) : (!bid || price > bid))) {
        list_order(oi);
        return;
    }
    i64 *pxs = side == 0 ? B_apx : B_bpx, *qtys = side == 0 ? B_aq : B_bq;
    i64 *tk = side == 0 ? TAKEN_A : TAKEN_B;
    i64 n = side == 0 ? B_na : B_nb;
    for (i64 i = 0; has_level(side, i, &n); i++) {
        i64 lp = pxs[i];
        if (side == 0 ? lp > price : lp < price) break;
        i64 avail = qtys[i] - tk[i];
        if (avail <= 0) continue;
        i64 q = avail < POOL[oi].leaves ? avail : POOL[oi].leaves;
        tk[i] += q;
        note_taken(side, i);
        int done = POOL[oi].leaves == q;
        fill_order(oi, lp, q, 1, 0);
        if (done) return; /* the order left the pool */
    }
    list_order(oi);
}

/* Routed (live) mode: the order rests in our lists (open_order_count, positions' worst case and
 * the self-trade check see it) but is never paper-matched; the host sends it to the venue. */
static void route_note(i64 kind, const Order *o) {
    i64 *e = ev_new(kind);
    if (e) { e[1] = o->id; e[2] = o->side; e[3] = o->price; e[4] = o->leaves; e[6] = G[S_NOW]; }
}
static void route_place(i64 id, i32 side, i64 price, i64 qty) {
    i32 oi = FREE[--nfree];
    Order *o = &POOL[oi];
    o->id = id; o->side = side; o->price = price; o->qty = qty; o->leaves = qty; o->ts = G[S_NOW];
    o->dormant = 0;
    OPEN[nopen++] = oi;
    G[S_NOPEN] = nopen;
    if (side == 0) G[S_OPEN_BUY] += qty; else G[S_OPEN_SELL] += qty;
    list_order(oi);
    route_note(EV_ROUTE_PLACE, o);
}

/* ---- the `seq` imports of the algo ----------------------------------------------------------- */
static int spend_call(i64 which) {
    G[S_LAST_CALL] = which;
    if (--G[S_CALLS_LEFT] < 0) {
        G[S_PENDING] = PEND_HOST_CALLS;
        __builtin_trap();
    }
    return 1;
}
static int spend_action(i64 which) {
    if (--G[S_ACTIONS_LEFT] < 0) {
        if (G[S_ACTIONS_LEFT] == -1) {
            i64 *e = ev_new(EV_RATE);
            if (e) { e[1] = which; e[2] = G[C_MAX_ACTIONS]; e[3] = G[S_CALLBACK]; e[6] = G[S_NOW]; }
            G[S_LOGLINES] += 1;
        }
        return 0;
    }
    return 1;
}

EXPORT("seq_place_order") i64 seq_place_order(i32 side_in, i64 price, i64 qty) {
    spend_call(IMP_PLACE);
    if (!spend_action(IMP_PLACE)) return ERR_RATE;
    u32 side = (u32)side_in;
    if (side > 1) return ERR_BAD_SIDE;
    if (price <= 0) return ERR_BAD_PRICE;
    if (qty <= 0) return ERR_BAD_QTY;
    int tracing = G[S_TRACING] != 0;
    if (G[S_STATE] != ST_RUNNING) {
        if (tracing) act_note(ACT_REFUSED, side, price, ERR_HALTED, 0);
        return ERR_HALTED;
    }
    i64 id = G[S_NEXT_ID]++;
    G[S_ORDERS] += 1;
    i64 reason = check((i32)side, price, qty);
    if (tracing) act_note(ACT_PLACE, side, price, reason ? (place_error(reason) ? place_error(reason) : reason) : 0, id);
    if (!reason) {
        if (G[C_ROUTED]) route_place(id, (i32)side, price, qty);
        else submit_accepted(id, (i32)side, price, qty);
        return id;
    }
    G[S_REJECTS] += 1;
    G[S_LOGLINES] += 1;
    i64 *e = ev_new(EV_REJECT);
    if (e) { e[1] = id; e[2] = side; e[3] = price; e[4] = qty; e[5] = reason; e[6] = G[S_NOW]; }
    i64 err = place_error(reason);
    if (err) return err;
    if (G[C_FN_REJECT]) queue_push(CB_REJECT, id, reason, 0, 0);
    return id;
}

static i64 cancel_one(i64 id) {
    i32 oi = find_open(id);
    if (oi < 0) return 0;
    Order *o = &POOL[oi];
    if (o->side == 0) G[S_OPEN_BUY] -= o->leaves; else G[S_OPEN_SELL] -= o->leaves;
    forget_order(oi, !o->dormant);
    return 1;
}

HOT i64 cancel_everything(void) {
    i64 n = nopen;
    if (!n) return 0;
    if (G[C_ROUTED])
        for (i32 i = 0; i < nopen; i++) route_note(EV_ROUTE_CANCEL, &POOL[OPEN[i]]);
    for (i32 i = 0; i < nopen; i++) FREE[nfree++] = OPEN[i];
    nopen = 0; nbuys = 0; nsells = 0;
    G[S_NOPEN] = 0;
    G[S_OPEN_BUY] = 0;
    G[S_OPEN_SELL] = 0;
    G[S_CANCELS] += n;
    return n;
}

EXPORT("seq_cancel_order") i32 seq_cancel_order(i64 id) {
    spend_call(IMP_CANCEL);
    if (!spend_action(IMP_CANCEL)) return ERR_RATE;
    if (G[S_TRACING]) act_note(ACT_CANCEL, 0, 0, 0, id);
    if (G[C_ROUTED]) {
        i32 oi = find_open(id);
        if (oi >= 0) route_note(EV_ROUTE_CANCEL, &POOL[oi]);
    }
    if (cancel_one(id)) {
        G[S_CANCELS] += 1;
        return 0;
    }
    return -1;
}

EXPORT("seq_cancel_all") void seq_cancel_all(void) {
    spend_call(IMP_CANCEL_ALL);
    if (!spend_action(IMP_CANCEL_ALL)) return;
    if (G[S_TRACING]) act_note(ACT_CANCEL_ALL, 0, 0, 0, 0);
    cancel_everything();
}

EXPORT("seq_position_1e8") i64 seq_position_1e8(void) {
    spend_call(IMP_POSITION);
    return G[S_POSITION];
}

EXPORT("seq_open_order_count") i32 seq_open_order_count(void) {
    spend_call(IMP_OPEN);
    return nopen;
}

EXPORT("seq_book_level") i64 seq_book_level(i32 side, i32 index, i32 which) {
    spend_call(IMP_LEVEL);
    if ((u32)side > 1 || (u32)which > 1 || index < 0) return 0;
    return level(side, index, which);
}

/* log(): the host-call budget is spent here (the start function and on_init are exempt, as in
 * AlgoInstance); a line nobody will read (C_LOG_COUNT_ONLY, not traced, within the algo's memory
 * and the callback's line budget) is only counted. Everything else goes to the host, which checks
 * the bounds, reads the text and keeps the line budget's warning. */
EXPORT("seq_log") void seq_log(i32 level, i32 ptr, i32 len) {
    G[S_LAST_CALL] = IMP_LOG;
    if (--G[S_CALLS_LEFT] < 0 && !G[S_IN_INIT]) {
        G[S_PENDING] = PEND_HOST_CALLS;
        __builtin_trap();
    }
    if (G[C_LOG_COUNT_ONLY] && !G[S_TRACING] && G[S_LOGS_LEFT] > 0 &&
        (u64)(u32)ptr + (u64)(u32)len <= (u64)G[S_ALGO_MEM]) {
        G[S_LOGS_LEFT] -= 1;
        G[S_COUNTED_LOGS] += 1;
        return;
    }
    host_log(level, ptr, len);
}

/* log_enabled(): would a log() line now be read by anyone? 0 when it would only be counted (a
 * backtest's sample is full and this callback is not traced) or dropped (the callback's line budget
 * is spent), so an algo can skip formatting it. Spends the host-call budget as log() does. */
EXPORT("seq_log_enabled") i32 seq_log_enabled(i32 level) {
    (void)level; /* every level alike, for now */
    G[S_LAST_CALL] = IMP_LOG_ENABLED;
    if (--G[S_CALLS_LEFT] < 0 && !G[S_IN_INIT]) {
        G[S_PENDING] = PEND_HOST_CALLS;
        __builtin_trap();
    }
    if (G[S_LOGS_LEFT] <= 0) return 0;
    return !(G[C_LOG_COUNT_ONLY] && !G[S_TRACING]);
}

EXPORT("seq_now_ns") i64 seq_now_ns(void) {
    spend_call(IMP_NOW);
    return G[S_NOW];
}

/* ---- calling the algo ------------------------------------------------------------------------ */
typedef void (*fn_book)(i64, i64, i64, i64, i64);
typedef void (*fn_fill)(i64, i32, i64, i64, i64);
typedef void (*fn_reject)(i64, i32);
typedef void (*fn_timer)(i64);

static i64 *trace_slot(int cb) {
    switch (cb) {
    case CB_BOOK: return &G[S_NEXT_TRACE_BOOK];
    case CB_FILL: return &G[S_NEXT_TRACE_FILL];
    case CB_REJECT: return &G[S_NEXT_TRACE_REJECT];
    default: return 0;
    }
}

/* call_algo inline: a book update's callbacks (on_book, the queued on_fill, on_timer) are one
 * or more per event, and with the kind known at the call the switches below fold away. */
HOT void call_algo_in(int cb, i64 a, i64 b, i64 c, i64 d, i64 e) {
    /* Fuel: the host filled it before this call into the core; every further callback refuels. */
    if (G[S_FUELED]) G[S_FUELED] = 0;
    else host_refuel();
    G[S_CALLBACK] = cb;
    G[S_CALLS_LEFT] = G[C_MAX_HOST_CALLS];
    G[S_ACTIONS_LEFT] = G[C_MAX_ACTIONS];
    G[S_LOGS_LEFT] = G[C_MAX_LOGS];
    i64 *next = trace_slot(cb);
    int traced = next && G[S_NOW] >= *next;
    if (traced) {
        *next = G[S_NOW] + G[C_TRACE_NS];
        G[S_TRACING] = cb;
        G[S_NACT] = 0;
        G[S_ARGS] = a; G[S_ARGS + 1] = b; G[S_ARGS + 2] = c; G[S_ARGS + 3] = d; G[S_ARGS + 4] = e;
        host_trace(cb, 0);
    }
    G[S_IN_CALLBACK] = 1;
    switch (cb) {
    case CB_BOOK: ((fn_book)(unsigned long)G[C_FN_BOOK])(a, b, c, d, e); break;
    case CB_FILL: ((fn_fill)(unsigned long)G[C_FN_FILL])(a, (i32)b, c, d, e); break;
    case CB_REJECT: ((fn_reject)(unsigned long)G[C_FN_REJECT])(a, (i32)b); break;
    case CB_TIMER: ((fn_timer)(unsigned long)G[C_FN_TIMER])(a); break;
    }
    G[S_IN_CALLBACK] = 0;
    if (traced) {
        host_trace(cb, 1);
        G[S_TRACING] = 0;
    }
    G[S_CALLBACK] = CB_NONE;
}
static void call_algo(int cb, i64 a, i64 b, i64 c, i64 d, i64 e) { call_algo_in(cb, a, b, c, d, e); }

static void drain(void) {
    i64 delivered = 0;
    while (qhead != qtail && G[S_STATE] == ST_RUNNING) {
        i64 *q = &Q[qhead * 5];
        i64 kind = q[0], a = q[1], b = q[2], c = q[3], d = q[4];
        qhead = qhead + 1 == MAXQ ? 0 : qhead + 1; /* no remainder by 320 */
        if (kind == CB_FILL) call_algo_in(CB_FILL, a, b, c, d, G[S_NOW]);
        else call_algo(CB_REJECT, a, b, 0, 0, 0);
        if (++delivered > G[C_MAX_QUEUED]) {
            qhead = qtail;
            G[S_PAUSE] = PAUSE_QUEUE;
            return;
        }
    }
    qhead = qtail;
}

/* One book update, once the book is in place: match resting orders (their fills reach on_fill at
 * once), then on_book, the queued fills/rejects, then on_timer when due. */
HOT void after_book(i64 ts, i64 bpx, i64 bq, i64 apx, i64 aq) {
    if (nopen && !G[C_ROUTED]) {
        /* All resting orders are matched first, then their fills are delivered: an on_fill that
         * cancels another order must find it filled or cancelled, never both. */
        G[S_IN_CALLBACK] = 1;
        match_resting();
        G[S_IN_CALLBACK] = 0;
        if (qhead != qtail) drain();
    }
    if (G[S_STATE] != ST_RUNNING || G[S_PAUSE]) return;
    G[S_UPDATES] += 1;
    call_algo_in(CB_BOOK, bpx, bq, apx, aq, ts);
    if (qhead != qtail) drain();
    if (G[S_PAUSE]) return;
    if (G[C_FN_TIMER] && ts >= G[S_NEXT_TIMER] && G[S_STATE] == ST_RUNNING) {
        G[S_NEXT_TIMER] = ts + G[C_TIMER_NS];
        call_algo_in(CB_TIMER, ts, 0, 0, 0, 0);
        if (qhead != qtail) drain();
    }
}

static void step(i64 ts, i64 bpx, i64 bq, i64 apx, i64 aq, i64 bshape, i64 ashape) {
    set_book(ts, bpx, bq, apx, aq, bshape, ashape);
    after_book(ts, bpx, bq, apx, aq);
}

/* ---- exports for the host -------------------------------------------------------------------- */
EXPORT("core_addr") i32 core_addr(i32 which) {
    switch (which) {
    case 0: return (i32)(unsigned long)G;
    case 1: return (i32)(unsigned long)EV;
    case 2: return (i32)(unsigned long)ACT;
    case 3: return (i32)(unsigned long)SHAPES;
    case 4: return (i32)(unsigned long)XBOOK;
    case 5: return (i32)(unsigned long)MT;
    case 6: return (i32)(unsigned long)IN;
    case 7: return (i32)(unsigned long)CURVE;
    case 8: return (i32)(unsigned long)MERGE;
    case 9: return (i32)(unsigned long)MERGE_FN;
    case 10: return (i32)(unsigned long)SEG;
    default: return 0;
    }
}

EXPORT("core_limits") i32 core_limits(i32 which) {
    switch (which) {
    case 0: return MAXD;
    case 1: return MAXSHAPES;
    case 2: return (i32)evcap;
    case 3: return EVW;
    case 4: return MAXACT;
    case 5: return ACTW;
    case 6: return CHUNK;
    case 7: return BDEPTH;
    case 8: return MAXCURVE;
    case 9: return MAXO;
    case 10: return G_SIZE;
    case 11: return MAXSYM;
    case 12: return MAXSEG;
    case 13: return M_SIZE;
    default: return 0;
    }
}

/* After the host wrote the config (C_*) and the Mersenne Twister state. */
EXPORT("core_init") void core_init(void) {
    G[G_MAGIC] = CORE_MAGIC;
    nfree = 0;
    for (i32 i = MAXO - 1; i >= 0; i--) FREE[nfree++] = i;
    nopen = nbuys = nsells = 0;
    qhead = qtail = 0;
    G[S_STATE] = ST_ACCEPTED;
    if (G[S_NEXT_ID] <= 0) G[S_NEXT_ID] = 1;
    G[S_PEAK] = G[C_CAPITAL];
    G[S_EQUITY] = G[C_CAPITAL];
}

EXPORT("core_start") void core_start(i64 ts) {
    (void)ts;
    G[S_PAUSE] = 0;
    session_realized_raw = 0;
    G[S_SESSION_FEES] = 0;
    G[S_STATE] = ST_RUNNING;
}

/* Stop or pause: cancel every open order (a stopped algo must not be filled). */
EXPORT("core_halt") i64 core_halt(i32 state) {
    i64 n = cancel_everything();
    G[S_STATE] = state;
    G[S_PAUSE] = 0;
    qhead = qtail;
    G[S_IN_CALLBACK] = 0;
    G[S_TRACING] = 0;
    G[S_CALLBACK] = CB_NONE;
    return n;
}

/* Edge path: one update. The host filled the fuel (S_FUELED = 1 set here). */
EXPORT("core_on_book") i32 core_on_book(i64 ts, i64 bpx, i64 bq, i64 apx, i64 aq, i64 bshape, i64 ashape) {
    G[S_NEV] = 0;
    G[S_FUELED] = 1;
    step(ts, bpx, bq, apx, aq, bshape, ashape);
    return (i32)G[S_NEV] | (G[S_PAUSE] ? 0x40000000 : 0);
}

/* Call on_init (no book yet). */
EXPORT("core_call_init") void core_call_init(i32 fn) {
    G[S_FUELED] = 1;
    G[S_CALLS_LEFT] = G[C_MAX_HOST_CALLS];
    G[S_ACTIONS_LEFT] = G[C_MAX_ACTIONS];
    G[S_LOGS_LEFT] = G[C_MAX_LOGS];
    G[S_IN_CALLBACK] = 1;
    ((void (*)(void))(unsigned long)fn)();
    G[S_IN_CALLBACK] = 0;
    G[S_FUELED] = 0;
}

/* Backtests: grow memory for the input chunk, the curve and a larger event buffer. Returns 0, or
 * -1 when the memory limit does not allow it. */
EXPORT("core_alloc_run") i32 core_alloc_run(void) {
    if (IN) return 0;
    unsigned long bytes = (unsigned long)(NCOLS * CHUNK + 2 * MAXCURVE + EV_BIG * EVW) * 8 + 3 * MAXSEG * 4;
    unsigned long pages = (bytes + 65535) / 65536;
    long old = __builtin_wasm_memory_grow(0, pages);
    if (old < 0) return -1;
    IN = (i64 *)(old * 65536);
    CURVE = IN + NCOLS * CHUNK;
    EV = CURVE + 2 * MAXCURVE;
    evcap = EV_BIG;
    SEG = (i32 *)(EV + EV_BIG * EVW);
    return 0;
}

EXPORT("core_cancel_all") i64 core_cancel_all(void) { return cancel_everything(); }

/* Routed mode, the venue's answers (the host filled the fuel): a fill of order `id` (on_fill; an
 * order no longer open, cancelled while the fill was on its way, still moves the position), or
 * the end of an open order: `reason` > 0 is a refusal (on_reject with that code), 0 an end
 * without one (the venue cancelled or expired it). Event time never goes backwards. */
static void route_begin(i64 ts) {
    G[S_NEV] = 0;
    G[S_FUELED] = 1;
    if (ts > G[S_NOW]) G[S_NOW] = ts;
}
static i32 route_done(void) {
    if (qhead != qtail) drain();
    return (i32)G[S_NEV] | (G[S_PAUSE] ? 0x40000000 : 0);
}
EXPORT("core_route_fill") i32 core_route_fill(i64 id, i32 side, i64 price, i64 qty, i64 fee, i32 taker, i64 ts) {
    route_begin(ts);
    i64 leaves = 0;
    i32 oi = find_open(id);
    if (oi >= 0) {
        Order *o = &POOL[oi];
        i64 q = qty < o->leaves ? qty : o->leaves;
        o->leaves -= q;
        if (o->side == 0) G[S_OPEN_BUY] -= q; else G[S_OPEN_SELL] -= q;
        leaves = o->leaves;
        if (leaves == 0) forget_order(oi, !o->dormant);
    }
    book_and_report(id, (i32)(side != 0), price, qty, fee, taker != 0, leaves);
    return route_done();
}
EXPORT("core_route_end") i32 core_route_end(i64 id, i32 reason, i64 ts) {
    route_begin(ts);
    i32 oi = find_open(id);
    if (oi < 0) return route_done();
    Order *o = &POOL[oi];
    i64 side = o->side, price = o->price, leaves = o->leaves;
    if (side == 0) G[S_OPEN_BUY] -= leaves; else G[S_OPEN_SELL] -= leaves;
    forget_order(oi, !o->dormant);
    if (reason > 0) {
        G[S_REJECTS] += 1;
        G[S_LOGLINES] += 1;
        i64 *e = ev_new(EV_REJECT);
        if (e) { e[1] = id; e[2] = side; e[3] = price; e[4] = leaves; e[5] = reason; e[6] = G[S_NOW]; }
        if (G[C_FN_REJECT] && G[S_STATE] == ST_RUNNING) call_algo(CB_REJECT, id, reason, 0, 0, 0);
    }
    return route_done();
}

/* Backtest path: events of the input chunk (columns: ts, then per depth level bid_px, bid_qty,
 * ask_px, ask_qty). With a curve step (C_CURVE_STEP > 0) the core keeps the equity (C_CAPITAL +
 * its own PnL: the driver puts the other symbols' PnL in C_CAPITAL), its peak, the max drawdown and
 * the equity curve. Stops early when the event or curve buffers are nearly full, when the algo
 * pauses, or after a trap; S_PROCESSED says how far it got. */

/* Event i's book straight from the chunk's columns: each side's levels up to its first empty one
 * (what set_book makes of the same levels given as explicit depth), the touch now and the rest
 * when read (depth_row). */
static void set_chunk_book(i64 ts, i64 i) {
    untake();
    i64 bpx = IN[CHUNK + i], apx = IN[3 * CHUNK + i];
    B_bpx[0] = bpx;
    B_bq[0] = IN[2 * CHUNK + i];
    B_nb = bpx != 0;
    B_apx[0] = apx;
    B_aq[0] = IN[4 * CHUNK + i];
    B_na = apx != 0;
    depth_row = i;
    book_touch(ts, bpx, apx);
}

/* One side's levels after the touch from chunk row i (price column col + 4k, size col + 1 + 4k at
 * level k, up to the first empty one); returns the side's level count. */
HOT i64 load_side(i64 col, i64 i, i64 *pxs, i64 *qtys) {
    i64 k = 1;
    for (; k < BDEPTH; k++) {
        i64 px = IN[(col + 4 * k) * CHUNK + i];
        if (!px) break;
        pxs[k] = px;
        qtys[k] = IN[(col + 1 + 4 * k) * CHUNK + i];
    }
    return k;
}

/* The levels after the touch of the chunk row set_chunk_book left in depth_row. */
static void load_depth(void) {
    i64 i = depth_row;
    depth_row = -1;
    if (B_nb) B_nb = load_side(1, i, B_bpx, B_bq);
    if (B_na) B_na = load_side(3, i, B_apx, B_aq);
}

/* Events [start, start+n) of the input chunk. The curve samples and event records add to those
 * already in their buffers (the host empties them between driver calls). */
static i32 run_events(i32 start, i32 n) {
    G[S_PROCESSED] = 0;
    i64 capital = G[C_CAPITAL], step_ns = G[C_CURVE_STEP];
    double maxdd = bits_to_double(G[S_MAXDD_BITS]);
    /* The equity changes only with a fill (position, cost, realized PnL, fees: S_FILLS counts
     * them) or the mark: otherwise it, the peak and the drawdown are those of the last event. */
    i64 fills_seen = -1, mark_seen = 0;
    for (i32 j = 0; j < n; j++) {
        i64 i = start + j;
        i64 ts = IN[i];
        if (step_ns > 0) {
            while (ts >= G[S_NEXT_SAMPLE]) {
                if (G[S_NCURVE] >= MAXCURVE) goto out;
                CURVE[2 * G[S_NCURVE]] = G[S_NEXT_SAMPLE];
                CURVE[2 * G[S_NCURVE] + 1] = G[S_EQUITY];
                G[S_NCURVE] += 1;
                G[S_NEXT_SAMPLE] += step_ns;
            }
        }
        set_chunk_book(ts, i);
        after_book(ts, IN[CHUNK + i], IN[2 * CHUNK + i], IN[3 * CHUNK + i], IN[4 * CHUNK + i]);
        G[S_FUELED] = 0;
        G[S_PROCESSED] = j + 1;
        if (step_ns > 0 && (G[S_FILLS] != fills_seen || G[S_MARK] != mark_seen)) {
            fills_seen = G[S_FILLS];
            mark_seen = G[S_MARK];
            i64 eq = capital + realized_1e9() + unrealized_1e9();
            G[S_EQUITY] = eq;
            if (eq > G[S_PEAK]) G[S_PEAK] = eq;
            else if (eq < G[S_PEAK]) {
                double dd = (double)(G[S_PEAK] - eq) / (double)G[S_PEAK];
                if (dd > maxdd) maxdd = dd;
            }
        }
        if (G[S_PAUSE] || G[S_STATE] != ST_RUNNING || G[S_NEV] > EV_SOFT) break;
    }
out:
    /* the host may load another window into IN before this core's next event */
    if (depth_row >= 0) load_depth();
    G[S_MAXDD_BITS] = double_to_bits(maxdd);
    return (i32)G[S_PROCESSED];
}

/* One segment of a replay (events of this symbol in a row), called by the driver (core_merge, in
 * this or another symbol's core of the same store, wasm to wasm): the portfolio's figures come in
 * (`capital`: the capital plus the other symbols' PnL), core_portfolio() gives them back. Fuel:
 * the first callback refuels (the driver's call did not). */
EXPORT("core_seg") i32 core_seg(i32 start, i32 n, i64 capital, i64 equity, i64 peak, i64 maxdd_bits,
                                i64 next_sample) {
    G[C_CAPITAL] = capital;
    G[S_EQUITY] = equity;
    G[S_PEAK] = peak;
    G[S_MAXDD_BITS] = maxdd_bits;
    G[S_NEXT_SAMPLE] = next_sample;
    G[S_FUELED] = 0;
    return run_events(start, n);
}

/* After core_seg: 0 equity, 1 peak, 2 max drawdown bits, 3 next curve sample; 4: nonzero when the
 * driver must hand back to the host (paused, stopped, or the event buffer past its soft limit). */
EXPORT("core_portfolio") i64 core_portfolio(i32 which) {
    switch (which) {
    case 0: return G[S_EQUITY];
    case 1: return G[S_PEAK];
    case 2: return G[S_MAXDD_BITS];
    case 3: return G[S_NEXT_SAMPLE];
    default: return G[S_PAUSE] || G[S_STATE] != ST_RUNNING || G[S_NEV] > EV_SOFT;
    }
}

/* ---- the replay's driver: every symbol's events merged by time, in wasm ----------------------
 * One core of a replay's store drives them all: the host writes the segments (symbol k, first row
 * in k's chunk, count), in time order, and core_merge calls each symbol's core_seg through this
 * core's function table (MERGE_FN: k's core_seg and core_portfolio, put there by the host), handing
 * the portfolio's equity, peak, drawdown and curve step from core to core: one call from Python for
 * thousands of segments. It stops after a segment that did not finish or asks for the host, and
 * returns its index (nseg when all ran); MERGE[M_DONE] says how many of its events ran,
 * MERGE[M_SEG] which segment a trap interrupted. */
typedef i32 (*fn_seg)(i32, i32, i64, i64, i64, i64, i64);
typedef i64 (*fn_portfolio)(i32);

EXPORT("core_merge") i32 core_merge(i32 nseg) {
    i64 capital = MERGE[M_CAPITAL], equity = MERGE[M_EQUITY], peak = MERGE[M_PEAK];
    i64 dd = MERGE[M_MAXDD_BITS], next = MERGE[M_NEXT_SAMPLE], total = MERGE[M_TOTAL_PNL];
    i64 *pnl = &MERGE[M_SIZE];
    i32 s = 0;
    for (; s < nseg; s++) {
        i32 k = SEG[s], n = SEG[2 * MAXSEG + s];
        MERGE[M_SEG] = s;
        i64 own_capital = capital + total - pnl[k];
        i32 done = ((fn_seg)(unsigned long)MERGE_FN[2 * k])(SEG[MAXSEG + s], n, own_capital, equity, peak, dd, next);
        fn_portfolio pf = (fn_portfolio)(unsigned long)MERGE_FN[2 * k + 1];
        equity = pf(0);
        peak = pf(1);
        dd = pf(2);
        next = pf(3);
        i64 own = equity - own_capital;
        total += own - pnl[k];
        pnl[k] = own;
        MERGE[M_DONE] = done;
        if (done < n || pf(4)) break;
    }
    MERGE[M_EQUITY] = equity;
    MERGE[M_PEAK] = peak;
    MERGE[M_MAXDD_BITS] = dd;
    MERGE[M_NEXT_SAMPLE] = next;
    MERGE[M_TOTAL_PNL] = total;
    return s;
}

/* Read an open order: fills *out (id, side, price, qty, leaves, dormant) and returns 1, or 0. */
EXPORT("core_open_order") i32 core_open_order(i32 k, i32 out_addr) {
    if (k < 0 || k >= nopen) return 0;
    Order *o = &POOL[OPEN[k]];
    i64 *out = (i64 *)(unsigned long)out_addr;
    out[0] = o->id; out[1] = o->side; out[2] = o->price; out[3] = o->qty; out[4] = o->leaves;
    out[5] = o->dormant;
    return 1;
}

/* Tests: matching without an algo (MatchingEngine's interface) */
EXPORT("core_set_book") i32 core_set_book(i64 ts, i64 bpx, i64 bq, i64 apx, i64 aq, i64 bshape, i64 ashape) {
    G[S_NEV] = 0;
    set_book(ts, bpx, bq, apx, aq, bshape, ashape);
    if (nopen) match_resting();
    return (i32)G[S_NEV];
}
EXPORT("core_submit") i64 core_submit(i32 side, i64 price, i64 qty) {
    G[S_NEV] = 0;
    if ((u32)side > 1) return -(i64)R_VENUE;
    i64 reason = check(side, price, qty);
    i64 id = G[S_NEXT_ID]++;
    if (reason) return -reason;
    submit_accepted(id, side, price, qty);
    return id;
}
EXPORT("core_cancel") i32 core_cancel(i64 id) { return (i32)cancel_one(id); }

//! market_maker.zig — a simple touch-joining market maker for Sequence (ABI v1, wasm32-freestanding).
//!
//! On every book update: cancel everything, then bid at the best bid and offer at the best ask
//! (one tick inside when the spread is wide enough), skipping a side whose fill could take
//! |position| beyond max_pos_1e8. Logs every fill and reject, its quotes every 1000th update, and throttled placement errors.
//!
//! Build:
//!   python -m ziglang build-exe market_maker.zig -target wasm32-freestanding -fno-entry \
//!     --export=on_init --export=on_book --export=on_fill --export=on_reject \
//!     -O ReleaseSmall --stack 65536 -femit-bin=market_maker.wasm
//! (`-rdynamic` instead of the --export list works too, but also exports `__stack_pointer`.)

const std = @import("std");

// ---- ABI v1 imports: module "seq" only ----
extern "seq" fn place_order(side: i32, price_1e9: i64, qty_1e8: i64) i64;
extern "seq" fn cancel_all() void;
extern "seq" fn log(level: i32, ptr: [*]const u8, len: i32) void;
extern "seq" fn position_1e8() i64;

const SIDE_BUY: i32 = 0;
const SIDE_SELL: i32 = 1;
const LOG_INFO: i32 = 1;
const LOG_WARN: i32 = 2;

// ---- parameters ----
const tick_1e9: i64 = 1_000_000; // 0.001: must match the venue's tick grid
const order_qty_1e8: i64 = 100_000_000; // 1.0 per side
const max_pos_1e8: i64 = 500_000_000; // |position| <= 5.0
const log_every: u64 = 1000;

var updates: u64 = 0;
var fills: u64 = 0;
var place_errors: u64 = 0;
var line: [160]u8 = undefined; // one static buffer: callbacks never nest

fn logf(level: i32, comptime fmt: []const u8, args: anytype) void {
    // A line that does not fit is cut rather than dropped.
    const text = std.fmt.bufPrint(&line, fmt, args) catch line[0..];
    log(level, text.ptr, @intCast(text.len));
}

/// Whole and fractional parts for "{d}.{d:0>3}" style printing at the tick's precision (3 decimals).
fn whole(px_1e9: i64) i64 {
    return @divTrunc(px_1e9, 1_000_000_000);
}
fn milli(px_1e9: i64) u64 {
    return (@abs(px_1e9) % 1_000_000_000) / 1_000_000; // @abs gives u64: no overflow at minInt(i64)
}

fn quote(side: i32, px: i64, log_it: bool) void {
    const name = if (side == SIDE_BUY) "BUY" else "SELL";
    const r = place_order(side, px, order_qty_1e8);
    if (r < 0) {
        // A persistent error (say RISK) repeats on every update: warn on the 1st and every 1000th.
        place_errors += 1;
        if (place_errors != 1 and place_errors % log_every != 0) return;
        logf(LOG_WARN, "{s} rejected: err={d} @{d}.{d:0>3} errors={d}", .{ name, r, whole(px), milli(px), place_errors });
    } else if (log_it) {
        logf(LOG_INFO, "{s}: order={d} @{d}.{d:0>3}", .{ name, r, whole(px), milli(px) });
    }
}

export fn on_init() void {
    logf(LOG_INFO, "zig market_maker hello: tick=0.001 size=1 max_pos=5", .{});
}

export fn on_book(bid_px: i64, bid_qty: i64, ask_px: i64, ask_qty: i64, ts_ns: i64) void {
    _ = bid_qty;
    _ = ask_qty;
    _ = ts_ns;
    const log_it = updates % log_every == 0;
    updates += 1;

    cancel_all();
    // One-sided or crossed book: no reference price, stay out.
    if (bid_px <= 0 or ask_px <= bid_px) return;

    // Improve each side by one tick when at least three ticks separate them, else join the touch.
    const inside: i64 = if (ask_px - bid_px >= 3 * tick_1e9) tick_1e9 else 0;
    const my_bid = bid_px - @rem(bid_px, tick_1e9) + inside;
    const my_ask_raw = ask_px - inside;
    const my_ask = my_ask_raw + @rem(tick_1e9 - @rem(my_ask_raw, tick_1e9), tick_1e9); // ceil to grid

    const pos = position_1e8();
    if (pos <= max_pos_1e8 - order_qty_1e8 and my_bid < ask_px) quote(SIDE_BUY, my_bid, log_it);
    if (pos >= -max_pos_1e8 + order_qty_1e8 and my_ask > bid_px) quote(SIDE_SELL, my_ask, log_it);
}

export fn on_fill(order_id: i64, side: i32, price_1e9: i64, qty_1e8: i64, ts_ns: i64) void {
    _ = ts_ns;
    fills += 1;
    const name = if (side == SIDE_BUY) "BUY" else "SELL";
    // Quantity printed in whole units plus 8 decimals of qty_1e8.
    const q: u64 = @abs(qty_1e8);
    logf(LOG_INFO, "{s} FILL: order={d} qty={d}.{d:0>8} @{d}.{d:0>3} fills={d}", .{
        name, order_id, q / 100_000_000, q % 100_000_000, whole(price_1e9), milli(price_1e9), fills,
    });
}

export fn on_reject(order_id: i64, reason_code: i32) void {
    logf(LOG_WARN, "REJECT: order={d} reason={d}", .{ order_id, reason_code });
}

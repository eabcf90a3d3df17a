//! A touch-joining market maker for Sequence (ABI v1): `#![no_std]` cdylib for wasm32-unknown-unknown.
//!
//! On every book update: cancel everything, then bid at the best bid and offer at the best ask,
//! skipping a side whose fill could take |position| beyond `MAX_POS_1E8`. Logs every fill and
//! reject, its quotes on every 1000th update, and placement errors throttled the same way.
#![no_std]

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

// ---- ABI v1 imports: module "seq" only ----
#[link(wasm_import_module = "seq")]
extern "C" {
    fn place_order(side: i32, price_1e9: i64, qty_1e8: i64) -> i64;
    fn cancel_all();
    fn log(level: i32, ptr: *const u8, len: i32);
    fn position_1e8() -> i64;
}

const SIDE_BUY: i32 = 0;
const SIDE_SELL: i32 = 1;
const LOG_INFO: i32 = 1;
const LOG_WARN: i32 = 2;

// ---- parameters ----
const TICK_1E9: i64 = 1_000_000; // 0.001: must match the venue's tick grid
const ORDER_QTY_1E8: i64 = 100_000_000; // 1.0 per side
const MAX_POS_1E8: i64 = 500_000_000; // |position| <= 5.0
const LOG_EVERY: u64 = 1000;

// Single-threaded wasm: relaxed atomics are plain loads/stores and avoid `static mut`.
static UPDATES: AtomicU64 = AtomicU64::new(0);
static FILLS: AtomicU64 = AtomicU64::new(0);
static PLACE_ERRORS: AtomicU64 = AtomicU64::new(0);

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable() // traps; the host reports it and stops the algo
}

/// A fixed line buffer with hand-written number formatting (core::fmt would triple the binary).
struct Line {
    buf: [u8; 160],
    len: usize,
}

impl Line {
    fn new() -> Self {
        Line { buf: [0; 160], len: 0 }
    }
    fn byte(&mut self, b: u8) -> &mut Self {
        // Overlong lines are cut, never an out-of-bounds panic.
        if self.len < self.buf.len() {
            self.buf[self.len] = b;
            self.len += 1;
        }
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        for &b in s.as_bytes() {
            self.byte(b);
        }
        self
    }
    fn u64(&mut self, mut v: u64) -> &mut Self {
        let mut tmp = [0u8; 20];
        let mut n = 0;
        loop {
            tmp[n] = b'0' + (v % 10) as u8;
            n += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        while n > 0 {
            n -= 1;
            self.byte(tmp[n]);
        }
        self
    }
    fn i64(&mut self, v: i64) -> &mut Self {
        if v < 0 {
            self.str("-");
        }
        self.u64(v.unsigned_abs())
    }
    /// `v` with `scale_digits` implied decimals, printed with exactly `decimals` of them.
    fn fixed(&mut self, v: i64, scale_digits: u32, decimals: u32) -> &mut Self {
        let scale = 10u64.pow(scale_digits);
        let mag = v.unsigned_abs();
        if v < 0 {
            self.str("-");
        }
        self.u64(mag / scale);
        if decimals > 0 {
            let frac = (mag % scale) / 10u64.pow(scale_digits - decimals);
            self.str(".");
            let mut div = 10u64.pow(decimals - 1);
            while div > 0 {
                self.u64(frac / div % 10);
                div /= 10;
            }
        }
        self
    }
    fn price(&mut self, px_1e9: i64) -> &mut Self {
        self.fixed(px_1e9, 9, 3) // the 0.001 grid
    }
    fn qty(&mut self, qty_1e8: i64) -> &mut Self {
        self.fixed(qty_1e8, 8, 2)
    }
    fn emit(&self, level: i32) {
        unsafe { log(level, self.buf.as_ptr(), self.len as i32) }
    }
}

fn side_name(side: i32) -> &'static str {
    if side == SIDE_BUY {
        "BUY"
    } else {
        "SELL"
    }
}

fn quote(side: i32, px: i64, log_it: bool) {
    let r = unsafe { place_order(side, px, ORDER_QTY_1E8) };
    if r < 0 {
        let n = PLACE_ERRORS.fetch_add(1, Relaxed) + 1;
        if n == 1 || n % LOG_EVERY == 0 {
            Line::new().str(side_name(side)).str(" rejected: err=").i64(r).str(" @").price(px)
                .str(" errors=").u64(n).emit(LOG_WARN);
        }
    } else if log_it {
        Line::new().str(side_name(side)).str(": order=").i64(r).str(" @").price(px).emit(LOG_INFO);
    }
}

#[no_mangle]
pub extern "C" fn on_init() {
    Line::new().str("rust market_maker hello: tick=").price(TICK_1E9).str(" size=").qty(ORDER_QTY_1E8)
        .str(" max_pos=").qty(MAX_POS_1E8).emit(LOG_INFO);
}

#[no_mangle]
pub extern "C" fn on_book(bid_px: i64, _bid_qty: i64, ask_px: i64, _ask_qty: i64, _ts_ns: i64) {
    let log_it = UPDATES.fetch_add(1, Relaxed) % LOG_EVERY == 0;
    unsafe { cancel_all() };
    // One-sided or crossed book: no reference price, stay out.
    if bid_px <= 0 || ask_px <= bid_px {
        return;
    }
    let my_bid = bid_px - bid_px % TICK_1E9; // floor to the grid
    let my_ask = ask_px + (TICK_1E9 - ask_px % TICK_1E9) % TICK_1E9; // ceil to the grid
    let pos = unsafe { position_1e8() };
    if pos <= MAX_POS_1E8 - ORDER_QTY_1E8 {
        quote(SIDE_BUY, my_bid, log_it);
    }
    if pos >= -MAX_POS_1E8 + ORDER_QTY_1E8 {
        quote(SIDE_SELL, my_ask, log_it);
    }
}

#[no_mangle]
pub extern "C" fn on_fill(order_id: i64, side: i32, price_1e9: i64, qty_1e8: i64, _ts_ns: i64) {
    let n = FILLS.fetch_add(1, Relaxed) + 1;
    Line::new().str(side_name(side)).str(" FILL: order=").i64(order_id).str(" qty=").qty(qty_1e8)
        .str(" @").price(price_1e9).str(" fills=").u64(n).emit(LOG_INFO);
}

#[no_mangle]
pub extern "C" fn on_reject(order_id: i64, reason_code: i32) {
    Line::new().str("REJECT: order=").i64(order_id).str(" reason=").i64(reason_code as i64).emit(LOG_WARN);
}

;; echo_logger: logs every book update and round-trips one order through the host.
;; On each on_book: log INFO "book update"; if there is a bid, place a 1.0 buy at the best bid and
;; cancel it again at once (logging WARN if the placement is refused). Exercises seq.log,
;; seq.place_order and seq.cancel_order, plus the optional on_init and sequence_abi_version exports.
(module
  (import "seq" "log" (func $log (param i32 i32 i32)))
  (import "seq" "place_order" (func $place_order (param i32 i64 i64) (result i64)))
  (import "seq" "cancel_order" (func $cancel_order (param i64) (result i32)))

  (memory (export "memory") 1)
  ;; Static UTF-8 strings; offsets and lengths are repeated in the calls below.
  (data (i32.const 16) "book update")          ;; 16, len 11
  (data (i32.const 32) "echo_logger ready")    ;; 32, len 17
  (data (i32.const 64) "place_order refused")  ;; 64, len 19

  (func (export "sequence_abi_version") (result i32) (i32.const 1))

  (func (export "on_init")
    (call $log (i32.const 1) (i32.const 32) (i32.const 17)))

  (func (export "on_book") (param $bid_px i64) (param $bid_qty i64) (param $ask_px i64) (param $ask_qty i64) (param $ts_ns i64)
    (local $id i64)
    (call $log (i32.const 1) (i32.const 16) (i32.const 11))
    ;; One-sided book without bids: nothing to echo.
    (if (i64.le_s (local.get $bid_px) (i64.const 0)) (then (return)))
    ;; side 0 = buy, qty 1.0 = 100000000 (qty_1e8)
    (local.set $id (call $place_order (i32.const 0) (local.get $bid_px) (i64.const 100000000)))
    (if (i64.gt_s (local.get $id) (i64.const 0))
      (then (drop (call $cancel_order (local.get $id))))
      (else (call $log (i32.const 2) (i32.const 64) (i32.const 19))))))

;; The smallest valid Sequence algo (ABI v1): a memory and an on_book that does nothing.
;; No imports at all; every optional export is left out.
(module
  (memory (export "memory") 1)
  ;; on_book(bid_px_1e9, bid_qty_1e8, ask_px_1e9, ask_qty_1e8, ts_ns)
  (func (export "on_book") (param i64 i64 i64 i64 i64)))

"""Uploads are validated and compiled in a worker process, not in the web process."""

from __future__ import annotations

import os

import pytest

from algo_studio import compile_pool
from edges.runtime import AlgoValidationError


def test_validation_runs_in_another_process_and_is_cached(wasm) -> None:
    pool = compile_pool._get_pool()
    pids = set(pool.submit(os.getpid).result(timeout=60) for _ in range(2))
    assert os.getpid() not in pids
    compile_pool._cache.clear()
    info = compile_pool.validate_upload(wasm)
    assert info.size_bytes == len(wasm) and "on_book" in info.callbacks
    assert compile_pool._cache[info.sha256] == info
    assert compile_pool.validate_upload(wasm) is info  # the same bytes are not compiled twice


def test_invalid_module_error_crosses_the_process_boundary() -> None:
    with pytest.raises(AlgoValidationError, match="WebAssembly module"):
        compile_pool.validate_upload(b"\0asm\x01\0\0\0garbage")


def test_a_dead_compiler_process_refuses_the_module_and_the_next_upload_works(wasm) -> None:
    pool = compile_pool._get_pool()
    pool.submit(os.getpid).result(timeout=60)
    compile_pool._cache.clear()
    future = pool.submit(os._exit, 1)
    from concurrent.futures.process import BrokenProcessPool

    with pytest.raises(BrokenProcessPool):
        future.result(timeout=60)
    with pytest.raises(AlgoValidationError, match="crashed"):
        compile_pool.validate_upload(wasm)
    assert compile_pool.validate_upload(wasm).size_bytes == len(wasm)

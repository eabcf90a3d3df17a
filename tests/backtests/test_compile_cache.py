"""seqcore's compiled code is kept on disk between processes (edges/runtime/engine.cached_module):
a fresh worker loads it instead of compiling it again, and a file it cannot use is replaced."""

from __future__ import annotations

import wasmtime

from edges.core.instance import CORE_WASM
from edges.runtime.engine import cached_module


def _exports(module: wasmtime.Module) -> list[str]:
    return sorted(e.name for e in module.exports)


def test_seqcore_is_compiled_once_then_loaded_and_a_bad_file_is_compiled_again(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQUENCE_WASM_CACHE_DIR", str(tmp_path))
    wasm = CORE_WASM.read_bytes()
    stale = tmp_path / "seqcore-0123456789abcdef01234567.cwasm"  # an older seqcore's compile
    stale.write_bytes(b"old")
    first = cached_module("seqcore", wasm)
    files = list(tmp_path.glob("seqcore-*.cwasm"))
    assert len(files) == 1 and files[0] != stale and not stale.exists()
    written = files[0].stat()
    assert files[0].read_bytes() == first.serialize()

    again = cached_module("seqcore", wasm)  # loaded from the file, which is left as it was
    assert _exports(again) == _exports(first) and "core_merge" in _exports(again)
    assert (files[0].stat().st_ino, files[0].stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    assert not list(tmp_path.glob(".tmp-*"))

    files[0].write_bytes(b"\x7fELF not a compiled module")  # damaged, or another wasmtime's
    fixed = cached_module("seqcore", wasm)
    assert _exports(fixed) == _exports(first)
    assert files[0].read_bytes() == fixed.serialize()


def test_an_empty_cache_dir_setting_compiles_without_files(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQUENCE_WASM_CACHE_DIR", "")
    monkeypatch.chdir(tmp_path)
    assert "core_merge" in _exports(cached_module("seqcore", CORE_WASM.read_bytes()))
    assert not list(tmp_path.rglob("*.cwasm"))

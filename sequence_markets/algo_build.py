"""Compile Sequence algos (C, Zig, Rust, WAT) to wasm32 modules that follow the ABI v1.

Used by the example tests now and by `sequence build` later. Standard library only; wasmtime is
imported lazily, and only for WAT. C and Zig go through the `ziglang` wheel (`python -m ziglang`),
so no system toolchain is needed; Rust needs cargo and a rustc with the wasm32-unknown-unknown target.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "BuildError",
    "build_c",
    "build_project",
    "build_rust",
    "build_wat",
    "build_zig",
    "detect_project",
    "find_rust_toolchain",
]

# A 64 KiB stack instead of wasm-ld's 1 MiB default: memory then starts at 2 pages, far from the
# host's 16 MiB cap, and freestanding algos need little stack.
STACK_SIZE = 64 * 1024

RUST_TARGET = "wasm32-unknown-unknown"
# Debian's rustc (with libstd-rust-dev-wasm32) has the wasm32 target; rustup's, first on PATH, may not.
_SYSTEM_RUSTC = Path("/usr/bin/rustc")
_SYSTEM_CARGO = Path("/usr/bin/cargo")

_TIMEOUT_S = 300


class BuildError(Exception):
    """A build failed; the message carries the compiler's stderr."""


def _zig() -> list[str]:
    return [sys.executable, "-m", "ziglang"]


def _run(
    cmd: Sequence[str | os.PathLike[str]],
    what: str,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> None:
    try:
        proc = subprocess.run(
            [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"{what} could not run: {exc}") from exc
    if proc.returncode != 0:
        output = (proc.stderr.strip() or proc.stdout.strip()) or "(no output)"
        raise BuildError(f"{what} failed (exit {proc.returncode}):\n{output}")


def _prepare_out(out_path: str | os.PathLike[str]) -> Path:
    out = Path(out_path).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def build_c(
    sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    *,
    opt: str = "-O2",
    include_dirs: Sequence[str | os.PathLike[str]] = (),
    extra_args: Sequence[str] = (),
) -> Path:
    """Compile freestanding C (no libc) to a wasm module; `extra_args` takes -D overrides and the like.

    Only functions marked `export_name` (SEQ_EXPORT) and `memory` are exported: wasm-ld's default,
    so no --export-dynamic (which would also export every non-static function).
    """
    srcs = [Path(sources)] if isinstance(sources, str | os.PathLike) else [Path(s) for s in sources]
    if not srcs:
        raise BuildError("build_c: no source files")
    out = _prepare_out(out_path)
    cmd = [
        *_zig(), "cc", "--target=wasm32-freestanding", "-nostdlib", opt,
        "-g0",  # zig cc emits DWARF by default: ~20 KB of debug sections on a 3 KB algo
        "-Wl,--no-entry", f"-Wl,-z,stack-size={STACK_SIZE}",
        *(f"-I{d}" for d in include_dirs), *extra_args,
        "-o", str(out), *(str(s) for s in srcs),
    ]  # fmt: skip
    _run(cmd, "C compile (zig cc)")
    return out


def build_zig(
    source: str | os.PathLike[str], out_path: str | os.PathLike[str], *, opt: str = "ReleaseSmall"
) -> Path:
    """Compile a single-file Zig algo; every `export fn` in it becomes a wasm export.

    The exports are listed with --export rather than -rdynamic, which would also export the
    `__stack_pointer` global.
    """
    src = Path(source)
    try:
        text = src.read_text(encoding="utf-8")
    except OSError as exc:
        raise BuildError(f"cannot read {src}: {exc}") from exc
    exports = re.findall(r"^\s*(?:pub\s+)?export\s+fn\s+([A-Za-z_][A-Za-z0-9_]*)", text, flags=re.MULTILINE)
    if not exports:
        raise BuildError(f"{src}: no `export fn` found (an algo must export at least on_book)")
    out = _prepare_out(out_path)
    cmd = [
        *_zig(), "build-exe", str(src.resolve()), "-target", "wasm32-freestanding", "-fno-entry",
        *(f"--export={name}" for name in exports), "-O", opt, "--stack", str(STACK_SIZE),
        f"-femit-bin={out}",
    ]  # fmt: skip
    # cwd: build-exe may drop side files next to where it runs; keep them out of the source tree.
    _run(cmd, "Zig compile", cwd=out.parent)
    return out


def build_wat(source: str | os.PathLike[str], out_path: str | os.PathLike[str]) -> Path:
    """Assemble WebAssembly text with wasmtime's wat2wasm."""
    import wasmtime  # lazy: only WAT needs it

    src = Path(source)
    try:
        binary = wasmtime.wat2wasm(src.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BuildError(f"cannot read {src}: {exc}") from exc
    except wasmtime.WasmtimeError as exc:
        raise BuildError(f"WAT assembly of {src} failed:\n{exc}") from exc
    out = _prepare_out(out_path)
    out.write_bytes(binary)
    return out


def find_rust_toolchain() -> tuple[Path, Path]:
    """(cargo, rustc) able to target wasm32-unknown-unknown, or BuildError saying what is missing."""
    rustc: Path | None
    if _SYSTEM_RUSTC.exists():
        # Pair Debian's rustc with Debian's cargo: a newer cargo passes flags an old rustc rejects.
        rustc = _SYSTEM_RUSTC
        cargo_s = str(_SYSTEM_CARGO) if _SYSTEM_CARGO.exists() else shutil.which("cargo")
    else:
        rustc_s = shutil.which("rustc")
        rustc = Path(rustc_s) if rustc_s else None
        cargo_s = shutil.which("cargo")
    if rustc is None or cargo_s is None:
        raise BuildError(
            "Rust toolchain not found (need cargo and rustc); on Debian: "
            "apt-get install rustc cargo libstd-rust-dev-wasm32, or rustup target add wasm32-unknown-unknown"
        )
    try:
        sysroot = subprocess.run(
            [str(rustc), "--print", "sysroot"], capture_output=True, text=True, check=True, timeout=60
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise BuildError(f"{rustc} --print sysroot failed: {exc}") from exc
    if not (Path(sysroot) / "lib" / "rustlib" / RUST_TARGET).is_dir():
        raise BuildError(
            f"{rustc} has no {RUST_TARGET} target (sysroot {sysroot}); on Debian: "
            f"apt-get install libstd-rust-dev-wasm32, or rustup target add {RUST_TARGET}"
        )
    return Path(cargo_s), rustc


def build_rust(
    crate_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    target_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """`cargo build --release` a cdylib crate for wasm32-unknown-unknown, offline (no crates.io)."""
    crate = Path(crate_dir).resolve()
    try:
        manifest = tomllib.loads((crate / "Cargo.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BuildError(f"cannot read {crate / 'Cargo.toml'}: {exc}") from exc
    lib_name = manifest.get("lib", {}).get("name") or manifest.get("package", {}).get("name")
    if not lib_name:
        raise BuildError(f"{crate / 'Cargo.toml'}: no [package] name")
    cargo, rustc = find_rust_toolchain()
    tdir = Path(target_dir).resolve() if target_dir else crate / "target"
    env = {**os.environ, "RUSTC": str(rustc)}
    cmd: list[str | Path] = [
        cargo,
        "build",
        "--offline",
        "--release",
        "--target",
        RUST_TARGET,
        "--target-dir",
        tdir,
    ]
    # cwd = the crate, so cargo reads the crate's .cargo/config.toml (rustflags such as the stack size).
    _run(cmd, "cargo build", cwd=crate, env=env)
    built = tdir / RUST_TARGET / "release" / f"{lib_name.replace('-', '_')}.wasm"
    if not built.exists():
        raise BuildError(f'cargo finished but {built} is missing (is crate-type = ["cdylib"] set?)')
    out = _prepare_out(out_path)
    shutil.copyfile(built, out)
    return out


_KIND_BY_SUFFIX = {".zig": "zig", ".c": "c", ".wat": "wat"}


def detect_project(dir: str | os.PathLike[str]) -> str:
    """ "rust" (Cargo.toml), else "zig", "c" or "wat" by the source files in the folder itself."""
    d = Path(dir)
    if not d.is_dir():
        raise BuildError(f"{d} is not a directory")
    if (d / "Cargo.toml").is_file():
        return "rust"
    suffixes = {p.suffix for p in d.iterdir() if p.is_file()}
    for suffix, kind in _KIND_BY_SUFFIX.items():  # order = precedence
        if suffix in suffixes:
            return kind
    raise BuildError(f"{d}: no Cargo.toml, .zig, .c or .wat file found")


def _single_source(d: Path, suffix: str) -> Path:
    """The folder's one source file; with several, the one named after the folder or `main`."""
    files = sorted(p for p in d.glob(f"*{suffix}") if p.is_file())
    if len(files) == 1:
        return files[0]
    for stem in (d.name, "main"):
        if (d / f"{stem}{suffix}").is_file():
            return d / f"{stem}{suffix}"
    names = ", ".join(p.name for p in files)
    raise BuildError(f"{d}: several {suffix} files ({names}); name the algo {d.name}{suffix} or main{suffix}")


def build_project(dir: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None) -> Path:
    """Build the algo in `dir` to `<out_dir or dir/build>/<name>.wasm`.

    C: every .c file is compiled together, with `dir`, `dir/include` and `dir/../include` (the
    examples' shared seq_abi.h) on the include path when they exist.
    """
    d = Path(dir).resolve()
    kind = detect_project(d)
    out_root = Path(out_dir) if out_dir is not None else d / "build"
    out = out_root / f"{d.name}.wasm"
    if kind == "rust":
        return build_rust(d, out)
    if kind == "zig":
        return build_zig(_single_source(d, ".zig"), out)
    if kind == "wat":
        return build_wat(_single_source(d, ".wat"), out)
    includes = [p for p in (d, d / "include", d.parent / "include") if p.is_dir()]
    return build_c(sorted(d.glob("*.c")), out, include_dirs=includes)

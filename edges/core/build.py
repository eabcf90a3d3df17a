"""Build edges/core/seqcore.wasm from seqcore.c, and the native refuel helper (native/refuel.c) for
each supported platform, with the ziglang package's clang (a dev dependency).

    python -m edges.core.build            # rebuild the committed binaries
    python -m edges.core.build --check    # exit 1 when a committed binary is not its source's

The binaries are committed so that running Sequence needs no C toolchain; zig's builds are
reproducible (and cross-compile every platform from any one), and tests/edges/core rebuilds them and
compares the bytes. The refuel helper links against nothing (no libc): wasmtime's functions reach it
through a pointer table at run time (edges/core/instance.py).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "seqcore.c"
BINARY = HERE / "seqcore.wasm"

FLAGS = [
    "--target=wasm32-freestanding",
    "-ffreestanding",  # no libc, but compiler-rt (128-bit multiply and divide) is linked
    "-O2",
    "-s",
    "-Wall",
    "-Werror",
    "-Wl,--no-entry",
    "-Wl,--export-table",  # the host puts the algo's callbacks in the function table
    "-Wl,--growable-table",
    "-Wl,--export=__stack_pointer",  # reset after a trap unwinds the core's frames
    "-Wl,-z,stack-size=16384",  # the core's frames are small; its memory must fit tight caps
]


NATIVE_SOURCE = HERE / "native" / "refuel.c"
# (zig target, file name): the file name is what instance.py looks for on that platform
NATIVE_TARGETS = (
    ("x86_64-linux-gnu", "refuel-linux-x86_64.so"),
    ("aarch64-linux-gnu", "refuel-linux-aarch64.so"),
    ("x86_64-macos", "refuel-darwin-x86_64.dylib"),
    ("aarch64-macos", "refuel-darwin-arm64.dylib"),
)
NATIVE_FLAGS = ["-shared", "-nostdlib", "-fPIC", "-O2", "-s", "-Wall", "-Werror"]


def build(out: Path) -> None:
    cmd = [sys.executable, "-m", "ziglang", "cc", *FLAGS, "-o", str(out), str(SOURCE)]
    subprocess.run(cmd, check=True, cwd=HERE)


def build_native(target: str, out: Path) -> None:
    # Run in the output's folder with a bare name: a Mach-O library records its output path.
    cmd = [sys.executable, "-m", "ziglang", "cc", "-target", target, *NATIVE_FLAGS, "-o", out.name,
           str(NATIVE_SOURCE)]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=out.parent)


def main(argv: list[str]) -> int:
    if "--check" in argv:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / "seqcore.wasm"
            build(fresh)
            if not BINARY.exists() or fresh.read_bytes() != BINARY.read_bytes():
                print(f"{BINARY} is stale: run python -m edges.core.build", file=sys.stderr)
                return 1
            for target, name in NATIVE_TARGETS:
                fresh = Path(tmp) / name
                build_native(target, fresh)
                committed = HERE / "native" / name
                if not committed.exists() or fresh.read_bytes() != committed.read_bytes():
                    print(f"{committed} is stale: run python -m edges.core.build", file=sys.stderr)
                    return 1
        return 0
    build(BINARY)
    print(f"wrote {BINARY} ({BINARY.stat().st_size} bytes)")
    for target, name in NATIVE_TARGETS:
        out = HERE / "native" / name
        build_native(target, out)
        print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

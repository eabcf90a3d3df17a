"""Build edges/core/seqcore.wasm from seqcore.c with the ziglang package's clang (a dev dependency).

    python -m edges.core.build            # rebuild the committed binary
    python -m edges.core.build --check    # exit 1 when the committed binary is not this source's

The binary is committed so that running Sequence needs no C toolchain; zig's builds are
reproducible, and tests/edges/core/test_build.py rebuilds it and compares the bytes.
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


def build(out: Path) -> None:
    cmd = [sys.executable, "-m", "ziglang", "cc", *FLAGS, "-o", str(out), str(SOURCE)]
    subprocess.run(cmd, check=True, cwd=HERE)


def main(argv: list[str]) -> int:
    if "--check" in argv:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / "seqcore.wasm"
            build(fresh)
            if not BINARY.exists() or fresh.read_bytes() != BINARY.read_bytes():
                print(f"{BINARY} is stale: run python -m edges.core.build", file=sys.stderr)
                return 1
        return 0
    build(BINARY)
    print(f"wrote {BINARY} ({BINARY.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

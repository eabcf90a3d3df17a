"""What validation learns about a module, and the compiled module that goes with it."""

from __future__ import annotations

from dataclasses import dataclass

import wasmtime


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    """A validated algo module.

    imports: the `seq` functions it imports (a subset of the ABI's).
    callbacks: which of on_init/on_book/on_fill/on_reject/on_timer it exports (on_book always).
    memory_min_bytes / memory_max_bytes: its memory's declared limits (max None = unbounded).
    """

    sha256: str
    size_bytes: int
    abi_version: int
    imports: tuple[str, ...]
    callbacks: frozenset[str]
    memory_min_bytes: int
    memory_max_bytes: int | None
    has_start: bool = False  # a start function (runs during instantiation)

    @property
    def has_on_init(self) -> bool:
        return "on_init" in self.callbacks

    @property
    def has_on_fill(self) -> bool:
        return "on_fill" in self.callbacks

    @property
    def has_on_reject(self) -> bool:
        return "on_reject" in self.callbacks

    @property
    def has_on_timer(self) -> bool:
        return "on_timer" in self.callbacks


def has_start_section(data: bytes) -> bool:
    """Whether a (well-formed) module has a start section (id 8): a walk over the section headers."""
    i, n = 8, len(data)
    while i < n:
        section = data[i]
        i += 1
        size = shift = 0
        while i < n:
            byte = data[i]
            i += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        if section == 8:
            return True
        i += size
    return False


@dataclass(frozen=True, slots=True)
class CompiledAlgo:
    """A validated module compiled by the process Engine; shared by every instance of the artifact."""

    module: wasmtime.Module
    info: ModuleInfo

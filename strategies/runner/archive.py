"""Strategy artifacts (tar.gz) checked without trusting them, and extracted under the same rules.

The API checks an upload with ``inspect_archive`` (a refusal there is a 400 and nothing is stored);
the supervisor checks it again with ``extract_archive`` before anything touches the disk, because
limits may have changed since the upload and the bytes came back from a database.

Refused: absolute paths, ``..`` components, paths that pass through a symlink, symlinks or hard
links that lead outside the folder, device files, FIFOs and other special files, duplicate names,
more than ``max_files`` entries, more than ``max_unpacked_bytes`` of file content, and uploads over
``max_upload_bytes``. Decompression itself is capped, so a gzip bomb costs at most the cap.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024
SDK_MARKER = "sequence_markets/__init__.py"


class ArchiveError(ValueError):
    """The artifact is unsafe or unusable; the message says which entry and why."""


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    max_upload_bytes: int = 20 * MiB
    max_unpacked_bytes: int = 50 * MiB
    max_files: int = 5000


@dataclass(frozen=True, slots=True)
class ArchiveInfo:
    sha256: str
    size_bytes: int
    unpacked_bytes: int
    file_count: int
    has_sdk: bool


def clean_entrypoint(entrypoint: str) -> str:
    """The entrypoint as a normalized relative path, or ``ArchiveError`` saying what is wrong."""
    if not isinstance(entrypoint, str) or not entrypoint.strip():
        raise ArchiveError("entrypoint is empty: name the Python file to run, e.g. main.py.")
    return _clean_name(entrypoint.strip(), what="entrypoint")


def _clean_name(name: str, *, what: str = "archive entry") -> str:
    if "\x00" in name or "\\" in name:
        raise ArchiveError(f"{what} {name!r} contains a NUL or backslash.")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"{what} {name!r} is an absolute path.")
    if ".." in name.split("/"):
        raise ArchiveError(f"{what} {name!r} contains '..'.")
    cleaned = posixpath.normpath(name)
    if len(cleaned) > 1024:
        raise ArchiveError(f"{what} {name[:60]!r}... is longer than 1024 characters.")
    return "" if cleaned == "." else cleaned


def _gunzip_capped(data: bytes, cap: int) -> bytes:
    """Decompress a (possibly multi-member) gzip stream, refusing to produce more than ``cap`` bytes."""
    out = bytearray()
    stream = data
    while True:
        inflater = zlib.decompressobj(wbits=31)
        try:
            while True:
                # ``room`` is at least 1 here (we raise as soon as ``out`` passes the cap), and a
                # max_length of 0 would mean "unlimited", which is exactly what we must never ask.
                room = cap + 1 - len(out)
                out += inflater.decompress(stream, room)
                if len(out) > cap:
                    raise ArchiveError(f"The artifact unpacks to more than {cap // MiB} MiB.")
                stream = inflater.unconsumed_tail
                if not stream or inflater.eof:
                    break
        except zlib.error as exc:
            raise ArchiveError(f"The artifact is not a valid gzip file ({exc}).") from None
        if not inflater.eof:
            raise ArchiveError("The artifact's gzip stream is truncated.")
        stream = inflater.unused_data
        if not stream.strip(b"\x00"):
            return bytes(out)
        if stream[:2] != b"\x1f\x8b":
            raise ArchiveError("The artifact has trailing bytes after its gzip stream.")


def _raw_tar(data: bytes, limits: ArchiveLimits) -> bytes:
    if not data:
        raise ArchiveError("The artifact is empty.")
    if len(data) > limits.max_upload_bytes:
        raise ArchiveError(
            f"The artifact is {len(data)} bytes, over the {limits.max_upload_bytes // MiB} MiB upload limit."
        )
    # Tar headers and padding cost at most a few blocks per entry on top of the content.
    cap = limits.max_unpacked_bytes + (limits.max_files + 1) * 3 * 512 + 10 * 1024
    if data[:2] == b"\x1f\x8b":
        return _gunzip_capped(data, cap)
    if len(data) > cap:
        raise ArchiveError(f"The artifact is over the {limits.max_unpacked_bytes // MiB} MiB unpacked limit.")
    return data


@dataclass
class _Scan:
    kinds: dict[str, str]  # cleaned name -> "file" | "dir" | "symlink"
    unpacked_bytes: int = 0


def _scan(raw: bytes, limits: ArchiveLimits) -> _Scan:
    scan = _Scan(kinds={})
    count = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for member in tar:
                count += 1
                if count > limits.max_files:
                    raise ArchiveError(f"The artifact has more than {limits.max_files} entries.")
                _check_member(member, scan)
                if scan.unpacked_bytes > limits.max_unpacked_bytes:
                    raise ArchiveError(
                        f"The artifact unpacks to more than {limits.max_unpacked_bytes // MiB} MiB."
                    )
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveError(f"The artifact is not a valid tar.gz file ({exc}).") from None
    if count == 0:
        raise ArchiveError("The artifact is not a valid tar.gz file (no entries).")
    return scan


def _check_member(member: tarfile.TarInfo, scan: _Scan) -> None:
    name = _clean_name(member.name)
    if name == "":
        if member.isdir():
            return  # the "./" entry tar writes for the folder itself
        raise ArchiveError(f"Archive entry {member.name!r} has no name.")
    # Checking names as text is only sound if no path goes through a link we let in.
    parts = name.split("/")
    for depth in range(1, len(parts)):
        parent = "/".join(parts[:depth])
        if scan.kinds.get(parent) == "symlink":
            raise ArchiveError(f"Archive entry {name!r} goes through the symlink {parent!r}.")
        if scan.kinds.get(parent) == "file":
            raise ArchiveError(f"Archive entry {name!r} is inside the file {parent!r}.")
    if name in scan.kinds:
        raise ArchiveError(f"Archive entry {name!r} appears twice.")
    if member.isreg():
        scan.kinds[name] = "file"
        scan.unpacked_bytes += max(member.size, 0)
    elif member.isdir():
        scan.kinds[name] = "dir"
    elif member.issym():
        target = member.linkname
        if not target or target.startswith("/"):
            raise ArchiveError(f"Symlink {name!r} points to an absolute path ({target!r}).")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        if resolved == ".." or resolved.startswith("../"):
            raise ArchiveError(f"Symlink {name!r} points outside the folder ({target!r}).")
        scan.kinds[name] = "symlink"
    elif member.islnk():
        target = _clean_name(member.linkname, what=f"hard link {name!r} target")
        if scan.kinds.get(target) != "file":
            raise ArchiveError(
                f"Hard link {name!r} must point to a file earlier in the archive ({target!r})."
            )
        scan.kinds[name] = "file"
    else:
        kind = (
            "device file"
            if (member.ischr() or member.isblk())
            else "FIFO"
            if member.isfifo()
            else "special file"
        )
        raise ArchiveError(f"Archive entry {name!r} is a {kind}; only files, folders and links are allowed.")


def _check_entrypoint(scan: _Scan, entrypoint: str | None) -> None:
    if entrypoint is None:
        return
    cleaned = clean_entrypoint(entrypoint)
    if scan.kinds.get(cleaned) != "file":
        raise ArchiveError(f"The entrypoint {cleaned!r} is not a file in the artifact.")


def inspect_archive(data: bytes, *, limits: ArchiveLimits, entrypoint: str | None = None) -> ArchiveInfo:
    """Check an artifact without extracting anything; ``ArchiveError`` when it is refused."""
    scan = _scan(_raw_tar(data, limits), limits)
    _check_entrypoint(scan, entrypoint)
    return ArchiveInfo(
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        unpacked_bytes=scan.unpacked_bytes,
        file_count=sum(1 for kind in scan.kinds.values() if kind == "file"),
        has_sdk=scan.kinds.get(SDK_MARKER) == "file",
    )


def _extract_filter(member: tarfile.TarInfo, dest_path: str) -> tarfile.TarInfo | None:
    # Our own scan already refused everything unsafe; the standard 'data' filter is a second,
    # independent opinion that also looks at the real disk (realpath) and drops setuid bits.
    member = member.replace(name=_clean_name(member.name) or ".", deep=False)
    return tarfile.data_filter(member, dest_path)


def extract_archive(
    data: bytes, dest: Path, *, limits: ArchiveLimits, entrypoint: str, expected_sha256: str | None = None
) -> ArchiveInfo:
    """Verify (sha256, then every rule above) and extract into ``dest``, which must not exist yet."""
    if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise ArchiveError("The artifact's sha256 does not match the one recorded at upload.")
    raw = _raw_tar(data, limits)
    scan = _scan(raw, limits)
    _check_entrypoint(scan, entrypoint)
    dest.mkdir(parents=True, exist_ok=False)
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            tar.extractall(dest, filter=_extract_filter)  # noqa: S202 - every member was checked above
    except (tarfile.TarError, OSError) as exc:
        raise ArchiveError(f"The artifact could not be extracted safely ({exc}).") from None
    return ArchiveInfo(
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        unpacked_bytes=scan.unpacked_bytes,
        file_count=sum(1 for kind in scan.kinds.values() if kind == "file"),
        has_sdk=scan.kinds.get(SDK_MARKER) == "file",
    )

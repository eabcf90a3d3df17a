"""strategies.runner.archive: what is refused, and that a refusal writes nothing."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from strategy_testing import make_tar

from strategies.runner.archive import (
    ArchiveError,
    ArchiveLimits,
    clean_entrypoint,
    extract_archive,
    inspect_archive,
)

LIMITS = ArchiveLimits()


def tar_of(*members: tuple[str, bytes, str], gz: bool = True) -> bytes:
    """members: (name, data, kind) with kind in file|dir|symlink:<target>|hardlink:<target>|chr|fifo."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            if kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind.startswith("symlink:"):
                info.type, info.linkname = tarfile.SYMTYPE, kind.split(":", 1)[1]
            elif kind.startswith("hardlink:"):
                info.type, info.linkname = tarfile.LNKTYPE, kind.split(":", 1)[1]
            elif kind == "chr":
                info.type = tarfile.CHRTYPE
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info)
    return buffer.getvalue()


MAIN = ("main.py", b"print(1)", "file")


def test_a_normal_artifact_is_described():
    data = make_tar({"main.py": "print(1)", "pkg/mod.py": "X = 1"}, sdk=True)
    info = inspect_archive(data, limits=LIMITS, entrypoint="main.py")
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.file_count == 4 and info.has_sdk is True and info.size_bytes == len(data)


def test_plain_tar_and_dot_slash_names_are_fine():
    data = tar_of((".", b"", "dir"), ("./main.py", b"print(1)", "file"), ("./lib", b"", "dir"), gz=False)
    assert inspect_archive(data, limits=LIMITS, entrypoint="main.py").file_count == 1


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([MAIN, ("../x.py", b"x", "file")], "contains '..'"),
        ([MAIN, ("a/../../x.py", b"x", "file")], "contains '..'"),
        ([MAIN, ("/etc/cron.d/x", b"x", "file")], "absolute path"),
        ([MAIN, ("link", b"", "symlink:/etc/passwd")], "absolute path"),
        ([MAIN, ("link", b"", "symlink:../outside")], "points outside"),
        ([MAIN, ("deep/link", b"", "symlink:../../outside")], "points outside"),
        ([MAIN, ("hard", b"", "hardlink:/etc/passwd")], "absolute path"),
        ([MAIN, ("hard", b"", "hardlink:missing.py")], "must point to a file earlier"),
        ([MAIN, ("dev", b"", "chr")], "device file"),
        ([MAIN, ("fifo", b"", "fifo")], "FIFO"),
        ([MAIN, ("dup.py", b"1", "file"), ("dup.py", b"2", "file")], "appears twice"),
        # A link inside the folder is fine, but nothing may be written *through* it: with "s" -> "."
        # the name "s/l" -> ".." looks harmless as text and lands outside on disk.
        ([MAIN, ("s", b"", "symlink:."), ("s/l", b"", "symlink:..")], "goes through the symlink"),
        ([MAIN, ("d", b"", "symlink:sub"), ("d/evil.py", b"x", "file")], "goes through the symlink"),
        ([("main.py", b"x", "dir")], "'main.py' is not a file"),
    ],
)
def test_unsafe_members_are_refused(members, message, tmp_path):
    data = tar_of(*members)
    with pytest.raises(ArchiveError, match=message.replace("(", r"\(")):
        inspect_archive(data, limits=LIMITS, entrypoint="main.py")
    dest = tmp_path / "run"
    with pytest.raises(ArchiveError):
        extract_archive(data, dest, limits=LIMITS, entrypoint="main.py")
    assert not dest.exists()  # refused before anything touched the disk
    assert list(tmp_path.iterdir()) == []


def test_links_that_stay_inside_are_extracted(tmp_path):
    data = tar_of(
        MAIN,
        ("lib", b"", "dir"),
        ("lib/a.py", b"A = 1", "file"),
        ("alias.py", b"", "symlink:lib/a.py"),
        ("copy.py", b"", "hardlink:lib/a.py"),
    )
    info = extract_archive(data, tmp_path / "run", limits=LIMITS, entrypoint="main.py")
    assert info.file_count == 3
    assert (tmp_path / "run" / "alias.py").read_text() == "A = 1"
    assert (tmp_path / "run" / "alias.py").is_symlink()
    assert (tmp_path / "run" / "copy.py").read_text() == "A = 1"


def test_limits_on_count_unpacked_size_and_upload():
    many = tar_of(MAIN, *[(f"f{i}", b"x", "file") for i in range(10)])
    with pytest.raises(ArchiveError, match="more than 5 entries"):
        inspect_archive(many, limits=ArchiveLimits(max_files=5), entrypoint="main.py")
    big = tar_of(MAIN, ("big", b"\0" * (2 * 1024 * 1024), "file"))
    with pytest.raises(ArchiveError, match="more than 1 MiB"):
        inspect_archive(big, limits=ArchiveLimits(max_unpacked_bytes=1024 * 1024), entrypoint="main.py")
    with pytest.raises(ArchiveError, match="upload limit"):
        inspect_archive(big, limits=ArchiveLimits(max_upload_bytes=100), entrypoint="main.py")


def test_a_gzip_bomb_stops_at_the_cap():
    # 200 MiB of zeros in one member compresses to ~200 KiB; decompression must stop near the cap.
    bomb = io.BytesIO()
    with gzip.GzipFile(fileobj=bomb, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        info = tarfile.TarInfo("zeros")
        info.size = 200 * 1024 * 1024

        class Zeros(io.RawIOBase):
            left = info.size

            def readinto(self, buffer):  # type: ignore[override]
                n = min(len(buffer), self.left)
                buffer[:n] = b"\0" * n
                self.left -= n
                return n

        tar.addfile(info, Zeros())
    with pytest.raises(ArchiveError, match="unpacks to more than"):
        inspect_archive(
            bomb.getvalue(), limits=ArchiveLimits(max_unpacked_bytes=5 * 1024 * 1024), entrypoint="main.py"
        )


@pytest.mark.parametrize("data", [b"", b"\x1f\x8bnot really gzip", b"plain text, not a tar at all" * 30])
def test_garbage_is_refused(data):
    with pytest.raises(ArchiveError):
        inspect_archive(data, limits=LIMITS, entrypoint="main.py")


def test_truncated_gzip_is_refused():
    data = make_tar({"main.py": "print(1)"})
    with pytest.raises(ArchiveError):
        inspect_archive(data[: len(data) // 2], limits=LIMITS, entrypoint="main.py")


def test_extraction_verifies_the_sha256_and_refuses_an_existing_folder(tmp_path):
    data = make_tar({"main.py": "print(1)"})
    with pytest.raises(ArchiveError, match="sha256"):
        extract_archive(data, tmp_path / "a", limits=LIMITS, entrypoint="main.py", expected_sha256="0" * 64)
    assert not (tmp_path / "a").exists()
    (tmp_path / "b").mkdir()
    with pytest.raises(FileExistsError):
        extract_archive(data, tmp_path / "b", limits=LIMITS, entrypoint="main.py")
    extract_archive(
        data,
        tmp_path / "c",
        limits=LIMITS,
        entrypoint="main.py",
        expected_sha256=hashlib.sha256(data).hexdigest(),
    )
    assert (tmp_path / "c" / "main.py").read_text() == "print(1)"


def test_setuid_bits_are_dropped(tmp_path: Path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("main.py")
        info.size, info.mode = 8, 0o4755
        tar.addfile(info, io.BytesIO(b"print(1)"))
    extract_archive(buffer.getvalue(), tmp_path / "run", limits=LIMITS, entrypoint="main.py")
    assert (tmp_path / "run" / "main.py").stat().st_mode & 0o4000 == 0


@pytest.mark.parametrize(
    ("entrypoint", "expected"),
    [("main.py", "main.py"), ("./src/run.py", "src/run.py"), (" app.py ", "app.py")],
)
def test_entrypoint_is_normalized(entrypoint, expected):
    assert clean_entrypoint(entrypoint) == expected


@pytest.mark.parametrize("entrypoint", ["", "/abs.py", "../up.py", "a\\b.py"])
def test_bad_entrypoints(entrypoint):
    with pytest.raises(ArchiveError):
        clean_entrypoint(entrypoint)

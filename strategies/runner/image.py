"""The read-only root a sandboxed strategy sees: a Python 3.12 "image" built once from a host CPython.

``python:3.12-slim`` is what the product document promises; we have no container registry here, so
the image is made from the CPython 3.12 the machine carries (pyenv's, or any ``python3.12``): the
interpreter at ``/usr/local/bin/python3.12``, its standard library at ``/usr/local/lib/python3.12``
(no ``site-packages`` content, no test suite, no tkinter/idle/ensurepip), the shared libraries the
interpreter and its extension modules link (found with ``ldd``) under ``/lib/x86_64-linux-gnu`` and
the dynamic loader where the binary expects it, a minimal ``/etc`` (passwd, group, hosts, resolv.conf,
nsswitch.conf, CA certificates). Nothing else of the host: no shell, no ``/usr/bin``.

The image lives in ``<dest>/rootfs`` and is owned by root, world-readable, never writable by a
strategy (it is bound read-only). A ``.stamp`` file names the source interpreter and the builder
version; ``ensure_image`` rebuilds when either changes. No Django imports: ``make`` calls
``python -m strategies.runner.image`` before the platform is set up.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BUILDER_VERSION = 3
SANDBOX_UID = 1000  # the strategy's uid and gid *inside* the sandbox
SANDBOX_USER = "strategy"
# Standard-library parts a headless strategy never needs and python:3.12-slim partly lacks too.
_SKIP_TOP = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "config-3.12-x86_64-linux-gnu"}
_SKIP_DYNLOAD = re.compile(r"^(_tkinter|_test|_xxtest|xx|_ctypes_test)")
# Mount points bwrap binds over; a read-only root can't grow them at run time.
_MOUNT_POINTS = ("workspace", "tmp", "proc", "dev", "run/sequence")


class ImageError(RuntimeError):
    pass


def find_python312(extra: list[str] | None = None) -> Path | None:
    """A CPython 3.12 on this machine: an explicit path first, then PATH, then pyenv's versions."""
    candidates = list(extra or [])
    on_path = shutil.which("python3.12")
    if on_path and "/shims/" not in on_path:  # a pyenv shim is a shell script, not the interpreter
        candidates.append(on_path)
    for root in (os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv"), "/root/.pyenv", "/opt/pyenv"):
        if root:
            candidates += sorted(glob.glob(f"{root}/versions/3.12.*/bin/python3.12"), reverse=True)
    candidates += ["/usr/local/bin/python3.12", "/usr/bin/python3.12"]
    for candidate in candidates:
        path = Path(candidate)
        if path.is_file() and os.access(path, os.X_OK):
            return path.resolve()
    return None


def _python_facts(python: Path) -> dict[str, str]:
    code = (
        "import json, sys, sysconfig;"
        "print(json.dumps({'version': '%d.%d.%d' % sys.version_info[:3],"
        " 'stdlib': sysconfig.get_paths()['stdlib'], 'platstdlib': sysconfig.get_paths()['platstdlib'],"
        " 'implementation': sys.implementation.name}))"
    )
    out = subprocess.run([str(python), "-E", "-s", "-S", "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _ldd(paths: list[Path]) -> set[str]:
    """Absolute paths of every shared library (and the loader) the given ELF files need."""
    libs: set[str] = set()
    for chunk in range(0, len(paths), 40):
        out = subprocess.run(
            ["ldd", *map(str, paths[chunk : chunk + 40])], capture_output=True, text=True, check=False
        ).stdout
        for line in out.splitlines():
            line = line.strip()
            if "=>" in line:
                target = line.split("=>", 1)[1].strip().split(" (", 1)[0]
                if target.startswith("/"):
                    libs.add(target)
            elif line.startswith("/") and not line.endswith(":"):  # not ldd's "file:" headers
                libs.add(line.split(" (", 1)[0])
    return libs


def _copy_tree(src: Path, dst: Path) -> None:
    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set()
        here = Path(folder)
        for name in names:
            if here == src and name in _SKIP_TOP:
                skipped.add(name)
            elif here.name == "lib-dynload" and _SKIP_DYNLOAD.match(name):
                skipped.add(name)
        return skipped

    shutil.copytree(src, dst, symlinks=True, ignore=ignore)


def image_stamp(python: Path) -> str:
    return json.dumps({"python": str(python), "mtime": python.stat().st_mtime, "builder": BUILDER_VERSION})


def build_image(python: Path, dest: Path) -> Path:
    """Build ``dest/rootfs`` from ``python`` (atomically: built beside, then renamed). Returns the rootfs."""
    facts = _python_facts(python)
    if not facts["version"].startswith("3.12."):
        raise ImageError(f"{python} is Python {facts['version']}, not 3.12")
    stdlib = Path(facts["stdlib"])
    dest.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=dest))
    root = work / "rootfs"
    try:
        (root / "usr/local/bin").mkdir(parents=True)
        (root / "usr/local/lib").mkdir(parents=True)
        shutil.copy2(python, root / "usr/local/bin/python3.12")
        for alias in ("python3", "python"):
            (root / "usr/local/bin" / alias).symlink_to("python3.12")
        _copy_tree(stdlib, root / "usr/local/lib/python3.12")
        (root / "usr/local/lib/python3.12/site-packages").mkdir()
        elf = [python, *sorted((root / "usr/local/lib/python3.12/lib-dynload").glob("*.so"))]
        libdir = root / "lib/x86_64-linux-gnu"
        libdir.mkdir(parents=True)
        for lib in sorted(_ldd(elf)):
            source = Path(lib)
            if source.name.startswith("ld-linux") or source.parent.name == "lib64":
                target = root / source.relative_to("/")  # the loader must sit where PT_INTERP says
            else:
                target = libdir / source.name  # a default search folder of the loader
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source.resolve(), target)
        etc = root / "etc"
        etc.mkdir()
        (etc / "passwd").write_text(
            f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
            f"{SANDBOX_USER}:x:{SANDBOX_UID}:{SANDBOX_UID}:strategy:/workspace:/usr/sbin/nologin\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        )
        (etc / "group").write_text(f"root:x:0:\n{SANDBOX_USER}:x:{SANDBOX_UID}:\nnogroup:x:65534:\n")
        (etc / "hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost\n")
        (etc / "resolv.conf").write_text("# no DNS inside the sandbox: the Sequence API is the only way out\n")
        (etc / "nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files\n")
        certs = Path("/etc/ssl/certs/ca-certificates.crt")
        if certs.is_file():
            (etc / "ssl/certs").mkdir(parents=True)
            shutil.copy2(certs, etc / "ssl/certs/ca-certificates.crt")
            (root / "usr/lib/ssl").mkdir(parents=True)
            (root / "usr/lib/ssl/cert.pem").symlink_to("/etc/ssl/certs/ca-certificates.crt")
        for point in _MOUNT_POINTS:
            (root / point).mkdir(parents=True, exist_ok=True)
        # Precompile so a strategy's start doesn't pay for it (and couldn't: the root is read-only).
        subprocess.run(
            [str(python), "-E", "-s", "-S", "-m", "compileall", "-q", "-j", "0", str(root / "usr/local/lib/python3.12")],
            check=False,
            capture_output=True,
        )
        for path in [root, *root.rglob("*")]:
            if path.is_symlink():
                continue
            if os.geteuid() == 0:
                os.chown(path, 0, 0)
            executable = path.is_dir() or path.stat().st_mode & 0o100
            path.chmod(0o755 if executable else 0o644)  # readable by every sandbox uid, writable by none
        (work / ".stamp").write_text(image_stamp(python))
        final = dest / "rootfs"
        old = dest / ".old-rootfs"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        root.rename(final)
        (work / ".stamp").replace(dest / ".stamp")
        shutil.rmtree(old, ignore_errors=True)
        for parent in [dest, *dest.parents]:  # the sandbox uids must reach the image
            if parent == Path("/"):
                break
            if os.geteuid() == 0 and not parent.stat().st_mode & 0o001:
                raise ImageError(f"{parent} is not traversable by other users (mode {oct(parent.stat().st_mode & 0o777)})")
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ensure_image(dest: Path, python: Path | None = None) -> Path:
    """The rootfs under ``dest``, built first when missing or stale."""
    python = python or find_python312()
    if python is None:
        raise ImageError("no Python 3.12 found (set STRATEGY_SANDBOX_PYTHON or install python3.12)")
    stamp = dest / ".stamp"
    rootfs = dest / "rootfs"
    if rootfs.is_dir() and stamp.is_file() and stamp.read_text() == image_stamp(python):
        return rootfs
    return build_image(python, dest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Python 3.12 image of the strategy sandbox.")
    parser.add_argument("dest", type=Path, help="image folder (the rootfs goes in DEST/rootfs)")
    parser.add_argument("--python", type=Path, default=None, help="a CPython 3.12 (default: found)")
    args = parser.parse_args(argv)
    try:
        python = args.python or find_python312()
        rootfs = ensure_image(args.dest, python)
    except (ImageError, subprocess.CalledProcessError, OSError) as exc:
        print(f"sandbox image: {exc}", file=sys.stderr)
        return 1
    print(f"sandbox image: {rootfs} (from {python})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The systemd units in deploy/systemd are valid units whose commands exist: `systemd-analyze verify`
on a copy pointed at this checkout (its .venv for /opt/sequence, a scratch environment file)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = sorted((REPO / "deploy" / "systemd").glob("*.service"))


def _exec_start(unit: Path) -> list[str]:
    lines = [line for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]
    assert len(lines) == 1, f"{unit.name}: one ExecStart expected"
    return shlex.split(lines[0].removeprefix("ExecStart="))


def test_every_process_of_the_procfile_has_a_unit() -> None:
    from sequence_site.procsup import read_procfile

    programs = {
        _exec_start(unit)[0].rsplit("/", 1)[1] + " " + " ".join(_exec_start(unit)[1:3]) for unit in UNITS
    }
    assert len(UNITS) == len(read_procfile(REPO / "Procfile")) == 5, programs


def test_units_verify_against_this_checkout(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    env_file = tmp_path / "sequence.env"
    env_file.write_text("SECRET_KEY=x\n")
    for unit in UNITS:
        text = unit.read_text().replace("/opt/sequence", str(REPO))
        text = text.replace("/etc/sequence/sequence.env", str(env_file))
        name = unit.name.replace("@.service", "@kraken.service")
        (tmp_path / name).write_text(text)
    copies = sorted(str(p) for p in tmp_path.glob("*.service"))
    result = subprocess.run(
        [analyze, "verify", "--man=no", "--generators=no", *copies],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "sequence" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_each_command_line_is_one_this_checkout_accepts(unit: Path) -> None:
    """The unit's own arguments parse: the same command with --help appended exits 0."""
    argv = _exec_start(unit)
    program = argv[0].replace("/opt/sequence/.venv/bin/", str(Path(sys.executable).parent) + "/")
    args = [a.replace("%i", "kraken") for a in argv[1:]]
    if args[:1] == ["manage.py"]:
        args[0] = str(REPO / "manage.py")
    result = subprocess.run([program, *args, "--help"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

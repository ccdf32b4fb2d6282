"""`hitl serve` as a subprocess: start it, wait until healthy, watch its memory, stop it, or
kill -9 it and start it again on the same files (the bench and the crash drills use this).

The child runs in its own working directory (so a `.env` where the bench was started does not
leak in) with an environment built from scratch for the `HITL_*`, `OPENAI_*` and `SLACK_*`
variables.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[1]  # bench/ sits at the project's top level
_OWN_PREFIXES = ("OPENAI_", "SLACK_", "HITL_")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(values: dict[str, str | None]) -> dict[str, str]:
    """The parent's environment without any HITL_/OPENAI_/SLACK_ variable, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    env.update({k: v for k, v in values.items() if v is not None})
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + existing if existing else "")
    env.setdefault("PYTHONUNBUFFERED", "1")

    return env


@dataclass
class ServerProcess:
    """One `hitl serve --host 127.0.0.1 --port P` child."""

    env: dict[str, str]
    workdir: Path
    port: int = 0
    name: str = "server"
    token: str | None = None
    process: subprocess.Popen[bytes] | None = None
    _rss_peak: int = 0
    _sampler: threading.Thread | None = None
    _stop_sampling: threading.Event = field(default_factory=threading.Event)
    starts: int = 0

    def __post_init__(self) -> None:
        if not self.port:
            self.port = free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.token = self.token or self.env.get("HITL_API_TOKEN")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, *, wait: float = 90.0) -> ServerProcess:
        """Start the child and block until `/healthz` answers (or raise with its log tail)."""
        self.starts += 1
        log = self.log_path.open("ab")
        args = [sys.executable, "-m", "hitl.cli", "serve", "--host", "127.0.0.1", "--port",
                str(self.port)]
        if not self.token:
            args.append("--dev")
        self.process = subprocess.Popen(args, cwd=self.workdir, env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self._start_sampler()
        if wait:
            self.wait_healthy(wait)
        return self

    def wait_healthy(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not healthy after {timeout}s:\n{self.log_tail()}")

    def client(self, **kwargs: Any) -> httpx.Client:
        """An HTTP client for this server with the bearer token."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        return httpx.Client(base_url=self.url, headers=headers, timeout=kwargs.pop("timeout", 60),
                            limits=limits, **kwargs)

    # -- memory ------------------------------------------------------------------------------

    def _start_sampler(self) -> None:
        self._stop_sampling.clear()

        def sample() -> None:
            while not self._stop_sampling.wait(0.2):
                self._rss_peak = max(self._rss_peak, self.rss_bytes())

        self._sampler = threading.Thread(target=sample, name=f"{self.name}-rss", daemon=True)
        self._sampler.start()

    def rss_bytes(self) -> int:
        """Current resident memory of the server and any children it started."""
        if self.process is None or self.process.poll() is not None:
            return 0
        try:
            import psutil

            proc = psutil.Process(self.process.pid)
            total = proc.memory_info().rss
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            return int(total)
        except Exception:
            return 0

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server and its children (the worker) have used."""
        if self.process is None or self.process.poll() is not None:
            return 0.0
        try:
            import psutil

            proc = psutil.Process(self.process.pid)
            total = 0.0
            for one in (proc, *proc.children(recursive=True)):
                with contextlib.suppress(psutil.Error):
                    times = one.cpu_times()
                    total += times.user + times.system
            return total
        except Exception:
            return 0.0

    def peak_rss_mb_by_process(self) -> dict[str, float]:
        """Each live process's own high-water mark (VmHWM), by command: where the memory is."""
        out: dict[str, float] = {}
        if self.process is None or self.process.poll() is not None:
            return out
        with contextlib.suppress(Exception):
            import psutil

            proc = psutil.Process(self.process.pid)
            for one in (proc, *proc.children(recursive=True)):
                with contextlib.suppress(psutil.Error, OSError, ValueError):
                    name = f"{' '.join(one.cmdline()[2:4])} ({one.pid})"
                    for line in Path(f"/proc/{one.pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            out[name] = round(int(line.split()[1]) * 1024 / 1e6, 1)
        return out

    def peak_rss_mb(self) -> float:
        """Peak resident memory in MB: the kernel's high-water mark (VmHWM) where it is
        available, else the highest 200 ms sample."""
        peak = self._rss_peak
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        return peak / 1e6

    # -- stopping ----------------------------------------------------------------------------

    def kill9(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self._stop_sampling.set()

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (uvicorn's graceful shutdown), SIGKILL if it does not exit in time."""
        self._stop_sampling.set()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def prepare_store(workdir: Path) -> dict[str, str]:
    """A migrated SQLite store and the shipped content library indexed in `workdir` (a server of
    a phase's own); returns the server's variables for them."""
    from config.settings import DEFAULTS_DIR, load_settings
    from store.db import Database
    from tools.content_library import ContentLibrary, open_chroma
    from tools.embeddings import build_embedding_function

    workdir.mkdir(parents=True, exist_ok=True)
    values = {"HITL_DATABASE_URL": f"sqlite:///{workdir / 'hitl.db'}",
              "HITL_CHROMA_PATH": str(workdir / "chroma"), "HITL_EMBEDDINGS": "local"}
    settings = load_settings(
        database_url=values["HITL_DATABASE_URL"], chroma_path=workdir / "chroma",
        chroma_url=None, openai_base_url=None, openai_api_key=None, embeddings="local",
        slack_bot_token=None, slack_signing_secret=None, slack_app_token=None, api_token=None,
        smtp_url=None)
    library = ContentLibrary(open_chroma(settings), build_embedding_function(settings))
    library.index_folder(DEFAULTS_DIR / "content")
    database = Database(settings.database_url)
    database.upgrade()
    database.dispose()
    return values

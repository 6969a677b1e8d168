"""Running manage.py and the web server as separate processes, the way a user or CI does."""

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from conftest import PROJECT_ROOT, free_port, wait_for_port

# Variables that would change which settings a child process gets: cleared so each test
# states its whole configuration.
SETTINGS_VARIABLES = (
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DJANGO_CSRF_TRUSTED_ORIGINS",
    "DJANGO_BEHIND_TLS_PROXY",
    "DJANGO_SECURE_SSL_REDIRECT",
    "DATABASE_URL",
    "MONGODB_URI",
    "MONGODB_NAME",
    "REDIS_URL",
    "DJANGO_MEDIA_ROOT",
    "DJANGO_STATIC_ROOT",
    "PAYMENTS_BACKEND",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "ICE_SERVERS",
    "API_THROTTLE_ANON",
    "API_THROTTLE_USER",
    "API_THROTTLE_WRITE",
    "API_THROTTLE_AUTH",
    "API_TRUSTED_PROXIES",
    "CORS_ALLOWED_ORIGINS",
)


def child_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env["DJANGO_SETTINGS_MODULE"] = "liveshop.settings"
    env.update(overrides)
    return env


def manage(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=dict(env) if env is not None else child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def python(
    code: str, *, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_script(path: str, *, env: Mapping[str, str], timeout: float = 60):
    return subprocess.run(
        [sys.executable, path],
        cwd=PROJECT_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class WebServer:
    """The production web server (`python -m liveshop.serve`: uvicorn) on a fixed loopback
    port that can be restarted (to cut every socket and peer connection at once, as a deploy
    or a crash does). Its output (tracebacks) is appended to `log` when one is given.

    The benchmarks' servers (bench/common.py) are this class with another `command`."""

    def __init__(self, env: dict[str, str], *, log: Path | None = None):
        self.env = env
        self.log = log
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        host, port = ["--host", "127.0.0.1"], ["--port", str(self.port)]
        return [sys.executable, "-m", "liveshop.serve", *host, *port]

    def start(self) -> None:
        self.spawn()
        wait_for_port(self.port, timeout=30)

    def spawn(self) -> None:
        """Start the process, not waiting for it to listen."""
        output = open(self.log, "ab") if self.log else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                self.command(), cwd=PROJECT_ROOT, env=self.env, stdout=output, stderr=output
            )
        finally:
            if self.log:
                output.close()  # the child has its own copy

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None

    def crash_and_restart(self) -> None:
        """Kill the server outright (no goodbyes to anyone), then start a new one."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None
        self.start()


@contextlib.contextmanager
def web_server(env: Mapping[str, str]) -> Iterator[str]:
    """A real server process (liveshop/serve.py) on a free loopback port; yields its base URL."""
    server = WebServer(dict(env))
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()


def site_env(folder: Path, **overrides: str) -> dict[str, str]:
    """The embedded default, but with its database and uploads in `folder`."""
    return child_env(
        DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}",
        DJANGO_MEDIA_ROOT=str(folder / "media"),
        **overrides,
    )

"""Running manage.py and daphne as separate processes, the way a user or CI does."""

import os
import subprocess
import sys
from collections.abc import Mapping

from conftest import PROJECT_ROOT

# Variables that would change which settings a child process gets: cleared so each test
# states its whole configuration.
SETTINGS_VARIABLES = (
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DJANGO_CSRF_TRUSTED_ORIGINS",
    "DATABASE_URL",
    "MONGODB_URI",
    "MONGODB_NAME",
    "REDIS_URL",
    "DJANGO_MEDIA_ROOT",
    "DJANGO_STATIC_ROOT",
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
